"""The ticket store: one customer, one file (SQLAlchemy 2 async; SQLite or PostgreSQL).

`TicketCore` (core.py) is what the rest of the controller holds: the store and one object per
aggregate. `schema.py` the tables, `migrations/` their Alembic history, `db.py` engines and
migrations, `store.py` the database and its unit of work, `rows.py` the rows returned,
`inputs.py` the checks of outside input, `identity.py` phone/email normalization (pure),
`rules.py` ticket rules (pure), `sla.py` SLA due times and states in business hours (pure). The
aggregates: `customers.py` (and merges), `tickets.py` (and the SLA pass), `interactions.py`
(calls), `jobs.py` (voicemail transcription), `retention.py`, `routing_state.py`, `messages.py`
(SMS, email), `chats.py`, `accounts.py` (web users). `calls.py`
is the bus subscriber that writes calls, `reconcile.py` the CDR reconciliation, `routes.py` and
`cli.py` the REST API and the CLI. Nothing outside this package imports SQLAlchemy or
phonenumbers.
"""
