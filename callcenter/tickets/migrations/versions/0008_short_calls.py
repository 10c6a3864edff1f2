"""short calls: a call that never reached a queue, an agent or a voicemail may sit on a known
customer's file without a ticket (interactions.ticket_id may be NULL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite cannot alter a column: batch mode copies the table (once, at the upgrade).
    with op.batch_alter_table('interactions') as batch:
        batch.alter_column('ticket_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM interactions WHERE ticket_id IS NULL")
    with op.batch_alter_table('interactions') as batch:
        batch.alter_column('ticket_id', existing_type=sa.Integer(), nullable=False)
