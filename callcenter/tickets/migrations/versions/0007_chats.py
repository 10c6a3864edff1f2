"""web chats: the visitor, the queue or agent, the state, the contact the visitor gave

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chats',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('visitor', sa.String(length=64), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('agent', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('assigned_at', sa.Float(), nullable=True),
        sa.Column('ended_at', sa.Float(), nullable=True),
        sa.Column('ended_by', sa.String(length=64), nullable=False),
        sa.Column('origin', sa.String(length=200), nullable=False),
        sa.Column('contact', sa.JSON(), nullable=False),
        sa.Column('verified', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id']),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_chats_state', 'chats', ['state'], unique=False)
    op.create_index(op.f('ix_chats_visitor'), 'chats', ['visitor'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_chats_visitor'), table_name='chats')
    op.drop_index('ix_chats_state', table_name='chats')
    op.drop_table('chats')
