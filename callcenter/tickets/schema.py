"""The store's tables (SQLAlchemy 2 declarative; the migrations in tickets/migrations/ create them).

Times are epoch seconds (float, UTC) like the domain events' `at`; durations are whole seconds.
One customer has many identities (phone in E.164, email, chat visitor id, account id), tickets and
interactions; an interaction is one contact on one channel (a call, a voicemail, a chat, an SMS, an
email) and belongs to one ticket. `Interaction.customer_id` repeats the ticket's customer so the
screen-pop timeline is one indexed read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Tables the migrations make that no model maps: SQLite's full-text index of search_docs (FTS5: the
# virtual table and the shadow tables it keeps its index in).
UNMAPPED = ("search_fts", "search_fts_data", "search_fts_idx", "search_fts_docsize", "search_fts_config")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # A contact without a usable identity (withheld caller ID): a customer of its own, never matched.
    unidentified: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), default=None)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class CustomerIdentity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone | email | chat | account
    value: Mapped[str] = mapped_column(String(320))  # E.164, lower-cased email, ...; raw when not valid
    raw: Mapped[str] = mapped_column(String(320), default="")
    valid: Mapped[bool] = mapped_column(Boolean, default=True)  # False: an unparseable number, kept raw
    opted_out_at: Mapped[float | None] = mapped_column(Float, default=None)  # SMS STOP (START clears it)
    created_at: Mapped[float] = mapped_column(Float)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_customer_status", "customer_id", "status"),
                      Index("ix_tickets_assignee_status", "assignee", "status"),
                      Index("ix_tickets_queue_status", "queue", "status"),
                      Index("ix_tickets_status", "status"),
                      # Newest activity first (lists, the search's walk through tickets: tickets/search.py).
                      Index("ix_tickets_updated", "updated_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    subject: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(100), default="")  # contacts on the same topic share a ticket
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    assignee: Mapped[str] = mapped_column(String(100), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    callback_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    first_response_due: Mapped[float | None] = mapped_column(Float, default=None)
    resolution_due: Mapped[float | None] = mapped_column(Float, default=None)
    first_response_at: Mapped[float | None] = mapped_column(Float, default=None)
    resolved_at: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    # Optimistic concurrency: an UPDATE that finds another version changed nothing and is retried.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # People's edits (update_ticket), apart from the calls that touch the row: a page that read
    # `edits` N conflicts only with another person's edit, not with its own call being answered.
    edits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Work items (callcenter/inbox/): the queue whose agents work it (a call's: the queue it reached),
    # the channel of the contact that opened it (its SLA targets), since when a customer's message
    # waits for an answer (None: nothing waits; the item's age).
    queue: Mapped[str] = mapped_column(String(64), default="", server_default="")
    channel: Mapped[str] = mapped_column(String(16), default="", server_default="")
    awaiting_since: Mapped[float | None] = mapped_column(Float, default=None)
    # SLA in business hours: the clock stops while the ticket waits on the customer (pending).
    pending_since: Mapped[float | None] = mapped_column(Float, default=None)
    sla_paused_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sla_state: Mapped[str] = mapped_column(String(16), default="", server_default="")  # "" | at_risk | breached

    __mapper_args__ = {"version_id_col": version}


class TicketChange(Base):
    """One change to a ticket (who, when, what, from → to); internal notes are changes of `note`."""

    __tablename__ = "ticket_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(100))  # an agent, a user, "system"
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[str] = mapped_column(Text, default="")
    new: Mapped[str] = mapped_column(Text, default="")


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_customer_started", "customer_id", "started_at"),
                      # A call is written once per channel (its voice and its voicemail), whatever replays.
                      Index("uq_interactions_call", "channel", "call_id", unique=True,
                            sqlite_where=text("call_id != ''"), postgresql_where=text("call_id != ''")),
                      # A provider's message is written once, however often its webhook is retried.
                      Index("uq_interactions_external", "channel", "external_id", unique=True,
                            sqlite_where=text("external_id != ''"), postgresql_where=text("external_id != ''")),
                      Index("ix_interactions_started", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None: a short call (it never reached a queue, an agent or a voicemail) on a known customer's file.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))  # voice | voicemail | chat | sms | email
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound | internal
    step: Mapped[str] = mapped_column(String(16), default="started")  # started | queued | answered | ended
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, default=None)
    address: Mapped[str] = mapped_column(String(320), default="")  # the caller ID / address as received
    name: Mapped[str] = mapped_column(String(200), default="")  # the caller's name as sent
    # Calls (Linkedid, DID, IVR, queue, agent; durations in seconds; Q.850 cause).
    call_id: Mapped[str] = mapped_column(String(64), default="")
    did: Mapped[str] = mapped_column(String(32), default="")
    flow: Mapped[str] = mapped_column(String(64), default="")
    ivr_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(64), default="")
    wait_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    talk_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    hangup_cause: Mapped[int | None] = mapped_column(Integer, default=None)
    hangup_cause_text: Mapped[str] = mapped_column(String(100), default="")
    hung_up_by: Mapped[str] = mapped_column(String(16), default="")
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    callback_of: Mapped[str] = mapped_column(String(64), default="")  # the original call's Linkedid
    callback_request: Mapped[str] = mapped_column(String(64), default="")
    record: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the call's final record (tracker's shape)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)  # written from Asterisk's CDR after an outage
    # Recording / voicemail audio (path on this host, seconds, bytes, sha256); a problem is said.
    recording_path: Mapped[str] = mapped_column(String(500), default="")
    recording_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    recording_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    recording_sha256: Mapped[str] = mapped_column(String(64), default="")
    recording_problem: Mapped[str] = mapped_column(String(200), default="")
    # Text channels and transcripts: the body (retention may purge it, keeping the contact).
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # A voicemail's transcript beyond its text (body): language, words with confidence, engine,
    # model, audio and processing seconds (callcenter/voicemail/engine.py Transcript).
    transcript: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    purged_at: Mapped[float | None] = mapped_column(Float, default=None)
    # The agent's wrap-up code at the end of a call (config web.wrapup_codes); a voicemail handled.
    wrapup_code: Mapped[str] = mapped_column(String(40), default="", server_default="")
    handled_at: Mapped[float | None] = mapped_column(Float, default=None)
    handled_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Text channels: the provider's id of the message (Twilio's MessageSid), its delivery status.
    external_id: Mapped[str] = mapped_column(String(100), default="", server_default="")
    delivery_status: Mapped[str] = mapped_column(String(32), default="", server_default="")


class SearchDoc(Base):
    """The search index's document of one interaction with text (tickets/search.py): the terms of
    its subject and body (tickets/terms.py), and its ticket. SQLite: the terms joined by spaces,
    indexed by the FTS5 table `search_fts` (external content: this table, kept by triggers);
    PostgreSQL: a text[] with a GIN index (`@>`: no text-search parser, so no locale splits or
    drops Chinese terms)."""

    __tablename__ = "search_docs"

    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id"), primary_key=True,
                                                autoincrement=False)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    # (PostgreSQL's GIN index on it is the migration's: one a model would make on SQLite too.)
    terms: Mapped[Any] = mapped_column(Text().with_variant(ARRAY(Text()), "postgresql"))


class Merge(Base):
    """An explicit merge of `source` into `target` (who, when, what moved), undone by unmerge."""

    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"identities": [...], "tickets": [...], ...}
    undone_at: Mapped[float | None] = mapped_column(Float, default=None)
    undone_by: Mapped[str] = mapped_column(String(100), default="")


class CallbackRequestRow(Base):
    """A queue callback request (routing/callbacks.py's CallbackRequest), kept at every change."""

    __tablename__ = "callback_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[float] = mapped_column(Float)
    requested_at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | dialing | connected | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[float] = mapped_column(Float, default=0.0)
    attempt_id: Mapped[str] = mapped_column(String(64), default="")
    last_error: Mapped[str] = mapped_column(String(300), default="")
    call_id: Mapped[str] = mapped_column(String(64), default="")  # the original call's Linkedid


class Document(Base):
    """A named JSON text the controller keeps (the routing state: memberships, pauses, penalties)."""

    __tablename__ = "documents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Float)


class TranscriptionJob(Base):
    """A voicemail waiting for, or done with, speech to text. Durable: a restarted controller takes
    up what was queued or running."""

    __tablename__ = "transcription_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id"), index=True)
    path: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8), default="auto")
    engine: Mapped[str] = mapped_column(String(20), default="", server_default="")  # "": the configured one
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued | running | done | empty | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class User(Base):
    """A web login: an agent (same name as in callcenter.yaml), a supervisor or an admin. Only the
    password's argon2 hash is kept (callcenter/web/)."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # agent | supervisor | admin
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # an agent no longer in the config
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class WebSession(Base):
    """A browser's login. The cookie holds a random token; only its sha256 is kept here, so the
    store's contents give no one a session. Kept in the store: a restarted controller keeps its
    users logged in."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)


class Chat(Base):
    """A web chat (channels/chat/): who the visitor is, where it waits or who has it. Its
    messages are interactions (channel `chat`, address = the visitor id, variables.chat = this id)
    on `ticket_id`. Kept in the store so a restarted controller picks its chats up again."""

    __tablename__ = "chats"
    __table_args__ = (Index("ix_chats_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the widget's token, hex (32)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    queue: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting | active | ended
    started_at: Mapped[float] = mapped_column(Float)
    assigned_at: Mapped[float | None] = mapped_column(Float, default=None)
    ended_at: Mapped[float | None] = mapped_column(Float, default=None)
    ended_by: Mapped[str] = mapped_column(String(64), default="")  # visitor | an agent | system: why
    origin: Mapped[str] = mapped_column(String(200), default="")  # the page's Origin the widget ran on
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name, email, phone as the visitor gave
    verified: Mapped[list[str]] = mapped_column(JSON, default=list)  # "email:a@b.c", "phone:+1..." an agent confirmed
