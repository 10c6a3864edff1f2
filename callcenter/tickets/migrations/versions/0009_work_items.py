"""work items: the queue that works a ticket, the channel that opened it (its SLA targets), since
when a customer message waits for an answer, the SLA's pause while the ticket waits on the
customer, and its at-risk / breached state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('queue', sa.String(64), nullable=False, server_default=''))
        batch.add_column(sa.Column('channel', sa.String(16), nullable=False, server_default=''))
        batch.add_column(sa.Column('awaiting_since', sa.Float(), nullable=True))
        batch.add_column(sa.Column('pending_since', sa.Float(), nullable=True))
        batch.add_column(sa.Column('sla_paused_seconds', sa.Float(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('sla_state', sa.String(16), nullable=False, server_default=''))
    op.create_index('ix_tickets_assignee_status', 'tickets', ['assignee', 'status'])
    op.create_index('ix_tickets_queue_status', 'tickets', ['queue', 'status'])
    op.create_index('ix_tickets_status', 'tickets', ['status'])  # the open ones, among years of closed ones
    # The channel of a ticket's first contact, for tickets written before this revision.
    op.execute("UPDATE tickets SET channel = COALESCE((SELECT i.channel FROM interactions i WHERE "
               "i.ticket_id = tickets.id ORDER BY i.started_at, i.id LIMIT 1), '')")
    op.execute("UPDATE tickets SET queue = topic WHERE queue = ''")


def downgrade() -> None:
    op.drop_index('ix_tickets_status', 'tickets')
    op.drop_index('ix_tickets_queue_status', 'tickets')
    op.drop_index('ix_tickets_assignee_status', 'tickets')
    with op.batch_alter_table('tickets') as batch:
        for column in ('sla_state', 'sla_paused_seconds', 'pending_since', 'awaiting_since', 'channel', 'queue'):
            batch.drop_column(column)
