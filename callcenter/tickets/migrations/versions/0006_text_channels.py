"""text channels: a provider's message id and delivery status, SMS opt-out per number

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opted_out_at', sa.Float(), nullable=True))
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=32), nullable=False, server_default=''))
        batch_op.create_index('uq_interactions_external', ['channel', 'external_id'], unique=True,
                              sqlite_where=sa.text("external_id != ''"), postgresql_where=sa.text("external_id != ''"))


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('uq_interactions_external', sqlite_where=sa.text("external_id != ''"),
                            postgresql_where=sa.text("external_id != ''"))
        batch_op.drop_column('delivery_status')
        batch_op.drop_column('external_id')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_column('opted_out_at')
