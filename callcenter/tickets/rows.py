"""The rows the ticket store returns, and how they are made from its tables (schema.py).

Every row is a plain dict at run time (JSON-ready: the REST API and the CLI send them as they
are), typed here as a TypedDict so callers know its keys. Times are epoch seconds (float, UTC);
durations whole seconds unless a key says otherwise.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict, cast

from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, Ticket, TicketChange


class CustomerRow(TypedDict):
    """A customer (not its identities: CustomerFile, ListedCustomer)."""

    id: int
    name: str
    unidentified: bool  # a withheld caller ID: a customer of its own, never matched again
    tags: list[str]
    merged_into: int | None  # the customer this one was merged into (then it is only a pointer)
    created_at: float
    updated_at: float


class ListedCustomer(CustomerRow):
    """A customer in the list, with its identities' normalized values (E.164, lower-cased email)."""

    identities: list[str]


class IdentityRow(TypedDict):
    """One way to recognise a customer: a phone number, an email, a chat visitor, an account."""

    kind: str  # phone | email | chat | account
    value: str  # normalized: E.164, a lower-cased email; as received when not `valid`
    raw: str  # as received
    valid: bool


class TicketRow(TypedDict):
    """A ticket without its history (TicketWithHistory). SLA times: epoch seconds, None if unset."""

    id: int
    customer_id: int
    subject: str
    topic: str
    status: str  # new | open | pending | resolved | closed (rules.py)
    priority: str  # low | normal | high | urgent
    assignee: str  # an agent's name, "" for nobody
    tags: list[str]
    callback_requested: bool
    first_response_due: float | None
    resolution_due: float | None
    first_response_at: float | None
    resolved_at: float | None
    created_at: float
    updated_at: float
    version: int  # moves at every write of the row (optimistic concurrency)
    edits: int  # people's edits only (update), what a page checks before writing
    queue: str  # the queue whose agents work it ("" none)
    channel: str  # the channel of the contact that opened it (its SLA targets)
    awaiting_since: float | None  # the oldest customer message not answered yet (None: nothing waits)
    pending_since: float | None  # since when it waits on the customer (its SLA clock stopped)
    sla_state: str  # "" | at_risk | breached


class ChangeRow(TypedDict):
    """One line of a ticket's history: who changed which field when, from → to."""

    at: float
    actor: str
    field: str
    old: str
    new: str


class InteractionRow(TypedDict):
    """One contact on one channel (a call, a voicemail, a chat message, an SMS, an email): every
    column of the interactions table (schema.Interaction says what each holds)."""

    id: int
    ticket_id: int | None  # None: a short call on the customer's file
    customer_id: int
    channel: str
    direction: str
    step: str
    started_at: float
    ended_at: float | None
    address: str
    name: str
    call_id: str
    did: str
    flow: str
    ivr_path: list[str]
    variables: dict[str, Any]
    queue: str
    agent: str
    wait_seconds: int | None
    talk_seconds: int | None
    hangup_cause: int | None
    hangup_cause_text: str
    hung_up_by: str
    abandoned: bool
    callback_of: str
    callback_request: str
    record: dict[str, Any]
    reconciled: bool
    recording_path: str
    recording_seconds: float | None
    recording_bytes: int | None
    recording_sha256: str
    recording_problem: str
    subject: str
    body: str
    transcript: dict[str, Any]
    purged_at: float | None
    wrapup_code: str
    handled_at: float | None
    handled_by: str
    external_id: str
    delivery_status: str


class TicketWithHistory(TicketRow):
    """A ticket with its history (oldest first) and its interactions (by start time)."""

    history: list[ChangeRow]
    interactions: list[InteractionRow]


class CustomerFile(TypedDict):
    """The screen pop: the customer, its identities, its open (and resolved) tickets, newest
    activity first, and its latest interactions, newest first."""

    customer: CustomerRow
    identities: list[IdentityRow]
    open_tickets: list[TicketRow]
    timeline: list[InteractionRow]


class MergeRow(TypedDict):
    """A merge done: its id (to undo it), the customers, what moved."""

    merge_id: int
    target: int
    source: int
    # The ids that moved: {"identities": [...], "tickets": [...], "interactions": [...], "tags": [...],
    # "target_unidentified": bool}.
    moved: dict[str, Any]


