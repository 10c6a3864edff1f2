"""Domain events: what happened in the contact center, in its own words (docs/design.md#10).

The pure trackers (`calls/tracker.py`, `routing/presence.py`) return these when an AMI event
changes something; features (`ivr/sessions.py`, `routing/dialer.py`) publish theirs; the bus
(`bus.py`) hands them to every subscriber: the IVR, the callback dialer, and later the ticket
writer, the browser push and the transcription worker. Frozen, so a subscriber cannot change what
the next one sees. Times (`at`) are epoch seconds from the app's clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Agent states, as a supervisor reads them (routing/presence.py says what each means).
AgentStateName = Literal["logged_out", "unreachable", "paused", "ringing", "on_call", "wrapup", "ready"]


# -- connection markers: they travel in the AMI stream, in order with its events -----------------


@dataclass(frozen=True)
class AmiConnected:
    """Marker in the event stream: the connection is (re)established and logged in."""

    at: float
    asterisk_version: str


@dataclass(frozen=True)
class AmiDisconnectedEvent:
    """Marker in the event stream: the connection is gone (events may have been missed)."""

    at: float
    reason: str


# -- a call's record: what a supervisor asks about a call (calls/tracker.py keeps it) -------------

CallState = Literal["ringing", "answered", "queued", "connected", "ended"]


@dataclass
class AgentLeg:
    """One agent's part of a call: their phone's channel, from its answer to its hangup. `via`:
    queue | transfer (brought in by `by`) | conference | direct (an internal or click-to-call
    leg). Hold is the time the customer heard music on hold while this agent had them; talk is the
    rest. Seconds; epoch times."""

    agent: str
    uniqueid: str
    via: str = "direct"
    by: str = ""
    queue: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    hold_seconds: float = 0.0

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.answered_at - self.hold_seconds)


@dataclass
class CallRecord:
    call_id: str  # the Linkedid
    caller_id: str
    caller_name: str
    did: str  # the number dialed, for calls from the trunk
    direction: str  # inbound (from the trunk) | internal
    started_at: float
    answered_at: float | None = None  # Asterisk picked up
    queue: str | None = None
    queued_at: float | None = None
    agent: str | None = None
    agent_answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""
    abandoned: bool = False
    hung_up_by: str = ""  # caller | agent | system: whose side ended the call
    path: list[str] = field(default_factory=list)  # what happened, in order: "queue:support", ...
    flow: str = ""  # the IVR flow the caller walked through, and its version
    flow_version: int = 0
    ivr_path: list[str] = field(default_factory=list)  # nodes visited, keys pressed: "hotline/main_menu", ...
    ivr_end: str = ""  # where the flow let go of the caller: "queue support", "hangup", ...
    variables: dict[str, str] = field(default_factory=dict)  # collected by the flow (order_number, ...)
    voicemail: str = ""  # the recorded message's file
    callback_of: str = ""  # for a queue callback: the Linkedid of the call that asked for it
    callback_request: str = ""  # ... and the request's id
    outbound_ticket: int | None = None  # a click-to-call from the workspace: the ticket it was made on
    channels: dict[str, str] = field(default_factory=dict)  # live channels: uniqueid → name
    legs: list[AgentLeg] = field(default_factory=list)  # each agent's part, in the order they answered
    transfers: list[dict[str, Any]] = field(default_factory=list)  # {kind, by, to, at}: blind | attended | threeway | conference
    monitors: list[dict[str, Any]] = field(default_factory=list)  # {supervisor, mode, started_at, ended_at}
    handoff: dict[str, str] = field(default_factory=dict)  # the transferring agent's note: {from, to, note}

    @property
    def state(self) -> CallState:
        if self.ended_at is not None:
            return "ended"
        if self.agent_answered_at is not None:
            return "connected"
        if self.queue is not None:
            return "queued"
        if self.answered_at is not None:
            return "answered"
        return "ringing"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state
        data["channels"] = sorted(self.channels.values())
        for leg, out in zip(self.legs, data["legs"]):
            out["talk_seconds"] = round(leg.talk_seconds, 1)
        return data


# -- domain events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    """A new call (Linkedid) appeared: from the trunk (`inbound`, with its DID) or internal."""

    call_id: str  # the Linkedid
    caller_id: str
    caller_name: str
    did: str
    direction: str  # inbound | internal | callback | outbound (click-to-call from the workspace)
    at: float
    callback_of: str = ""  # for a callback: the Linkedid of the call that asked for it
    outbound_ticket: int | None = None  # for a click-to-call: the ticket it was made on


@dataclass(frozen=True)
class CallerQueued:
    call_id: str
    queue: str
    caller_id: str
    at: float


@dataclass(frozen=True)
class AgentOffered:
    """A queue rings an agent's phone for this call."""

    call_id: str
    queue: str
    agent: str
    at: float


