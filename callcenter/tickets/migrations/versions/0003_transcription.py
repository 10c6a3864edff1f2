"""voicemail transcription: durable jobs, and the transcript on the interaction

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcript', sa.JSON(), nullable=False, server_default='{}'))
    op.create_table('transcription_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('interaction_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_try_at', sa.Float(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('transcription_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transcription_jobs_interaction_id'), ['interaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transcription_jobs_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('transcription_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcription_jobs_state'))
        batch_op.drop_index(batch_op.f('ix_transcription_jobs_interaction_id'))
    op.drop_table('transcription_jobs')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_column('transcript')