class UnmergeRow(TypedDict):
    """A merge undone."""

    merge_id: int
    target: int
    source: int
    restored: dict[str, Any]  # what moved back (the merge's `moved`)


class TakenJob(TypedDict):
    """A transcription job handed to the worker (marked running)."""

    id: int
    interaction_id: int
    path: str
    language: str  # "auto" or a language code
    engine: str  # "": the configured one
    attempts: int


class VoicemailRow(TypedDict):
    """A voicemail with one of its transcription jobs."""

    voicemail: int  # the interaction's id
    job: int
    state: str  # queued | running | done | empty | failed
    attempts: int
    error: str
    caller: str
    call_id: str
    ticket: int | None
    customer: int
    started_at: float
    seconds: float | None
    text: str
    language: str
    path: str
    handled_at: float | None
    handled_by: str
    transcript: NotRequired[dict[str, Any]]  # only when one voicemail's jobs are asked for


class RetentionReport(TypedDict):
    """What retention removed (or, `dry_run`, would remove)."""

    dry_run: bool
    recordings: list[dict[str, Any]]  # {"interaction", "path"} removed (or that would be)
    refused: list[dict[str, Any]]  # {"interaction", "path", "why"} outside the recordings folders: kept
    bodies: int  # message bodies purged
    transcripts: int  # voicemail transcripts purged


class CustomerName(TypedDict):
    """Who a ticket is for, in a search's results."""

    id: int
    name: str


class SearchHit(TypedDict):
    """A ticket a search found (tickets/search.py)."""

    ticket: TicketRow
    customer: CustomerName
    match: str  # number | phone | email | name | text: what the search matched
    snippet: str  # text: ≤ 160 characters of the message around the hit; "" for the other kinds


class StoreDescription(TypedDict):
    """The store in `callcenter status`."""

    url: str  # password hidden
    writes: int  # transactions committed since the start
    problem: str  # "" or what is wrong, seen from outside the database


class EmailThread(TypedDict):
    """What an email answer on a ticket needs."""

    to: str  # the customer's address to write to
    subject: str
    in_reply_to: str  # the Message-ID of the thread's newest mail ("" for none)
    references: list[str]


class OfflineMessage(TypedDict):
    """A message left through the chat widget's form: its (ended) chat and its ticket."""

    chat: int
    ticket: int


def customer_row(c: Customer) -> CustomerRow:
    """The row of a customer (lists copied: the row does not move with the ORM object)."""
    return {"id": c.id, "name": c.name, "unidentified": c.unidentified, "tags": list(c.tags),
            "merged_into": c.merged_into, "created_at": c.created_at, "updated_at": c.updated_at}


def identity_row(i: CustomerIdentity) -> IdentityRow:
    """The row of an identity."""
    return {"kind": i.kind, "value": i.value, "raw": i.raw, "valid": i.valid}


def ticket_row(t: Ticket) -> TicketRow:
    """The row of a ticket."""
    return {"id": t.id, "customer_id": t.customer_id, "subject": t.subject, "topic": t.topic, "status": t.status,
            "priority": t.priority, "assignee": t.assignee, "tags": list(t.tags),
            "callback_requested": t.callback_requested, "first_response_due": t.first_response_due,
            "resolution_due": t.resolution_due, "first_response_at": t.first_response_at,
            "resolved_at": t.resolved_at, "created_at": t.created_at, "updated_at": t.updated_at,
            "version": t.version, "edits": t.edits, "queue": t.queue, "channel": t.channel,
            "awaiting_since": t.awaiting_since, "pending_since": t.pending_since, "sla_state": t.sla_state}


def interaction_row(i: Interaction) -> InteractionRow:
    """The row of an interaction: every column."""
    # Every column, whatever the schema adds: a new column reaches the API without a change here.
    data = {c.key: getattr(i, c.key) for c in Interaction.__table__.columns}
    data["ivr_path"], data["variables"] = list(i.ivr_path or []), dict(i.variables or {})
    return cast(InteractionRow, data)


def change_row(c: TicketChange) -> ChangeRow:
    """The row of one change in a ticket's history."""
    return {"at": c.at, "actor": c.actor, "field": c.field, "old": c.old, "new": c.new}
