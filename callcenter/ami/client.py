"""The one AMI connection to Asterisk: events in, actions out.

panoramisk parses the wire format (its `AMIProtocol`, `Message`, `Action`); this module owns
everything around it, because panoramisk's own `Manager` does things a call center must not:
it replays pending actions after a reconnect (an Originate would ring a customer twice), it
starts one unbounded, unordered task per event, and its pings wait for no reply.

What this client guarantees:
- login is checked; a refused login is reported as such (`AmiLoginRefused`), not as a timeout;
- reconnect with backoff, forever, until `close()`;
- a ping every `ping_interval` seconds whose reply must come within `action_timeout`, or the
  connection is dropped and rebuilt;
- every action has a timeout; when the connection drops, pending actions fail with
  `AmiDisconnected` and are never re-sent: the caller decides (Originate is not idempotent);
- events are delivered in arrival order (so per call order holds) through one bounded buffer:
  when the consumer falls behind, reading from the socket pauses (TCP backpressure) instead of
  growing memory without bound;
- connection changes travel in the same stream as events (`AmiConnected`, `AmiDisconnectedEvent`),
  so the consumer resynchronizes at the right place in the order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.errors import CallcenterError

log = logging.getLogger(__name__)

# Buffer bounds (messages). Above HIGH we stop reading the socket; below LOW we read again.
HIGH_WATER = 20_000
LOW_WATER = 5_000
BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


class AmiError(CallcenterError):
    """Base of AMI errors."""


class AmiLoginRefused(AmiError):
    def __init__(self, host: str, port: int, username: str, reason: str) -> None:
        super().__init__("ami-login-refused",
                         f"Asterisk refused the AMI login of user '{username}' at {host}:{port}: {reason} "
                         "(wrong username or secret?)",
                         {"host": host, "port": port, "username": username})


class AmiUnavailable(AmiError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__("ami-unavailable", f"cannot reach Asterisk's AMI at {host}:{port}: {reason}",
                         {"host": host, "port": port})


class AmiDisconnected(AmiError):
    def __init__(self, action: str) -> None:
        super().__init__("ami-disconnected", f"AMI connection lost before '{action}' got its answer "
                         "(not re-sent)", {"action": action})


class AmiTimeout(AmiError):
    def __init__(self, action: str, timeout: float) -> None:
        super().__init__("ami-timeout", f"AMI action '{action}' got no answer within {timeout:g} s",
                         {"action": action, "timeout": timeout})


class AmiActionFailed(AmiError):
    def __init__(self, action: str, message: str) -> None:
        super().__init__("ami-action-failed", f"AMI action '{action}' failed: {message}",
                         {"action": action, "asterisk_message": message})


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


StreamItem = Message | AmiConnected | AmiDisconnectedEvent


class _Action(Action):
    """panoramisk's Action, told apart from a list only by `EventList: start`.

    panoramisk also guesses from the message text ("Added ... to queue" looks like its AGI
    format), which makes QueueAdd wait forever for list items that never come.
    """

    @property
    def multi(self) -> bool:
        if self.as_list is not None:
            return bool(self.as_list)
        return str(self.responses[0].get("EventList", "")).lower() == "start"


class _Protocol(AMIProtocol):
    """panoramisk's parser, with our routing: answers to our actions, everything else to a buffer."""

    def __init__(self, client: "AmiClient") -> None:
        super().__init__()
        self.client = client
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        if self.client.recording is not None:
            self.client.recording.write(data)
            self.client.recording.flush()
        super().data_received(data)

    def handle_message(self, message: Message) -> None:
        # Route by ActionID only: an AsyncAGIExec carries a CommandId, and that belongs to the
        # AGI layer, not to the AMI action that queued the command.
        action = self.responses.get(message.action_id) if message.action_id else None
        if action is not None and not action.future.done():
            if action.add_message(message):
                self.responses.pop(action.action_id, None)
            return
        if "event" in message:
            self.client._deliver(message, self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for action in self.responses.values():
            if not action.future.done():
                action.future.set_exception(AmiDisconnected(action["action"]))
        self.responses.clear()
        if not self.lost.done():
            self.lost.set_result(str(exc) if exc else "closed by Asterisk")

    def close(self) -> None:
        if not self.closed:
            self.transport.close()
            self.closed = True


class AmiClient:
    """One AMI connection with reconnect, pings, timeouts and an ordered, bounded event stream."""

    def __init__(self, host: str, port: int, username: str, secret: str, *, action_timeout: float = 5.0,
                 ping_interval: float = 5.0, record_to: Path | None = None) -> None:
        self.host, self.port, self.username, self._secret = host, port, username, secret
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.recording: BinaryIO | None = open(record_to, "ab") if record_to else None  # noqa: SIM115
        self.state = "disconnected"  # disconnected | connecting | connected | login-refused
        self.last_error = ""
        self.asterisk_version = ""
        self.connected_since: float | None = None
        self._protocol: _Protocol | None = None
        self._buffer: collections.deque[StreamItem] = collections.deque()
        self._ready = asyncio.Event()
        self._closing = False

    # -- the event stream -------------------------------------------------------------------

    def _deliver(self, item: StreamItem, protocol: _Protocol | None = None) -> None:
        self._buffer.append(item)
        self._ready.set()
        if protocol is not None and len(self._buffer) > HIGH_WATER and not protocol.paused:
            protocol.transport.pause_reading()
            protocol.paused = True

    async def events(self) -> AsyncIterator[StreamItem]:
        """Events and connection markers, in arrival order. One consumer only."""
        while True:
            while not self._buffer:
                self._ready.clear()
                await self._ready.wait()
            item = self._buffer.popleft()
            protocol = self._protocol
            if protocol is not None and protocol.paused and len(self._buffer) < LOW_WATER:
                protocol.transport.resume_reading()
                protocol.paused = False
            yield item

    # -- connecting -------------------------------------------------------------------------

    async def connect(self) -> None:
        """One attempt: open the socket and log in. Raises AmiUnavailable or AmiLoginRefused."""
        self.state = "connecting"
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.action_timeout):
                _, protocol = await loop.create_connection(lambda: _Protocol(self), self.host, self.port)
        except (OSError, TimeoutError) as exc:
            self.state = "disconnected"
            raise AmiUnavailable(self.host, self.port, getattr(exc, "strerror", None) or "timed out") from None
        self._protocol = protocol
        try:
            reply = await self._send(protocol, {"Action": "Login", "Username": self.username,
                                                "Secret": self._secret, "Events": "on"})
        except AmiError:
            protocol.close()
            self.state = "disconnected"
            raise AmiUnavailable(self.host, self.port, "no answer to Login") from None
        if not reply.success:
            protocol.close()
            self.state = "login-refused"
            raise AmiLoginRefused(self.host, self.port, self.username, reply.message or "refused")
        self.asterisk_version = protocol.version or ""
        self.state = "connected"
        self.connected_since = time.time()
        self.last_error = ""
        self._deliver(AmiConnected(at=time.time(), asterisk_version=self.asterisk_version))

    async def run(self) -> None:
        """Stay connected until close(): reconnect with backoff, ping, report losses in the stream."""
        attempt = 0
        while not self._closing:
            if self.state != "connected":
                try:
                    await self.connect()
                    attempt = 0
                except AmiError as exc:
                    self.last_error = str(exc)
                    level = logging.ERROR if isinstance(exc, AmiLoginRefused) else logging.INFO
                    if attempt == 0 or isinstance(exc, AmiLoginRefused):
                        log.log(level, "%s; retrying", exc)
                    await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    attempt += 1
                    continue
            assert self._protocol is not None
            reason = await self._watch(self._protocol)
            self.state = "disconnected"
            self.connected_since = None
            self.last_error = f"connection lost: {reason}"
            if not self._closing:
                log.warning("AMI connection lost (%s); reconnecting", reason)
                self._deliver(AmiDisconnectedEvent(at=time.time(), reason=reason))

    async def _watch(self, protocol: _Protocol) -> str:
        """Ping until the connection is lost; a ping without an answer drops it."""
        while True:
            done, _ = await asyncio.wait({protocol.lost}, timeout=self.ping_interval)
            if done:
                return protocol.lost.result()
            try:
                await self._send(protocol, {"Action": "Ping"})
            except AmiTimeout:
                protocol.transport.abort()
                await protocol.lost
                return "no answer to Ping"
            except AmiDisconnected:
                return await protocol.lost

    async def close(self) -> None:
        self._closing = True
        if self._protocol is not None:
            with contextlib.suppress(AmiError):
                await self._send(self._protocol, {"Action": "Logoff"}, timeout=1.0)
            self._protocol.close()
        if self.recording is not None:
            self.recording.close()
            self.recording = None

    # -- actions ----------------------------------------------------------------------------

    async def _send(self, protocol: _Protocol, fields: dict[str, Any], *, timeout: float | None = None,
                    as_list: bool | None = None) -> Any:
        if protocol.closed:
            raise AmiDisconnected(fields["Action"])
        action = _Action(fields, as_list=as_list)
        protocol.responses[action.action_id] = action
        protocol.transport.write(str(action).encode("utf-8"))
        timeout = self.action_timeout if timeout is None else timeout
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the answer does, and then a stopping controller never stops.
            async with asyncio.timeout(timeout):
                return await asyncio.shield(action.future)
        except TimeoutError:
            protocol.responses.pop(action.action_id, None)
            raise AmiTimeout(fields["Action"], timeout) from None

    async def send(self, fields: dict[str, Any], *, timeout: float | None = None, check: bool = True,
                   as_list: bool | None = None) -> Any:
        """Send one action and wait for its answer (a Message, or a list for event-list actions).

        Never queued for later: if the connection is down this raises AmiDisconnected at once.
        With `check`, an `Error` response raises AmiActionFailed.
        """
        if self._protocol is None or self.state != "connected":
            raise AmiDisconnected(fields.get("Action", "?"))
        reply = await self._send(self._protocol, fields, timeout=timeout, as_list=as_list)
        first = reply[0] if isinstance(reply, list) else reply
        if check and first.response == "Error":
            raise AmiActionFailed(fields.get("Action", "?"), first.message)
        return reply
