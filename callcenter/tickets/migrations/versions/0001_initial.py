"""the store: customers, identities, tickets, changes, interactions, merges

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-30 13:22:53.131901
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('unidentified', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('merged_into', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['merged_into'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('raw', sa.String(length=320), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value', name='uq_identity')
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_customer_id'), ['customer_id'], unique=False)

    op.create_table('merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('moved', sa.JSON(), nullable=False),
    sa.Column('undone_at', sa.Float(), nullable=True),
    sa.Column('undone_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['target_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('assignee', sa.String(length=100), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('callback_requested', sa.Boolean(), nullable=False),
    sa.Column('first_response_due', sa.Float(), nullable=True),
    sa.Column('resolution_due', sa.Float(), nullable=True),
    sa.Column('first_response_at', sa.Float(), nullable=True),
    sa.Column('resolved_at', sa.Float(), nullable=True),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_customer_status', ['customer_id', 'status'], unique=False)

    op.create_table('interactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('ended_at', sa.Float(), nullable=True),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('did', sa.String(length=32), nullable=False),
    sa.Column('flow', sa.String(length=64), nullable=False),
    sa.Column('ivr_path', sa.JSON(), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('hangup_cause', sa.Integer(), nullable=True),
    sa.Column('hangup_cause_text', sa.String(length=100), nullable=False),
    sa.Column('hung_up_by', sa.String(length=16), nullable=False),
    sa.Column('abandoned', sa.Boolean(), nullable=False),
    sa.Column('callback_of', sa.String(length=64), nullable=False),
    sa.Column('callback_request', sa.String(length=64), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('reconciled', sa.Boolean(), nullable=False),
    sa.Column('recording_path', sa.String(length=500), nullable=False),
    sa.Column('recording_seconds', sa.Float(), nullable=True),
    sa.Column('recording_bytes', sa.Integer(), nullable=True),
    sa.Column('recording_sha256', sa.String(length=64), nullable=False),
    sa.Column('recording_problem', sa.String(length=200), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('purged_at', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.create_index('ix_interactions_customer_started', ['customer_id', 'started_at'], unique=False)
        batch_op.create_index('ix_interactions_started', ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_interactions_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index('uq_interactions_call', ['channel', 'call_id'], unique=True,
                              sqlite_where=sa.text("call_id != ''"), postgresql_where=sa.text("call_id != ''"))

    op.create_table('ticket_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old', sa.Text(), nullable=False),
    sa.Column('new', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticket_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_changes_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticket_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_changes_ticket_id'))

    op.drop_table('ticket_changes')
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('uq_interactions_call')
        batch_op.drop_index(batch_op.f('ix_interactions_ticket_id'))
        batch_op.drop_index('ix_interactions_started')
        batch_op.drop_index('ix_interactions_customer_started')

    op.drop_table('interactions')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_customer_status')

    op.drop_table('tickets')
    op.drop_table('merges')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_customer_id'))

    op.drop_table('identities')
    op.drop_table('customers')