@dataclass(frozen=True)
class AgentConnected:
    """The agent answered: caller and agent talk. `hold_seconds` is the caller's wait in the queue."""

    call_id: str
    queue: str
    agent: str
    hold_seconds: int
    at: float
    via: str = "queue"  # queue | transfer (a transfer's or consultation's target answered on a live call)


@dataclass(frozen=True)
class AgentLegEnded:
    """An agent's part of a call ended (they hung up, transferred, or left a conference): what
    presence credits them with (talk + hold; wrap-up follows for a queue's leg)."""

    call_id: str
    agent: str
    queue: str
    via: str
    talk_seconds: float
    hold_seconds: float
    at: float


@dataclass(frozen=True)
class CallTransferred:
    """A transfer or conference step on a live call: `kind` blind | attended | threeway |
    conference; `by` the agent who did it (or "" when unknown); `to` the target."""

    call_id: str
    kind: str
    by: str
    to: str
    at: float


@dataclass(frozen=True)
class CallEnded:
    """The call's last channel hung up; `record` is the final call record (a copy)."""

    record: CallRecord
    at: float


@dataclass(frozen=True)
class VoicemailRecorded:
    """A caller left a message (a WAV file Asterisk wrote), to be transcribed and ticketed."""

    call_id: str
    path: str  # the host path of the WAV file
    seconds: float
    caller_id: str
    did: str
    at: float
    empty: str = ""  # why it is an empty voicemail (shorter than the node's min_length, no sound), or ""


@dataclass(frozen=True)
class CallStored:
    """A call's end is written on its customer's ticket (tickets/calls.py): the final record and
    the interaction it became (features that follow up on a call, e.g. the missed-call SMS)."""

    record: CallRecord
    interaction: dict[str, Any]  # tickets/rows.py InteractionRow
    at: float


@dataclass(frozen=True)
class TranscriptionQueued:
    """A voicemail waits for its transcription (a new voicemail, or one asked again): the worker wakes."""

    job_id: int
    at: float


@dataclass(frozen=True)
class VoicemailTranscribed:
    """A voicemail's text is on its interaction (callcenter/voicemail/worker.py); `empty`: no speech."""

    call_id: str
    voicemail_id: int  # the interaction
    ticket_id: int | None
    customer_id: int
    text: str
    language: str
    empty: bool
    at: float


@dataclass(frozen=True)
class MessageReceived:
    """A text message came in (SMS; later email, chat) and is on its customer's ticket."""

    channel: str
    interaction_id: int
    ticket_id: int
    customer_id: int
    address: str  # the sender as received (a phone number, an address)
    text: str
    at: float


@dataclass(frozen=True)
class ChatChanged:
    """A web chat moved (channels/chat/): a message, typing, an assignment, a transfer, its
    end. `chat` is the chat as agents see it (tickets/chats.py `chat_dict`, without messages);
    `previous_agent` is who had it before a transfer or a requeue (their page drops it)."""

    kind: str  # new | waiting | assigned | transferred | message | typing | contact | ended
    chat: dict[str, Any]
    message: dict[str, Any] | None
    previous_agent: str
    at: float


@dataclass(frozen=True)
class AgentStateChanged:
    agent: str
    state: AgentStateName
    previous: AgentStateName
    reason: str  # the pause reason, or what caused the change
    at: float


@dataclass(frozen=True)
class AutoPauseDecided:
    """The presence tracker decided an agent must be paused (missed offers in a row)."""

    agent: str
    reason: str
    at: float


@dataclass(frozen=True)
class QueueChanged:
    """A queue's waiting list or numbers changed (a caller joined, left, was answered)."""

    queue: str
    waiting: int
    at: float


@dataclass(frozen=True)
class CallbackRequested:
    request_id: str
    queue: str
    number: str
    call_id: str
    at: float


@dataclass(frozen=True)
class PagesChanged:
    """An agent's workspace page opened or closed (workspace/live.py): who can take chats changed."""

    agent: str
    pages: int  # that agent's pages open now
    at: float


@dataclass(frozen=True)
class WorkChanged:
    """A ticket became, stopped being or moved as a work item (callcenter/inbox/): accepted,
    declined, assigned, answered, its SLA at risk or breached. Pages of its queue refresh their
    inbox; routing looks again."""

    ticket_id: int
    queue: str
    reason: str  # accepted | declined | assigned | offered | withdrawn | sla_at_risk | sla_breached | ...
    agent: str  # who it concerns ("" nobody in particular)
    at: float


@dataclass(frozen=True)
class PictureRebuilt:
    """After an AMI (re)connect, the picture was read back from Asterisk (calls, agents, queues)."""

    channels: int
    calls_ended: int
    at: float


DomainEvent = (CallStarted | CallerQueued | AgentOffered | AgentConnected | CallEnded | VoicemailRecorded
               | CallStored | TranscriptionQueued | VoicemailTranscribed | MessageReceived | ChatChanged | PagesChanged
               | AgentStateChanged | AutoPauseDecided | QueueChanged | CallbackRequested | WorkChanged | PictureRebuilt
               | AgentLegEnded | CallTransferred)
