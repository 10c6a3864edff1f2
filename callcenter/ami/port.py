"""What the controller uses of its AMI connection: `AmiPort`.

Everything outside `ami/` that is handed the connection (the wiring in `app.build`, the read
model, routing, the IVR sessions, liveness, recordings) needs only this much of `AmiClient`:
send an action and read its typed reply, read the event stream, and look at the connection's
state for the status page. Connecting, reconnecting and closing stay with whoever owns the
client (`app.main`). `AmiClient` and the test double `callcenter.ami.testing.FakeAmi` both
satisfy it (tests/unit/test_ami_port.py checks both, statically with mypy and at run time).
"""

from __future__ import annotations

from typing import AsyncIterator, Protocol, TypeVar, runtime_checkable

from callcenter.ami.actions import Action
from callcenter.ami.client import Marker
from callcenter.ami.events import Event

R = TypeVar("R")


@runtime_checkable
class AmiPort(Protocol):
    """The controller's view of one AMI connection (read-only attributes: only the client sets them)."""

    @property
    def state(self) -> str:
        """"connected", or why not ("disconnected", "connecting", "login-refused")."""

    @property
    def connected_since(self) -> float | None:
        """Epoch seconds of the current connection's login; None while not connected."""

    @property
    def last_error(self) -> str:
        """Why the connection was last lost or refused ("" while all is well)."""

    @property
    def events_seen(self) -> int:
        """Raw AMI events read from the stream so far."""

    @property
    def translate_errors(self) -> int:
        """Raw events that failed to translate (logged and skipped)."""

    @property
    def event_time(self) -> float | None:
        """Asterisk's Timestamp of the last event handed out (epoch seconds), if it sent one."""

    def events(self) -> AsyncIterator[Event | Marker]:
        """Translated events and connection markers, in arrival order. One consumer."""

    async def send(self, action: Action[R], *, timeout: float | None = None) -> R:
        """Send one action and return its typed reply. Errors: AmiError (disconnected, timeout, failed)."""
