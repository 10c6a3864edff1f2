"""search: the terms of every interaction's subject and body (tickets/terms.py), indexed for the
agents' search (tickets/search.py): SQLite FTS5, PostgreSQL GIN; existing texts indexed; tickets
by activity

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BATCH = 2_000  # interactions read, segmented and indexed at a time


def upgrade() -> None:
    from sqlalchemy.dialects.postgresql import ARRAY

    from callcenter.tickets import terms

    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table('search_docs',
                    sa.Column('interaction_id', sa.Integer(), sa.ForeignKey('interactions.id'), primary_key=True,
                              autoincrement=False),
                    sa.Column('ticket_id', sa.Integer(), sa.ForeignKey('tickets.id'), nullable=False),
                    sa.Column('terms', sa.Text() if sqlite else ARRAY(sa.Text()), nullable=False))
    op.create_index('ix_search_docs_ticket_id', 'search_docs', ['ticket_id'])
    op.create_index('ix_tickets_updated', 'tickets', ['updated_at'])
    if sqlite:
        # The terms are ours, already folded and split (tickets/terms.py): the tokenizer only has to
        # cut at the spaces. `ascii` does exactly that (any non-ASCII character is part of a word),
        # where unicode61 would cut again at characters its older Unicode tables do not know.
        # detail=none: whole-term search needs no positions (a smaller index).
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_docs', "
                   "content_rowid='interaction_id', tokenize='ascii', detail='none')")
        op.execute("CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
                   "INSERT INTO search_fts(rowid, terms) VALUES (new.interaction_id, new.terms); END")
        op.execute("CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
                   "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.interaction_id, old.terms); END")
        op.execute("CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
                   "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.interaction_id, old.terms); "
                   "INSERT INTO search_fts(rowid, terms) VALUES (new.interaction_id, new.terms); END")
    else:
        op.create_index('ix_search_docs_terms', 'search_docs', ['terms'], postgresql_using='gin')
    # Existing texts, by id in batches (a store with a million interactions needs no million-row read).
    terms.initialize()
    bind, last = op.get_bind(), 0
    docs = sa.table('search_docs', sa.column('interaction_id'), sa.column('ticket_id'),
                    sa.column('terms', sa.Text() if sqlite else ARRAY(sa.Text())))
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, ticket_id, subject, body FROM interactions WHERE id > :last AND ticket_id IS NOT NULL "
            "AND (body != '' OR subject != '') ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            break
        last = rows[-1].id
        found = [(r.id, r.ticket_id, terms.doc_terms(r.subject, r.body)) for r in rows]
        values = [{"interaction_id": i, "ticket_id": t, "terms": " ".join(words) if sqlite else words}
                  for i, t, words in found if words]
        if values:
            bind.execute(docs.insert(), values)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ('search_docs_au', 'search_docs_ad', 'search_docs_ai'):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE search_fts")
    else:
        op.drop_index('ix_search_docs_terms', 'search_docs')
    op.drop_index('ix_tickets_updated', 'tickets')
    op.drop_index('ix_search_docs_ticket_id', 'search_docs')
    op.drop_table('search_docs')
