"""Errors that carry an id, a kind and details.

Every module raises these (or a subclass). The id is stable and machine-readable
(`unknown-queue`); the message is for people; the kind says what sort of failure it is, and only
`web/` turns a kind into an HTTP status (one table, web/server.py); the CLI prints an error as one
readable line. Raise the class of the kind: `NotFound("unknown-ticket", "no ticket #12")`.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar


class Kind(enum.StrEnum):
    """What sort of failure an error is, whatever feature raised it."""

    REFUSED = "refused"  # the request itself is wrong: bad input, a malformed value
    UNAUTHORIZED = "unauthorized"  # nobody we know is asking (no or a wrong token / login)
    FORBIDDEN = "forbidden"  # someone we know, who may not do this
    NOT_FOUND = "not-found"  # what the request names does not exist
    CONFLICT = "conflict"  # the state of things does not allow it now (already taken, ended, busy)
    RULE = "rule"  # a business rule refuses it (a ticket status that cannot follow another)
    LIMITED = "limited"  # too many, too often: try again later
    UPSTREAM = "upstream"  # an outside system we asked failed (SMS provider, mail relay, Asterisk's answer)
    UNAVAILABLE = "unavailable"  # a part we need is away or unusable (AMI down, the store unreachable)
    TIMEOUT = "timeout"  # a part we need did not answer in time


class CallcenterError(Exception):
    """Base of our errors: `error_id` for programs, `message` for people, `details` for both, and
    the `kind` (REFUSED unless the class or the raise says otherwise)."""

    kind: ClassVar[Kind] = Kind.REFUSED

    def __init__(self, error_id: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": str(self), "details": self.details}


class Refused(CallcenterError):
    kind = Kind.REFUSED


class Unauthorized(CallcenterError):
    kind = Kind.UNAUTHORIZED


class Forbidden(CallcenterError):
    kind = Kind.FORBIDDEN


class NotFound(CallcenterError):
    kind = Kind.NOT_FOUND


class Conflict(CallcenterError):
    kind = Kind.CONFLICT


class RuleBroken(CallcenterError):
    kind = Kind.RULE


class Limited(CallcenterError):
    kind = Kind.LIMITED


class Upstream(CallcenterError):
    kind = Kind.UPSTREAM


class Unavailable(CallcenterError):
    kind = Kind.UNAVAILABLE


class TimedOut(CallcenterError):
    kind = Kind.TIMEOUT


class UnknownQueue(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("unknown-queue", f"no queue '{name}' (queues: {', '.join(known)})", {"queue": name})


class UnknownAgent(NotFound):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("unknown-agent", f"no agent '{name}' (agents: {', '.join(known)})", {"agent": name})


class UnknownCall(NotFound):
    def __init__(self, call_id: str) -> None:
        super().__init__("unknown-call", f"no call {call_id!r}", {"call_id": call_id})
