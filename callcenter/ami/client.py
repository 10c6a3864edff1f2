"""The one AMI connection to Asterisk: events in, actions out.

panoramisk parses the wire format (its `AMIProtocol`, `Message`, `Action`); this module owns
everything around it, because panoramisk's own `Manager` does things a call center must not:
it replays pending actions after a reconnect (an Originate would ring a customer twice), it
starts one unbounded, unordered task per event, and its pings wait for no reply.

What this client guarantees:
- login is checked; a refused login is reported as such (`AmiLoginRefused`), not as a timeout;
- reconnect with backoff, forever, until `close()`;
- a ping every `ping_interval` seconds whose reply must come within `action_timeout`, or the
  connection is dropped and rebuilt (unless Asterisk sent anything meanwhile: loaded, not dead);
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
import codecs
import collections
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Literal, TypeAlias, TypeVar

from panoramisk.actions import Action as _PanoramiskAction
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcenter.ami import actions
from callcenter.ami.events import Event, translate
from callcenter.core.events import AmiConnected, AmiDisconnectedEvent
from callcenter.core.errors import Kind, Unavailable

R = TypeVar("R")
ConnectionState = Literal["disconnected", "connecting", "connected", "login-refused"]

log = logging.getLogger(__name__)

# Buffer bounds (messages). Above HIGH we stop reading the socket; below LOW we read again.
HIGH_WATER = 20_000
LOW_WATER = 5_000
# Reconnect tries (seconds between them): a restarting Asterisk on this machine boots in 1-2 s
# (measured), so the first seconds are tried often; then every 2 s.
BACKOFF = (0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.5, 0.5, 1.0, 2.0)


class AmiError(Unavailable):
    """Base of AMI errors: Asterisk cannot be reached or used (503 unless said otherwise)."""


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
    kind = Kind.TIMEOUT

    def __init__(self, action: str, timeout: float) -> None:
        super().__init__("ami-timeout", f"AMI action '{action}' got no answer within {timeout:g} s",
                         {"action": action, "timeout": timeout})


class AmiActionFailed(AmiError):
    kind = Kind.UPSTREAM  # Asterisk answered, and refused

    def __init__(self, action: str, message: str) -> None:
        super().__init__("ami-action-failed", f"AMI action '{action}' failed: {message}",
                         {"action": action, "asterisk_message": message})


StreamItem: TypeAlias = Message | AmiConnected | AmiDisconnectedEvent
Marker: TypeAlias = AmiConnected | AmiDisconnectedEvent


class _Action(_PanoramiskAction):
    """panoramisk's Action, told apart from a list only by `EventList: start`.

    panoramisk also guesses from the message text ("Added ... to queue" looks like its AGI
    format), which makes QueueAdd wait forever for list items that never come.
    """

    @property
    def multi(self) -> bool:
        if str(self.responses[0].get("Response", "")) == "Error":
            return False  # an error ends a list action at once ("No Contacts found"); panoramisk would wait
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
        self.last_data = time.monotonic()  # when Asterisk last sent anything (a late Ping's answer is no death)
        # Events that arrive before the Login answer has been handed over (Asterisk sends
        # FullyBooted right behind it) wait here, so they follow the AmiConnected marker.
        self.early: list[Message] | None = []
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        if self.client.recording is not None:
            self.client.recording.write(data)
            self.client.recording.flush()
        # panoramisk decodes each read on its own and drops what does not decode: a character split
        # between two reads would vanish. Decode across reads; bytes Asterisk itself cut (a pause
        # reason truncated mid-character) become U+FFFD instead of disappearing.
        super().data_received(self._decoder.decode(data).encode("utf-8"))

    def handle_message(self, message: Message) -> None:
        # Route by ActionID only: an AsyncAGIExec carries a CommandId, and that belongs to the
        # AGI layer, not to the AMI action that queued the command.
        action = self.responses.get(message.action_id) if message.action_id else None
        if action is not None and not action.future.done():
            if action.add_message(message):
                self.responses.pop(action.action_id, None)
            return
        if "event" in message:
            if self.early is not None:
                self.early.append(message)
            else:
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
        self.state: ConnectionState = "disconnected"
        self.last_error = ""
        self.asterisk_version = ""
        self.connected_since: float | None = None
        self._protocol: _Protocol | None = None
        self._buffer: collections.deque[StreamItem] = collections.deque()
        self._ready = asyncio.Event()
        self._closing = False
        self.events_seen = 0  # raw AMI events read from the stream
        self.event_time: float | None = None  # Asterisk's Timestamp of the last event yielded (epoch s)
        self.translate_errors = 0
        self.late_pings = 0  # Pings answered late while Asterisk kept talking: the connection was kept

    # -- the event stream -------------------------------------------------------------------

    def _deliver(self, item: StreamItem, protocol: _Protocol | None = None) -> None:
        self._buffer.append(item)
        self._ready.set()
        if protocol is not None and len(self._buffer) > HIGH_WATER and not protocol.paused:
            protocol.transport.pause_reading()
            protocol.paused = True

    async def events(self) -> AsyncIterator[Event | Marker]:
        """Translated events (ami/events.py) and connection markers, in arrival order. One consumer.

        Events the controller does not use are skipped; one that fails to translate is logged,
        counted (`translate_errors`) and skipped: a malformed event never stops the stream."""
        async for item in self.raw_events():
            if isinstance(item, (AmiConnected, AmiDisconnectedEvent)):
                yield item
                continue
            self.events_seen += 1
            try:
                stamp = item.get("Timestamp")
                self.event_time = float(stamp) if stamp else None
                event = translate(item)
            except Exception:
                self.translate_errors += 1
                log.exception("AMI event not understood, skipped: %r", item)
                continue
            if event is not None:
                yield event

    async def raw_events(self) -> AsyncIterator[StreamItem]:
        """Raw AMI messages and connection markers, in arrival order. One consumer only
        (the controller reads `events()`; tests' and benches' own observer connections read this)."""
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
            reply = actions.reply_of(await self._send(protocol, actions.login(self.username, self._secret)))
        except AmiError:
            protocol.close()
            self.state = "disconnected"
            raise AmiUnavailable(self.host, self.port, "no answer to Login") from None
        if not reply.ok:
            protocol.close()
            self.state = "login-refused"
            raise AmiLoginRefused(self.host, self.port, self.username, reply.message or "refused")
        self.asterisk_version = protocol.version or ""
        self.state = "connected"
        self.connected_since = time.time()
        self.last_error = ""
        self._deliver(AmiConnected(at=time.time(), asterisk_version=self.asterisk_version))
        early, protocol.early = protocol.early or [], None
        for message in early:
            self._deliver(message, protocol)

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
        """Ping until the connection is lost; a ping without an answer drops it, unless Asterisk
        sent something meanwhile (or our own reading was paused): a loaded Asterisk answers late but
        is alive, and a reconnect would add a whole resync to its load (measured: 1,000 callers at
        50/s, bench/queue_load.py --only ivr)."""
        while True:
            done, _ = await asyncio.wait({protocol.lost}, timeout=self.ping_interval)
            if done:
                return protocol.lost.result()
            sent = time.monotonic()
            try:
                await self._send(protocol, actions.ping())
            except AmiTimeout:
                if protocol.last_data > sent or protocol.paused:
                    self.late_pings += 1
                    continue
                protocol.transport.abort()
                await protocol.lost
                return "no answer to Ping"
            except AmiDisconnected:
                return await protocol.lost

    async def close(self) -> None:
        self._closing = True
        if self._protocol is not None:
            with contextlib.suppress(AmiError):
                await self._send(self._protocol, actions.logoff(), timeout=1.0)
            self._protocol.close()
        if self.recording is not None:
            self.recording.close()
            self.recording = None

    # -- actions ----------------------------------------------------------------------------

    async def _send(self, protocol: _Protocol, action: actions.Action[Any], *, timeout: float | None = None) -> Any:
        name = action.name
        if protocol.closed:
            raise AmiDisconnected(name)
        wire = _Action(dict(action.fields), as_list=action.as_list)
        protocol.responses[wire.action_id] = wire
        protocol.transport.write(str(wire).encode("utf-8"))
        timeout = timeout if timeout is not None else action.timeout if action.timeout is not None \
            else self.action_timeout
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the answer does, and then a stopping controller never stops.
            async with asyncio.timeout(timeout):
                return await asyncio.shield(wire.future)
        except TimeoutError:
            protocol.responses.pop(wire.action_id, None)
            raise AmiTimeout(name, timeout) from None

    async def send(self, action: actions.Action[R], *, timeout: float | None = None) -> R:
        """Send one action built in `ami/actions.py` and return its typed reply.

        Never queued for later: if the connection is down this raises AmiDisconnected at once.
        An `Error` response raises AmiActionFailed unless the action says `check=False`.
        Errors: AmiDisconnected, AmiTimeout, AmiActionFailed (all AmiError).
        """
        if self._protocol is None or self.state != "connected":
            raise AmiDisconnected(action.name)
        raw = await self._send(self._protocol, action, timeout=timeout)
        first = actions.reply_of(raw)
        if action.check and not first.ok and first.get("Response") == "Error":
            raise AmiActionFailed(action.name, first.message)
        return action.parse(raw)
