"""Errors that carry an id and details.

Every module raises these (or a subclass); only `web/` maps them to HTTP statuses and the CLI
prints them as one readable line. The id is stable and machine-readable (`unknown-queue`); the
message is for people.
"""

from __future__ import annotations

from typing import Any


class CallcenterError(Exception):
    """Base of our errors: `error_id` for programs, `message` for people, `details` for both."""

    def __init__(self, error_id: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": str(self), "details": self.details}


class UnknownQueue(CallcenterError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("unknown-queue", f"no queue '{name}' (queues: {', '.join(known)})", {"queue": name})


class UnknownAgent(CallcenterError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("unknown-agent", f"no agent '{name}' (agents: {', '.join(known)})", {"agent": name})


class UnknownCall(CallcenterError):
    def __init__(self, call_id: str) -> None:
        super().__init__("unknown-call", f"no call {call_id!r}", {"call_id": call_id})
