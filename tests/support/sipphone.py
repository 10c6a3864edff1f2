"""SIP test phone for the callcenter integration tests.

``SipPhone`` is a scriptable SIP user agent that plays the outside parties of a
contact-centre call against a real Asterisk (PJSIP, UDP, loopback):

* **agent phone** - ``SipPhone(username="agent1", password="...")`` REGISTERs
  to its Asterisk endpoint and receives calls
  (``wait_for_incoming()`` -> ``PhoneCall.answer()``).
* **trunk caller** - ``SipPhone(username=None, caller_id="+15551230001")``
  never REGISTERs and has no credentials.  It sends
  ``INVITE sip:<DID>@<host>:<port>`` with the caller ID as From user; Asterisk
  must identify it as the trunk by source IP (``type=identify`` +
  ``endpoint_identifier_order=username,ip``).  A 401/407 challenge makes
  ``call()`` raise ``CallFailed(status=401)``.

Either role can place calls, send/receive PCMU audio, send RFC 4733 DTMF,
hang up and observe the remote hang-up.  The API is synchronous and
thread-safe (pyVoIP is thread based); from asyncio tests wrap blocking calls
in ``asyncio.to_thread``.  Each phone needs its own SIP port and RTP port
range - use ``PortAllocator`` / ``allocate_phone_ports()``::

    ports = allocate_phone_ports()
    with SipPhone(server_port=5060, username="agent1", password="pw",
                  **ports.as_kwargs()) as agent:
        call = agent.wait_for_incoming()
        call.answer()

SIP traffic is logged at DEBUG on this module's logger (pytest:
``--log-level=DEBUG``).

Asterisk side, per endpoint the phones talk to: ``allow=ulaw``,
``dtmf_mode=rfc4733``; ``direct_media=no`` recommended (direct-media
re-INVITEs are handled too).  ``qualify_frequency`` may stay on: OPTIONS are
answered.  Connected-line re-INVITEs (``send_pai``/``send_rpid``) are fine.

Built on pyVoIP 1.6.8: its UDP socket + message parser (``SIPClient``,
``SIPMessage``), REGISTER and 200-OK/SDP generators, the SDP -> RTP set-up
of ``VoIPCall`` and the RTP socket/receive loop of ``RTPClient``.
pyVoIP defects worked around here (measured against Asterisk 22):

1. ACK for a 200 OK carries a fresh random To-tag (plus the To URI as
   Request-URI and the INVITE's branch); Asterisk never matches it and tears
   the call down after ~32 s.  -> ``_SipClient.build_ack`` uses the 200's
   To-tag, its Contact as Request-URI and a new branch.
2. No DTMF sending.  -> ``_RtpStream`` interleaves RFC 4733 telephone-event
   packets into the RTP stream (same SSRC, sequence and timestamp clock).
   The offer/answer SDP carries ``telephone-event/8000`` (pt 101).
3. The authenticated INVITE reuses the Via branch of the challenged one (and
   signs a ``uri`` that is not the Request-URI, ignores qop/opaque).
   -> new branch and CSeq, RFC 2617 digest incl. qop=auth.
4. ``SIPClient.invite()`` blocks in ``recv()`` without timeout, understands
   only 100/180/401 and does not ACK failures.  -> own non-blocking INVITE
   client transaction: every final response is ACKed, failures raise
   ``CallFailed`` with the SIP status, no-answer sends CANCEL.
5. OPTIONS cannot be parsed (unknown method) so qualify fails.  -> OPTIONS is
   added to ``pyVoIP.SIPCompatibleMethods`` and answered with 200.
6. Only PCMU works: RTPClient sends with the first offered codec and
   "encodes" PCMA with the u-law encoder.  -> media is restricted to PCMU
   (+ telephone-event); the answer SDP lists only those.
7. Circular import: ``pyVoIP.VoIP`` must be imported before ``pyVoIP.SIP``.
8. ``VoIPPhone.start()`` always REGISTERs (blocking, 30 s timeout, then a
   refresh thread that reads the shared socket and can swallow call
   signalling).  -> REGISTER is optional and asynchronous (responses are
   routed by the receive thread); Expires is 3600 s and never refreshed.
9. A re-INVITE (e.g. Asterisk's connected-line update after Dial/Queue)
   makes pyVoIP re-bind its RTP sockets (OSError) and never answer, so
   Asterisk drops the call.  -> answered with the unchanged SDP.
10. BYE goes out with the peer's Via (or the INVITE's branch); the 200 to a
    BYE has a random To-tag; CANCEL is not answered with 487; 180 Ringing
    carries the caller's Contact.  -> own request/response builders.
11. Calls vanish from ``VoIPPhone.calls`` once the call-callback thread ends
    (later BYEs are ignored) and RTP ports of incoming calls are never
    released.  -> own call table and port bookkeeping.
12. Call-IDs are sha256 of a per-process counter, so a re-created phone on
    the same port repeats them.  -> uuid4 Call-IDs.
13. All pyVoIP threads are non-daemon (a forgotten phone hangs pytest).
    -> our threads are daemons.
14. Only SDP bodies can be parsed (any other body, e.g. the message/sipfrag
    of a NOTIFY, raises), and there is no REFER.  -> other bodies are kept
    raw (``_parse_message``); ``PhoneCall.refer()`` / ``refer_replacing()``
    send in-dialog REFERs (RFC 3515, Replaces per RFC 3891) and NOTIFYs are
    answered with 200; ``hold()`` / ``resume()`` re-INVITE with
    ``a=sendonly`` / ``a=sendrecv``.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import os
import queue
import random
import re
import select
import socket
import struct
import threading
import time
import urllib.parse
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

with warnings.catch_warnings():
    # audioop is deprecated since Python 3.11 (pyVoIP imports it as well).
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

    # Defect 7: pyVoIP.VoIP must be imported before pyVoIP.SIP.
    import pyVoIP
    import pyVoIP.VoIP  # noqa: F401
    from pyVoIP import RTP, SIP
    from pyVoIP.VoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
    from pyVoIP.VoIP.status import PhoneStatus

__all__ = [
    "CallFailed",
    "InvalidStateError",
    "PhoneCall",
    "PhonePorts",
    "PortAllocator",
    "RegistrationFailed",
    "TransferFailed",
    "SipPhone",
    "allocate_phone_ports",
]

log = logging.getLogger(__name__)

# Defect 5: let pyVoIP's parser accept OPTIONS so that we can answer it; NOTIFY too (the
# progress of a REFER we sent, RFC 3515), and REFER in the Allow we advertise.
for _method in ("OPTIONS", "NOTIFY", "REFER"):
    if _method not in pyVoIP.SIPCompatibleMethods:
        pyVoIP.SIPCompatibleMethods.append(_method)

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms of 8 kHz audio per RTP packet
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
ULAW_SILENCE = 0xFF
DTMF_EVENTS = "0123456789*#ABCD"
_PCMU = RTP.PayloadType.PCMU
_EVENT = RTP.PayloadType.EVENT


class CallFailed(Exception):
    """An outgoing call was not answered. ``status`` is the final SIP status
    (None for a local timeout)."""

    def __init__(self, number: str, status: Optional[int], reason: str):
        self.number = number
        self.status = status
        self.reason = reason
        super().__init__(
            f"call to {number!r} failed: {status if status is not None else '-'} {reason}"
        )


class TransferFailed(Exception):
    """A REFER was refused (``status``: the final SIP status) or not answered (None)."""

    def __init__(self, target: str, status: Optional[int], reason: str):
        self.target = target
        self.status = status
        self.reason = reason
        super().__init__(
            f"REFER to {target!r} failed: {status if status is not None else '-'} {reason}")


class RegistrationFailed(Exception):
    """REGISTER was rejected or not answered."""

    def __init__(self, username: str, status: Optional[int], reason: str):
        self.username = username
        self.status = status
        self.reason = reason
        super().__init__(f"REGISTER of {username!r} failed: {status} {reason}")


# --------------------------------------------------------------------------
# Port allocation
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PhonePorts:
    """Local ports for one phone: SIP port and an even-aligned RTP range."""

    sip_port: int
    rtp_low: int
    rtp_high: int

    def as_kwargs(self) -> Dict[str, int]:
        return {"sip_port": self.sip_port, "rtp_low": self.rtp_low, "rtp_high": self.rtp_high}


def _udp_port_free(host: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class PortAllocator:
    """Hands out distinct, currently-free port blocks (SIP port + RTP range)
    so many phones can coexist in one test session.

    Blocks are ``2 + rtp_ports`` ports wide, starting at ``base``.  With
    pytest-xdist each worker gets its own ``span``-sized window
    (``base + n * span`` for worker ``gwN``).  Thread-safe.
    """

    def __init__(
        self,
        base: Optional[int] = None,
        *,
        rtp_ports: int = 20,
        span: int = 2000,
        host: str = "127.0.0.1",
    ):
        if base is None:
            worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
            index = int(worker[2:]) if worker[2:].isdigit() else 0
            base = 40000 + index * span
        self.base = base + (base % 2)  # RTP ports must be even
        self.block = 2 + rtp_ports + (rtp_ports % 2)
        self.span = span
        self.host = host
        self._next = self.base
        self._lock = threading.Lock()

    def allocate(self) -> PhonePorts:
        with self._lock:
            while self._next + self.block <= self.base + self.span:
                start = self._next
                self._next += self.block
                ports = range(start, start + self.block)
                if all(_udp_port_free(self.host, p) for p in ports):
                    return PhonePorts(start, start + 2, start + self.block - 1)
            raise RuntimeError(f"no free port block left in {self.base}..{self.base + self.span}")


_default_allocator: Optional[PortAllocator] = None
_default_allocator_lock = threading.Lock()


def allocate_phone_ports() -> PhonePorts:
    """Ports for one more phone from a process-wide ``PortAllocator()``."""
    global _default_allocator
    with _default_allocator_lock:
        if _default_allocator is None:
            _default_allocator = PortAllocator()
        return _default_allocator.allocate()


# --------------------------------------------------------------------------
# Small SIP helpers
# --------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _uri_of(name_addr: str) -> str:
    """'"x" <sip:a@b:5060>;tag=1' -> 'sip:a@b:5060'."""
    m = re.search(r"<([^>]+)>", name_addr)
    if m:
        return m.group(1)
    return name_addr.split(";")[0].strip()


def _raw_header_values(msg: SIP.SIPMessage, name: str) -> List[str]:
    """All raw values of header ``name`` (pyVoIP keeps only parsed forms)."""
    head = msg.raw.split(b"\r\n\r\n", 1)[0].decode("utf8", "replace")
    values = []
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            values.append(value.strip())
    return values


def _parse_message(raw: bytes) -> SIP.SIPMessage:
    """pyVoIP's parser for SDP (or empty) bodies; any other body (defect 14) is
    left out of the parse and kept as ``message.raw_body``."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    kind = re.search(rb"\r\n(?:Content-Type|c)\s*:\s*([^\r;]+)", head, re.IGNORECASE)
    if body.strip() and kind is not None and kind.group(1).strip().lower() != b"application/sdp":
        message = SIP.SIPMessage(head + sep)
        message.raw = raw
    else:
        message = SIP.SIPMessage(raw)
    message.raw_body = body  # type: ignore[attr-defined]
    return message


def _status(msg: SIP.SIPMessage) -> Tuple[int, str]:
    parts = msg.heading.decode("utf8", "replace").split(" ", 2)
    return int(parts[1]), parts[2] if len(parts) > 2 else ""


class _LoggedSocket:
    """Wraps the SIP socket so every datagram pyVoIP sends gets logged."""

    def __init__(self, sock: socket.socket, name: str):
        self._sock = sock
        self._name = name

    def sendto(self, data: bytes, addr: Tuple[str, int]) -> int:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s >>> %s:%s\n%s", self._name, addr[0], addr[1], data.decode("utf8", "replace"))
        return self._sock.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


# --------------------------------------------------------------------------
# RTP
# --------------------------------------------------------------------------


class _RtpStream(RTP.RTPClient):
    """pyVoIP RTPClient with PCMU pinned, paced sending of queued u-law audio,
    RFC 4733 DTMF injection and a recording of everything received."""

    def __init__(
        self,
        assoc: Dict[int, RTP.PayloadType],
        inIP: str,
        inPort: int,
        outIP: str,
        outPort: int,
        sendrecv: Any,
        dtmf: Optional[Callable[[str], None]] = None,
    ):
        # Defect 6: only PCMU (+ telephone-event) is usable.
        usable = {pt: c for pt, c in assoc.items() if c in (_PCMU, _EVENT)}
        if _PCMU not in usable.values():
            raise RTP.RTPParseError(f"remote offered no PCMU: {assoc}")
        super().__init__(usable, inIP, inPort, outIP, outPort, sendrecv, dtmf)
        self.preference = _PCMU
        self.audio_pt = next(pt for pt, c in usable.items() if c == _PCMU)
        self.event_pt: Optional[int] = next((pt for pt, c in usable.items() if c == _EVENT), None)
        self._tx_lock = threading.Lock()
        self._tx_audio = bytearray()  # u-law bytes waiting to be sent
        # Each entry: (event payload, marker bit, starts a new event).
        self._tx_events: Deque[Tuple[bytes, bool, bool]] = collections.deque()
        self._ts = self.outTimestamp
        self._event_ts = 0
        self._rx_lock = threading.Lock()
        self._rx_chunks: List[Tuple[float, bytes]] = []  # (arrival time, s16le PCM)
        self._rx_dtmf: List[str] = []
        self._rx_event_ends: set = set()
        self._started = False
        self._threads: List[threading.Thread] = []

    # pyVoIP's gen_ms() calls start() on every (re)negotiation; bind only once
    # and use daemon threads (defects 9, 13).
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.sin = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sout = self.sin  # symmetric RTP: send from the advertised port
        self.sin.bind((self.inIP, self.inPort))
        self.sin.setblocking(False)
        for target, name in ((self.recv, "rx"), (self.trans, "tx")):
            t = threading.Thread(target=target, name=f"rtp-{name}-{self.inPort}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.NSD = False
        if self._started:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join(timeout=1)
            self.sin.close()

    # -- sending ------------------------------------------------------------

    def trans(self) -> None:
        """Send one packet every 20 ms: a queued DTMF event packet if any,
        else queued audio, else u-law silence (keeps NAT/strictrtp happy)."""
        next_at = time.monotonic()
        while self.NSD:
            with self._tx_lock:
                if self._tx_events:
                    payload, marker, new_event = self._tx_events.popleft()
                    if new_event:
                        self._event_ts = self._ts
                    pt, ts = self.event_pt, self._event_ts
                else:
                    payload = bytes(self._tx_audio[:FRAME_SAMPLES])
                    del self._tx_audio[:FRAME_SAMPLES]
                    payload += bytes([ULAW_SILENCE]) * (FRAME_SAMPLES - len(payload))
                    marker, pt, ts = False, self.audio_pt, self._ts
            header = struct.pack(
                "!BBHII",
                0x80,
                (0x80 if marker else 0) | int(pt or 0),
                self.outSequence & 0xFFFF,
                ts & 0xFFFFFFFF,
                self.outSSRC,
            )
            try:
                self.sout.sendto(header + payload, (self.outIP, self.outPort))
            except OSError:
                pass  # socket closed by stop() or ICMP error; keep pacing
            self.outSequence = (self.outSequence + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
            next_at += FRAME_SECONDS
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:  # fell far behind (suspended?): resync clock
                next_at = time.monotonic()

    def queue_audio(self, ulaw: bytes) -> None:
        with self._tx_lock:
            self._tx_audio += ulaw

    def queue_dtmf(self, digit: str, duration_ms: int) -> None:
        """Queue the RFC 4733 packets of one event: one per 20 ms with
        growing duration (first one with marker), then 3 end packets."""
        if self.event_pt is None:
            raise RuntimeError("telephone-event was not negotiated (dtmf_mode=rfc4733?)")
        event = DTMF_EVENTS.index(digit.upper())
        volume = 10  # -10 dBm0
        frames = max(1, math.ceil(duration_ms / 20))
        packets: List[Tuple[bytes, bool, bool]] = []
        for i in range(1, frames + 1):
            dur = i * FRAME_SAMPLES
            packets.append((struct.pack("!BBH", event, volume, dur), i == 1, i == 1))
        end = struct.pack("!BBH", event, 0x80 | volume, frames * FRAME_SAMPLES)
        packets += [(end, False, False)] * 3
        with self._tx_lock:
            self._tx_events.extend(packets)

    def tx_pending_seconds(self) -> float:
        with self._tx_lock:
            return (len(self._tx_audio) / SAMPLE_RATE) + len(self._tx_events) * FRAME_SECONDS

    # -- receiving ----------------------------------------------------------

    def parse_pcmu(self, packet: RTP.RTPMessage) -> None:
        # Record instead of writing into pyVoIP's timestamp-indexed buffer
        # (which grows forever and rebuilds itself on timestamp jumps).
        pcm = audioop.ulaw2lin(packet.payload, 2)
        with self._rx_lock:
            self._rx_chunks.append((time.monotonic(), pcm))

    def parse_telephone_event(self, packet: RTP.RTPMessage) -> None:
        payload = packet.payload
        if len(payload) < 4 or payload[0] >= len(DTMF_EVENTS):
            return
        if payload[1] & 0x80:  # end bit; the end packet is sent 3 times
            with self._rx_lock:
                if packet.timestamp not in self._rx_event_ends:
                    self._rx_event_ends.add(packet.timestamp)
                    self._rx_dtmf.append(DTMF_EVENTS[payload[0]])

    def rx_chunks(self) -> List[Tuple[float, bytes]]:
        with self._rx_lock:
            return list(self._rx_chunks)

    def rx_dtmf(self) -> str:
        with self._rx_lock:
            return "".join(self._rx_dtmf)


# --------------------------------------------------------------------------
# SIP transport / transactions
# --------------------------------------------------------------------------


class _SipClient(SIP.SIPClient):
    """pyVoIP SIPClient with our own receive loop and dispatch; requests and
    responses are routed to the owning ``_Phone``."""

    phone: "_Phone"

    def __init__(self, phone: "_Phone", *, server: str, port: int, username: str,
                 password: str, my_ip: str, my_port: int, display_name: Optional[str]):
        super().__init__(server, port, username, password, phone=phone,
                         myIP=my_ip, myPort=my_port)
        self.display_name = display_name
        self.default_expires = 3600  # no refresh (defect 8): tests are shorter
        self.register_timeout = 10
        self._reg_lock = threading.Lock()
        self._reg_responses: "queue.Queue[SIP.SIPMessage]" = queue.Queue()
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        if self.NSD:
            raise RuntimeError("already started")
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((self.myIP, self.myPort))
        self.out = _LoggedSocket(self.s, f"sip:{self.myPort}")
        self.NSD = True
        self._thread = threading.Thread(target=self.recv_loop, name=f"sip-{self.myPort}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self.NSD:
            return
        self.NSD = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self.s.close()

    def send(self, message: str) -> None:
        self.out.sendto(message.encode("utf8"), (self.server, self.port))

    def recv_loop(self) -> None:
        # Only this thread reads the socket (pyVoIP's register()/invite()
        # also read it and could swallow each other's messages).
        while self.NSD:
            try:
                ready, _, _ = select.select([self.s], [], [], 0.2)
                if not ready:
                    continue
                raw = self.s.recv(65535)
            except (OSError, ValueError):
                if not self.NSD:
                    return
                time.sleep(0.01)  # e.g. ECONNREFUSED after ICMP
                continue
            if not raw.strip(b"\r\n\x00"):
                continue  # keep-alive
            if log.isEnabledFor(logging.DEBUG):
                log.debug("sip:%s <<<\n%s", self.myPort, raw.decode("utf8", "replace"))
            try:
                message = _parse_message(raw)
            except Exception:
                log.warning("sip:%s cannot parse:\n%r", self.myPort, raw[:300])
                continue
            try:
                self.parse_message(message)
            except Exception:
                log.exception("sip:%s error handling message", self.myPort)

    def parse_message(self, message: SIP.SIPMessage) -> None:
        phone = self.phone
        if message.type == SIP.SIPMessageType.RESPONSE:
            method = message.headers.get("CSeq", {}).get("method", "")
            if method == "REGISTER":
                self._reg_responses.put(message)
            elif method == "INVITE":
                phone.on_invite_response(message)
            elif method == "BYE":
                phone.on_bye_response(message)
            elif method == "REFER":
                phone.on_refer_response(message)
            return  # CANCEL responses need no action
        method = message.method
        if method == "INVITE":
            phone.on_invite(message)
        elif method == "ACK":
            phone.on_ack(message)
        elif method == "BYE":
            phone.on_bye(message)
        elif method == "CANCEL":
            phone.on_cancel(message)
        elif method == "NOTIFY":
            phone.on_notify(message)
        elif method == "OPTIONS":
            self.send(self.build_response(message, 200, "OK", to_tag=self.gen_tag()))
        else:
            self.send(self.build_response(message, 501, "Not Implemented", to_tag=self.gen_tag()))

    # -- registration (defect 8) ---------------------------------------------

    def register_blocking(self, timeout: float, deregister: bool = False) -> None:
        """REGISTER (or un-REGISTER) using pyVoIP's generators; responses come
        through the receive thread.  Raises RegistrationFailed."""
        with self._reg_lock:
            while not self._reg_responses.empty():
                self._reg_responses.get_nowait()
            self.send(self.gen_first_response(deregister=deregister))
            resp = self._await_register(timeout)
            code, _ = _status(resp)
            if code in (401, 407):
                self.send(self.gen_register(resp, deregister=deregister))
                resp = self._await_register(timeout)
            code, reason = _status(resp)
            if code != 200:
                raise RegistrationFailed(self.username, code, reason)

    def _await_register(self, timeout: float) -> SIP.SIPMessage:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RegistrationFailed(self.username, None, f"no final response within {timeout}s")
            try:
                resp = self._reg_responses.get(timeout=remaining)
            except queue.Empty:
                continue
            if _status(resp)[0] >= 200:
                return resp

    # -- message builders -----------------------------------------------------

    def gen_call_id(self) -> str:  # defect 12
        return f"{uuid.uuid4().hex}@{self.myIP}"

    def via(self, branch: str) -> str:
        return f"Via: SIP/2.0/UDP {self.myIP}:{self.myPort};branch={branch};rport\r\n"

    def contact(self) -> str:
        return f"Contact: <sip:{self.username}@{self.myIP}:{self.myPort}>\r\n"

    def sdp(self, sess_id: int, port: int, codecs: Dict[int, RTP.PayloadType],
            direction: str = "sendrecv", version: Optional[int] = None) -> str:
        body = (
            "v=0\r\n"
            f"o=pyVoIP {sess_id} {sess_id + 2 if version is None else version} IN IP4 {self.myIP}\r\n"
            f"s=pyVoIP {pyVoIP.__version__}\r\n"
            f"c=IN IP4 {self.myIP}\r\n"
            "t=0 0\r\n"
            f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt in codecs)}\r\n"
        )
        for pt, codec in codecs.items():
            body += f"a=rtpmap:{pt} {codec}/{codec.rate}\r\n"
            if codec == _EVENT:
                body += f"a=fmtp:{pt} 0-15\r\n"
        return body + f"a=ptime:20\r\na={direction}\r\n"

    def build_invite(self, call: "_Call", auth: str = "") -> str:
        body = self.sdp(int(call.session_id), call.port, call.ms[call.port])
        return (
            f"INVITE {call.request_uri} SIP/2.0\r\n"
            + self.via(call.invite_branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {call.invite_cseq} INVITE\r\n"
            + self.contact()
            + f"Allow: {', '.join(pyVoIP.SIPCompatibleMethods)}\r\n"
            + f"User-Agent: pyVoIP {pyVoIP.__version__} (callcenter sipphone)\r\n"
            + auth
            + "Content-Type: application/sdp\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n"
            + body
        )

    def build_ack(self, call: "_Call", response: SIP.SIPMessage) -> str:
        """Defect 1.  2xx: new transaction to the remote target (Contact) with
        the 200's To-tag.  Non-2xx: part of the INVITE transaction (same
        branch, Request-URI of the INVITE)."""
        code, _ = _status(response)
        to_tag = response.headers["To"]["tag"]
        if 200 <= code < 300:
            ruri = _uri_of(response.headers.get("Contact", call.request_uri))
            branch = self.gen_branch()
        else:
            ruri, branch = call.request_uri, call.invite_branch
        return (
            f"ACK {ruri} SIP/2.0\r\n"
            + self.via(branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party};tag={to_tag}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {call.invite_cseq} ACK\r\n"
            + "Content-Length: 0\r\n\r\n"
        )

    def build_cancel(self, call: "_Call") -> str:
        return (
            f"CANCEL {call.request_uri} SIP/2.0\r\n"
            + self.via(call.invite_branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {call.invite_cseq} CANCEL\r\n"
            + "Content-Length: 0\r\n\r\n"
        )

    def build_bye(self, call: "_Call") -> str:
        """Defect 10: own Via with a new branch, dialog tags both ways."""
        return (
            f"BYE {call.remote_target} SIP/2.0\r\n"
            + self.via(call.bye_branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party};tag={call.remote_tag}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {call.bye_cseq} BYE\r\n"
            + f"User-Agent: pyVoIP {pyVoIP.__version__} (callcenter sipphone)\r\n"
            + "Content-Length: 0\r\n\r\n"
        )

    def build_reinvite(self, call: "_Call", direction: str, cseq: int, branch: str, auth: str = "") -> str:
        """In-dialog INVITE with our media as before but ``a=<direction>``
        (sendonly: hold, RFC 3264 8.4) and a higher SDP version."""
        rtp = call.rtp
        assert rtp is not None
        call.sdp_version = max(call.sdp_version, int(call.session_id) + 2) + 1
        body = self.sdp(int(call.session_id), rtp.inPort, rtp.assoc, direction, call.sdp_version)
        return (
            f"INVITE {call.remote_target} SIP/2.0\r\n"
            + self.via(branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party};tag={call.remote_tag}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {cseq} INVITE\r\n"
            + self.contact()
            + f"Allow: {', '.join(pyVoIP.SIPCompatibleMethods)}\r\n"
            + f"User-Agent: pyVoIP {pyVoIP.__version__} (callcenter sipphone)\r\n"
            + auth
            + "Content-Type: application/sdp\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n"
            + body
        )

    def build_reinvite_ack(self, call: "_Call", cseq: int, branch: str) -> str:
        return (
            f"ACK {call.remote_target} SIP/2.0\r\n"
            + self.via(branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party};tag={call.remote_tag}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {cseq} ACK\r\n"
            + "Content-Length: 0\r\n\r\n"
        )

    def build_refer(self, call: "_Call", refer_to: str, cseq: int, branch: str, auth: str = "") -> str:
        """In-dialog REFER (RFC 3515): to the remote target, our Contact (REFER
        is a target refresh request), ``Refer-To`` and ``Referred-By``."""
        return (
            f"REFER {call.remote_target} SIP/2.0\r\n"
            + self.via(branch)
            + "Max-Forwards: 70\r\n"
            + f"From: {call.local_party}\r\n"
            + f"To: {call.remote_party};tag={call.remote_tag}\r\n"
            + f"Call-ID: {call.call_id}\r\n"
            + f"CSeq: {cseq} REFER\r\n"
            + self.contact()
            + f"Refer-To: <{refer_to}>\r\n"
            + f"Referred-By: <sip:{self.username}@{self.server}>\r\n"
            + f"Allow: {', '.join(pyVoIP.SIPCompatibleMethods)}\r\n"
            + f"User-Agent: pyVoIP {pyVoIP.__version__} (callcenter sipphone)\r\n"
            + auth
            + "Content-Length: 0\r\n\r\n"
        )

    def build_response(self, request: SIP.SIPMessage, code: int, reason: str,
                       to_tag: Optional[str] = None, contact: bool = False) -> str:
        """Response echoing Via/From/To/Call-ID/CSeq verbatim (defect 10);
        adds ``to_tag`` unless the request's To already has one."""
        lines = [f"SIP/2.0 {code} {reason}"]
        lines += [f"Via: {v}" for v in _raw_header_values(request, "Via")]
        lines += [f"From: {v}" for v in _raw_header_values(request, "From")]
        to = _raw_header_values(request, "To")[0]
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines.append(f"To: {to}")
        lines.append(f"Call-ID: {request.headers['Call-ID']}")
        lines += [f"CSeq: {v}" for v in _raw_header_values(request, "CSeq")]
        if contact:
            lines.append(self.contact().strip())
        lines.append(f"Allow: {', '.join(pyVoIP.SIPCompatibleMethods)}")
        lines.append(f"User-Agent: pyVoIP {pyVoIP.__version__} (callcenter sipphone)")
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    def authorization(self, challenge: SIP.SIPMessage, method: str, uri: str) -> str:
        """Defect 3: digest response over the real Request-URI, with qop."""
        chal = challenge.authentication
        code, _ = _status(challenge)
        algorithm = chal.get("algorithm", "MD5")
        if algorithm.upper() != "MD5":
            raise CallFailed(uri, code, f"unsupported digest algorithm {algorithm}")
        realm, nonce = chal["realm"], chal["nonce"]
        ha1 = _md5(f"{self.username}:{realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        params = f'username="{self.username}",realm="{realm}",nonce="{nonce}",uri="{uri}"'
        if "auth" in chal.get("qop", "").split(","):
            cnonce, nc = uuid.uuid4().hex[:16], "00000001"
            digest = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            params += f',qop=auth,nc={nc},cnonce="{cnonce}"'
        else:
            digest = _md5(f"{ha1}:{nonce}:{ha2}")
        params += f',response="{digest}",algorithm=MD5'
        if "opaque" in chal:
            params += f',opaque="{chal["opaque"]}"'
        header = "Proxy-Authorization" if code == 407 else "Authorization"
        return f"{header}: Digest {params}\r\n"


# --------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------


class _Call(VoIPCall):
    """pyVoIP VoIPCall plus dialog state and a condition variable.
    All state changes happen under ``cond``."""

    phone: "_Phone"
    sip: _SipClient

    def __init__(self, phone: "_Phone", callstate: CallState, request: SIP.SIPMessage,
                 session_id: int, my_ip: str, *, direction: str,
                 ms: Optional[Dict[int, Dict[int, RTP.PayloadType]]] = None):
        # Must exist before VoIPCall.__init__ (it creates RTP streams).
        self.cond = threading.Condition()
        self.direction = direction
        self.ports: List[int] = []
        self.final_status: Optional[int] = None
        self.final_reason = ""
        self.end_reason: Optional[str] = None
        self.ack_received = threading.Event()
        self.bye_answered = threading.Event()
        self.last_invite_response: Optional[str] = None
        self.got_provisional = False
        self.abandoned = False  # local side gave up while dialling
        # Dialog identifiers from our point of view (filled by creators).
        self.request_uri = ""
        self.local_party = ""   # our From/To value incl. our tag
        self.remote_party = ""  # their From/To value without tag
        self.remote_tag = ""
        self.remote_target = ""
        self.invite_branch = ""
        self.invite_cseq = 1
        self.invite_text = ""
        self.bye_branch = ""
        self.bye_cseq = 1
        self.auth_tried = False
        self.hanging_up = False
        # REFERs we sent: their responses (by CSeq) and the sipfrag status
        # lines of the NOTIFYs that report their progress.
        self.refer_responses: Dict[int, SIP.SIPMessage] = {}
        self.refer_progress: List[str] = []
        self.notify_cseqs: set = set()
        self.referred = False  # a REFER of ours was accepted: BYE once it succeeded
        # Our re-INVITEs (hold/resume): CSeq -> (branch, responses so far).
        self.reinvites: Dict[int, Tuple[str, List[SIP.SIPMessage]]] = {}
        self.sdp_version = 0
        self.public: Optional["PhoneCall"] = None
        super().__init__(phone, callstate, request, session_id, my_ip, ms=ms, sendmode="sendrecv")

    @property
    def rtp(self) -> Optional[_RtpStream]:
        return self.RTPClients[0] if self.RTPClients else None  # type: ignore[return-value]

    def create_rtp_clients(self, codecs: Dict[int, RTP.PayloadType], ip: str, port: int,
                           request: SIP.SIPMessage, baseport: int) -> None:
        # One stream, to the most specific c= line (pyVoIP makes one per c=).
        try:
            remote_ip = request.body["c"][-1]["address"]
            stream = _RtpStream(codecs, ip, port, remote_ip, baseport,
                                self.sendmode, dtmf=self.dtmf_callback)
        except Exception:
            self.phone.give_back_port(port)
            raise
        if port not in self.ports:
            self.ports.append(port)
        self.RTPClients.append(stream)

    def renegotiate(self, request: SIP.SIPMessage) -> None:
        """Defect 9: answer a re-INVITE with the unchanged SDP and follow a
        changed remote media address."""
        rtp = self.rtp
        if rtp is None:
            self.phone.sip.send(self.phone.sip.build_response(request, 488, "Not Acceptable Here"))
            return
        for media in request.body.get("m", []):
            if media["type"] == "audio":
                rtp.outIP = request.body["c"][-1]["address"]
                rtp.outPort = media["port"]
                break
        answer = self.phone.sip.gen_answer(request, self.session_id, {rtp.inPort: rtp.assoc}, "sendrecv")
        self.phone.sip.send(answer)

    def set_state(self, state: CallState, reason: Optional[str] = None) -> None:
        with self.cond:
            self.state = state
            if state == CallState.ENDED and self.end_reason is None:
                self.end_reason = reason
            self.cond.notify_all()

    def finish(self, reason: str) -> None:
        """Stop media, free ports, forget the call, mark it ended."""
        for stream in self.RTPClients:
            stream.stop()
        self.phone.forget(self)
        self.set_state(CallState.ENDED, reason)

    def __del__(self) -> None:  # pyVoIP's __del__ touches phone bookkeeping
        pass


class _Phone(VoIPPhone):
    """pyVoIP VoIPPhone with its own call table, port bookkeeping and
    handlers for everything the receive thread dispatches."""

    sip: _SipClient

    def __init__(self, owner: "SipPhone", *, server: str, port: int, username: str,
                 password: str, my_ip: str, sip_port: int, rtp_low: int, rtp_high: int,
                 display_name: Optional[str]):
        super().__init__(server, port, username, password, myIP=my_ip,
                         sipPort=sip_port, rtpPortLow=rtp_low, rtpPortHigh=rtp_high)
        self.owner = owner
        self.sip = _SipClient(self, server=server, port=port, username=username,
                              password=password, my_ip=my_ip, my_port=sip_port,
                              display_name=display_name)
        self._lock = threading.RLock()
        self._free_ports = collections.deque(p for p in range(rtp_low + rtp_low % 2, rtp_high + 1, 2))
        self._session_ids = iter(range(random.randint(1000, 9000), 10**9))
        # Call-ID -> last final response of recently ended incoming calls, to
        # answer late INVITE retransmissions instead of ringing again.
        self._ended: "collections.OrderedDict[str, str]" = collections.OrderedDict()
        # Call-ID -> ended call, for the NOTIFYs of a REFER that arrive after the BYE.
        self._gone: "collections.OrderedDict[str, _Call]" = collections.OrderedDict()

    # -- ports (defect 11) ------------------------------------------------------

    def request_port(self, blocking: bool = True) -> int:
        with self._lock:
            for _ in range(len(self._free_ports)):
                port = self._free_ports.popleft()  # round robin: no quick reuse
                if _udp_port_free(self.myIP, port):
                    return port
                self._free_ports.append(port)
        raise pyVoIP.VoIP.NoPortsAvailableError(
            f"no free RTP port in {self.rtpPortLow}-{self.rtpPortHigh}")

    def give_back_port(self, port: int) -> None:
        with self._lock:
            if port not in self._free_ports:
                self._free_ports.append(port)

    def release_ports(self, call: Optional[VoIPCall] = None) -> None:
        if isinstance(call, _Call):
            for port in call.ports:
                self.give_back_port(port)
            call.ports = []

    def forget(self, call: _Call) -> None:
        with self._lock:
            if self.calls.get(call.call_id) is call:
                del self.calls[call.call_id]
            self._gone[call.call_id] = call
            while len(self._gone) > 100:
                self._gone.popitem(last=False)
            if call.direction == "incoming" and call.last_invite_response:
                self._ended[call.call_id] = call.last_invite_response
                while len(self._ended) > 100:
                    self._ended.popitem(last=False)
        self.release_ports(call)

    def find(self, message: SIP.SIPMessage) -> Optional[_Call]:
        with self._lock:
            return self.calls.get(message.headers.get("Call-ID", ""))  # type: ignore[return-value]

    def next_session_id(self) -> int:
        with self._lock:
            return next(self._session_ids)

    # -- outgoing ---------------------------------------------------------------

    def dial(self, number: str) -> _Call:
        sip = self.sip
        port = self.request_port()
        ms = {port: {0: _PCMU, 101: _EVENT}}
        call_id = sip.gen_call_id()
        tag = sip.gen_tag()
        sip.tagLibrary[call_id] = tag  # used by pyVoIP's gen_answer on re-INVITE
        ruri = f"sip:{number}@{self.server}:{self.port}"
        # RFC 3261 quoted-string: backslash and double quote are escaped.
        quoted = (sip.display_name or "").replace("\\", "\\\\").replace('"', '\\"')
        name = f'"{quoted}" ' if sip.display_name else ""
        placeholder = SIP.SIPMessage(
            f"INVITE {ruri} SIP/2.0\r\nCall-ID: {call_id}\r\n\r\n".encode())
        call = _Call(self, CallState.DIALING, placeholder, self.next_session_id(),
                     self.myIP, direction="outgoing", ms=ms)
        call.ports.append(port)
        call.request_uri = ruri
        call.local_party = f"{name}<sip:{self.username}@{self.server}>;tag={tag}"
        call.remote_party = f"<{ruri}>"
        call.invite_branch = sip.gen_branch()
        call.invite_cseq = random.randint(1, 1000)
        call.invite_text = sip.build_invite(call)
        call.request = SIP.SIPMessage(call.invite_text.encode())
        with self._lock:
            self.calls[call_id] = call
        sip.send(call.invite_text)
        return call

    def on_invite_response(self, resp: SIP.SIPMessage) -> None:
        call = self.find(resp)
        code, reason = _status(resp)
        cseq = int(resp.headers["CSeq"]["check"])
        if call is not None and cseq in call.reinvites:  # our hold / resume
            branch, responses = call.reinvites[cseq]
            if code >= 200:  # every final response is ACKed (a 2xx's in a new transaction)
                self.sip.send(self.sip.build_reinvite_ack(call, cseq, self.sip.gen_branch() if code < 300
                                                          else branch))
            with call.cond:
                responses.append(resp)
                call.cond.notify_all()
            return
        if call is None or call.direction != "outgoing":
            if code >= 200:
                log.debug("response %s for unknown call %s", code, resp.headers.get("Call-ID"))
            return
        if int(resp.headers["CSeq"]["check"]) != call.invite_cseq:
            return  # late retransmission for the challenged INVITE
        if code < 200:
            with call.cond:
                call.got_provisional = True
                call.cond.notify_all()
            return
        if code < 300:
            self.sip.send(self.sip.build_ack(call, resp))  # also for retransmitted 200s
            with call.cond:
                if call.state != CallState.DIALING:
                    return
                call.remote_tag = resp.headers["To"]["tag"]
                call.remote_target = _uri_of(resp.headers.get("Contact", call.request_uri))
                call.bye_branch = self.sip.gen_branch()
                call.bye_cseq = call.invite_cseq + 1
                abandoned = call.abandoned
                if not abandoned:
                    try:
                        call.answered(resp)  # pyVoIP: SDP -> RTP streams, start
                    except Exception as exc:
                        log.warning("cannot use the answer SDP: %s", exc)
                        call.final_status, call.final_reason = 488, f"unusable answer SDP: {exc}"
                        abandoned = True
            if abandoned:  # answered after we gave up: hang up at once
                self.sip.send(self.sip.build_bye(call))
                call.finish("abandoned")
            else:
                call.set_state(CallState.ANSWERED)
            return
        # Final failure. Every non-2xx final response must be ACKed.
        self.sip.send(self.sip.build_ack(call, resp))
        if code in (401, 407) and self.owner.password is not None and not call.auth_tried:
            # Defect 3: retry with credentials in a NEW transaction.
            with call.cond:
                call.auth_tried = True
                call.invite_cseq += 1
                call.invite_branch = self.sip.gen_branch()
                auth = self.sip.authorization(resp, "INVITE", call.request_uri)
                call.invite_text = self.sip.build_invite(call, auth)
                call.request = SIP.SIPMessage(call.invite_text.encode())
                call.got_provisional = False
            self.sip.send(call.invite_text)
            return
        if code in (401, 407) and self.owner.password is None:
            reason += (" (Asterisk challenged a credential-less caller: the trunk was not"
                       " identified by source IP, or the From user matched an endpoint)")
        with call.cond:
            call.final_status, call.final_reason = code, reason
        call.finish("rejected" if not call.abandoned else "cancelled")

    def on_bye_response(self, resp: SIP.SIPMessage) -> None:
        call = self.find(resp)
        if call is not None:
            call.bye_answered.set()

    def on_refer_response(self, resp: SIP.SIPMessage) -> None:
        call = self.find(resp)
        if call is None:
            return
        with call.cond:
            call.refer_responses[int(resp.headers["CSeq"]["check"])] = resp
            if 200 <= _status(resp)[0] < 300:
                call.referred = True  # here, before this thread reads the NOTIFYs that follow
            call.cond.notify_all()

    def on_notify(self, request: SIP.SIPMessage) -> None:
        """The progress of our REFER (Event: refer, a message/sipfrag body such
        as ``SIP/2.0 200 OK``): answered with 200, the status line kept.  It may
        come after Asterisk's BYE (the transferer's channel is gone)."""
        call = self.find(request)
        if call is None:
            with self._lock:
                call = self._gone.get(request.headers.get("Call-ID", ""))
        if call is None:
            self.sip.send(self.sip.build_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        self.sip.send(self.sip.build_response(request, 200, "OK"))
        body: bytes = getattr(request, "raw_body", b"")
        line = body.decode("utf8", "replace").split("\r\n", 1)[0].strip()
        cseq = request.headers.get("CSeq", {}).get("check")
        with call.cond:
            if not line or cseq in call.notify_cseqs:  # a retransmission
                return
            call.notify_cseqs.add(cseq)
            call.refer_progress.append(line)
            call.cond.notify_all()
            parts = line.split(" ")
            succeeded = len(parts) > 1 and parts[1].startswith("2")
            bye = succeeded and call.referred and call.state == CallState.ANSWERED and not call.hanging_up
        if bye:
            # RFC 5589 6.1: the transferer ends its dialog once the transfer succeeded.  Asterisk
            # waits for this BYE (it defers the session's end up to 60 s after a REFER).
            # Not on this (receive) thread: the BYE waits for its 200.
            public = self.owner._wrap(call)
            threading.Thread(target=public._bye, args=("transferred",), daemon=True,
                             name=f"bye-{call.call_id[:8]}").start()

    # -- incoming ---------------------------------------------------------------

    def on_invite(self, request: SIP.SIPMessage) -> None:
        sip = self.sip
        call = self.find(request)
        if call is not None:
            same_cseq = request.headers["CSeq"]["check"] == call.request.headers["CSeq"]["check"]
            if call.direction == "incoming" and same_cseq:
                if call.last_invite_response:  # INVITE retransmission
                    sip.send(call.last_invite_response)
                return
            if call.state == CallState.ANSWERED:
                call.renegotiate(request)  # re-INVITE (defect 9)
            else:
                sip.send(sip.build_response(request, 491, "Request Pending"))
            return
        call_id = request.headers["Call-ID"]
        with self._lock:
            late = self._ended.get(call_id) if not request.headers["To"]["tag"] else None
        if late is not None:
            sip.send(late)
            return
        tag = sip.gen_tag()
        sip.tagLibrary[call_id] = tag  # pyVoIP's gen_answer takes our To-tag from here
        call = None
        try:
            call = _Call(self, CallState.RINGING, request, self.next_session_id(),
                         self.myIP, direction="incoming")
            if call.rtp is None:
                raise RTP.RTPParseError("no usable audio stream in offer")
        except Exception as exc:
            log.warning("rejecting INVITE: %s", exc)
            if call is not None:
                self.release_ports(call)
            sip.send(sip.build_response(request, 488, "Not Acceptable Here", to_tag=tag))
            return
        call.local_party = f"{request.headers['To']['raw']};tag={tag}"
        call.remote_party = request.headers["From"]["raw"]
        call.remote_tag = request.headers["From"]["tag"]
        call.remote_target = _uri_of(request.headers.get("Contact", ""))
        call.bye_cseq = random.randint(1, 1000)
        call.bye_branch = sip.gen_branch()
        call.last_invite_response = sip.build_response(request, 180, "Ringing", to_tag=tag, contact=True)
        with self._lock:
            self.calls[call_id] = call
        sip.send(call.last_invite_response)
        self.owner._incoming.put(self.owner._wrap(call))

    def on_ack(self, request: SIP.SIPMessage) -> None:
        call = self.find(request)
        if call is not None:
            call.ack_received.set()

    def on_bye(self, request: SIP.SIPMessage) -> None:
        call = self.find(request)
        if call is None:
            self.sip.send(self.sip.build_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        self.sip.send(self.sip.build_response(request, 200, "OK"))
        call.finish("remote-hangup")

    def on_cancel(self, request: SIP.SIPMessage) -> None:
        call = self.find(request)
        if call is None or call.direction != "incoming":
            self.sip.send(self.sip.build_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        tag = self.sip.tagLibrary.get(call.call_id)
        self.sip.send(self.sip.build_response(request, 200, "OK", to_tag=tag))
        with call.cond:
            ringing = call.state == CallState.RINGING
        if ringing:  # the INVITE itself must end with 487 (defect 10)
            call.last_invite_response = self.sip.build_response(
                call.request, 487, "Request Terminated", to_tag=tag)
            self.sip.send(call.last_invite_response)
            call.finish("remote-cancel")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


class PhoneCall:
    """One call of a ``SipPhone``.  Thread-safe.

    Received audio is kept as **signed 16-bit little-endian linear PCM,
    8 kHz mono** (decoded from PCMU), in arrival order; levels are RMS on
    that scale (0 = digital silence, a full-scale sine is ~23000).
    """

    def __init__(self, phone: "SipPhone", call: _Call):
        self._phone = phone
        self._call = call
        self._dtmf_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PhoneCall {self.direction} {self.remote_number!r} {self.state}>"

    # -- identity -------------------------------------------------------------

    @property
    def call_id(self) -> str:
        return self._call.call_id

    @property
    def direction(self) -> str:
        """'incoming' or 'outgoing'."""
        return self._call.direction

    @property
    def remote_number(self) -> Optional[str]:
        """Caller's From user (incoming) or the dialled number (outgoing)."""
        if self.direction == "incoming":
            return self._call.request.headers["From"]["number"]
        return self._call.request.headers["To"]["number"]

    @property
    def remote_name(self) -> str:
        """Display name of the caller (incoming calls), else ''."""
        if self.direction == "incoming":
            # pyVoIP leaves the closing quote of a quoted display name on it.
            return self._call.request.headers["From"]["caller"].strip().strip('"')
        return ""

    def invite_header(self, name: str) -> Optional[str]:
        """Raw value of a header of the (incoming) INVITE, e.g. 'X-Queue'."""
        values = _raw_header_values(self._call.request, name)
        return values[0] if values else None

    @property
    def state(self) -> str:
        """'ringing' | 'answered' | 'ended'."""
        s = self._call.state
        if s == CallState.ANSWERED:
            return "answered"
        if s == CallState.ENDED:
            return "ended"
        return "ringing"

    @property
    def end_reason(self) -> Optional[str]:
        """'local-hangup', 'remote-hangup', 'remote-cancel', 'rejected', ..."""
        return self._call.end_reason

    # -- call control -----------------------------------------------------------

    def answer(self) -> None:
        call, sip = self._call, self._call.phone.sip
        with call.cond:
            if call.direction != "incoming" or call.state != CallState.RINGING:
                raise InvalidStateError(f"cannot answer a call in state {self.state}")
            m = call.gen_ms()  # starts the RTP stream
            call.last_invite_response = sip.gen_answer(call.request, call.session_id, m, "sendrecv")
            sip.send(call.last_invite_response)
            call.state = CallState.ANSWERED
            call.cond.notify_all()
        # pyVoIP never retransmits its 200 OK; do so until ACKed (RFC 3261 13.3.1.4).
        threading.Thread(target=self._retransmit_ok, daemon=True,
                         name=f"200-retx-{call.call_id[:8]}").start()

    def _retransmit_ok(self) -> None:
        call, interval, waited = self._call, 0.5, 0.0
        while waited < 32 and not call.ack_received.wait(interval):
            waited += interval
            interval = min(interval * 2, 4.0)
            if call.state != CallState.ANSWERED:
                return
            call.phone.sip.send(call.last_invite_response or "")
        if not call.ack_received.is_set():
            log.warning("no ACK for 200 OK of %s", call.call_id)

    def hangup(self) -> None:
        """BYE an answered call, reject (486) a ringing incoming one, CANCEL
        an outgoing one still dialling.  No-op when ended."""
        self._bye("local-hangup")

    def _bye(self, reason: str) -> None:
        call, sip = self._call, self._call.phone.sip
        with call.cond:
            state = call.state
            if state == CallState.ENDED or call.hanging_up:
                return
            call.hanging_up = True
            if state == CallState.RINGING and call.direction == "incoming":
                call.last_invite_response = sip.build_response(
                    call.request, 486, "Busy Here", to_tag=sip.tagLibrary.get(call.call_id))
                sip.send(call.last_invite_response)
        if state == CallState.RINGING:
            call.finish("rejected")
            return
        if state == CallState.DIALING:
            self._phone._cancel(call)
            return
        for stream in call.RTPClients:
            stream.stop()
        bye = sip.build_bye(call)
        for _ in range(4):  # wait briefly for the 200, retransmitting
            sip.send(bye)
            if call.bye_answered.wait(0.5):
                break
        call.finish(reason)

    # -- hold (re-INVITE, RFC 3264) -------------------------------------------

    def hold(self, timeout: float = 5) -> None:
        """The phone's Hold key: re-INVITE with ``a=sendonly``; returns on the
        200 (raises CallFailed otherwise).  Asterisk plays music on hold to the
        other party."""
        self._reinvite("sendonly", timeout)

    def resume(self, timeout: float = 5) -> None:
        """Take the call off hold: re-INVITE with ``a=sendrecv``."""
        self._reinvite("sendrecv", timeout)

    def _reinvite(self, direction: str, timeout: float) -> None:
        call, sip = self._call, self._call.phone.sip
        auth, deadline = "", time.monotonic() + timeout
        for _ in range(2):
            with call.cond:
                if call.state != CallState.ANSWERED or call.rtp is None:
                    raise InvalidStateError(f"cannot re-INVITE a call in state {self.state}")
                cseq, call.bye_cseq = call.bye_cseq, call.bye_cseq + 1
                branch = sip.gen_branch()
                responses: List[SIP.SIPMessage] = []
                call.reinvites[cseq] = (branch, responses)
                text = sip.build_reinvite(call, direction, cseq, branch, auth)
            interval = 0.5
            while True:
                with call.cond:
                    if not responses:  # UDP timer A: until anything answers
                        sip.send(text)
                    call.cond.wait_for(lambda: any(_status(r)[0] >= 200 for r in responses),
                                       max(0.0, min(interval, deadline - time.monotonic())))
                    final = next((r for r in responses if _status(r)[0] >= 200), None)
                if final is not None:
                    break
                if time.monotonic() >= deadline:
                    raise CallFailed(f"re-INVITE ({direction})", None, f"no final response within {timeout}s")
                interval = min(interval * 2, 4.0)
            code, reason = _status(final)
            if code in (401, 407) and not auth and self._phone.password is not None:
                auth = sip.authorization(final, "INVITE", call.remote_target)
                continue
            if 200 <= code < 300:
                return
            raise CallFailed(f"re-INVITE ({direction})", code, reason)
        raise CallFailed(f"re-INVITE ({direction})", code, reason)

    # -- transfers (REFER, RFC 3515) ------------------------------------------

    def refer(self, target_user: str, timeout: float = 5) -> None:
        """Blind transfer (the phone's Transfer key): REFER this call to
        ``sip:TARGET@server``.  Returns on 202 Accepted; Asterisk then reports
        the progress in NOTIFYs (``transfer_progress``: 100 Trying, 180
        Ringing, 200 OK) and, like a desk phone, this phone BYEs the call on
        the final 2xx (RFC 5589; Asterisk waits for that BYE, it sends none
        itself); ``wait_until_ended``, end_reason 'transferred'.  Raises
        TransferFailed."""
        sip = self._call.phone.sip
        self._refer(f"sip:{target_user}@{sip.server}:{sip.port}", target_user, timeout)

    def refer_replacing(self, other: "PhoneCall", timeout: float = 5) -> None:
        """Attended transfer: REFER this call to the party of ``other`` (this
        phone's consultation call), with ``Replaces`` naming ``other``'s dialog
        (RFC 3891: call-id, to-tag = the remote side's tag, from-tag = ours),
        escaped in the Refer-To URI.  Returns on 202 Accepted; Asterisk BYEs
        ``other``, this call ends as after ``refer()``.  Raises TransferFailed."""
        sip, dialog = self._call.phone.sip, other._call
        if other._phone is not self._phone or dialog.state != CallState.ANSWERED:
            raise InvalidStateError("the consultation must be an answered call of the same phone")
        local_tag = sip.tagLibrary.get(dialog.call_id, "")
        replaces = f"{dialog.call_id};to-tag={dialog.remote_tag};from-tag={local_tag}"
        user = other.remote_number if other.direction == "outgoing" else _uri_of(dialog.remote_party)
        user = (user or "transfer").split(":")[-1].split("@")[0]
        uri = f"sip:{user}@{sip.server}:{sip.port}?Replaces={urllib.parse.quote(replaces, safe='')}"
        self._refer(uri, user, timeout)

    def _refer(self, refer_to: str, target: str, timeout: float) -> None:
        """One REFER transaction: retransmitted until answered (UDP, timer E),
        once more with credentials after a 401/407 (a new CSeq and branch)."""
        call, sip = self._call, self._call.phone.sip
        auth, deadline = "", time.monotonic() + timeout
        for _ in range(2):
            with call.cond:
                if call.state != CallState.ANSWERED:
                    raise InvalidStateError(f"cannot transfer a call in state {self.state}")
                cseq, call.bye_cseq = call.bye_cseq, call.bye_cseq + 1  # one CSeq space per dialog
            refer = sip.build_refer(call, refer_to, cseq, sip.gen_branch(), auth)
            interval, resp = 0.5, None
            while resp is None:
                sip.send(refer)
                with call.cond:
                    call.cond.wait_for(lambda: cseq in call.refer_responses,
                                       max(0.0, min(interval, deadline - time.monotonic())))
                    resp = call.refer_responses.get(cseq)
                if resp is None and time.monotonic() >= deadline:
                    raise TransferFailed(target, None, f"no answer to REFER within {timeout}s")
                interval = min(interval * 2, 4.0)
            code, reason = _status(resp)
            if code in (401, 407) and not auth and self._phone.password is not None:
                auth = sip.authorization(resp, "REFER", call.remote_target)
                continue
            if 200 <= code < 300:
                return
            raise TransferFailed(target, code, reason)
        raise TransferFailed(target, code, reason)

    def transfer_progress(self) -> List[str]:
        """Status lines of the NOTIFYs about this call's REFERs, e.g.
        ``['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']``."""
        with self._call.cond:
            return list(self._call.refer_progress)

    def wait_for_transfer_result(self, timeout: float = 10) -> str:
        """The final sipfrag status line (>= 200) of the REFER's NOTIFYs."""
        def final() -> Optional[str]:
            for line in self._call.refer_progress:
                parts = line.split(" ")
                if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) >= 200:
                    return line
            return None
        with self._call.cond:
            if not self._call.cond.wait_for(lambda: final() is not None, timeout):
                raise TimeoutError(f"{self!r}: no final NOTIFY within {timeout}s "
                                   f"(got {self._call.refer_progress})")
            return final() or ""

    def wait_until_ended(self, timeout: float = 10) -> None:
        """Wait until the call is over (normally: the remote hung up)."""
        with self._call.cond:
            if not self._call.cond.wait_for(lambda: self._call.state == CallState.ENDED, timeout):
                raise TimeoutError(f"{self!r} still active after {timeout}s")

    def wait_until_answered(self, timeout: float = 10) -> None:
        with self._call.cond:
            self._call.cond.wait_for(lambda: self._call.state != CallState.RINGING, timeout)
        if self._call.state != CallState.ANSWERED:
            raise TimeoutError(f"{self!r} not answered within {timeout}s")

    # -- media out ------------------------------------------------------------

    def _stream(self) -> _RtpStream:
        rtp = self._call.rtp
        if self._call.state != CallState.ANSWERED or rtp is None:
            raise InvalidStateError(f"no media on a call in state {self.state}")
        return rtp

    def send_dtmf(self, digits: str, duration_ms: int = 120, gap_ms: int = 120) -> None:
        """Send RFC 4733 telephone-events, one digit at a time; blocks until sent."""
        bad = [d for d in digits if d.upper() not in DTMF_EVENTS]
        if bad:
            raise ValueError(f"not DTMF digits: {bad}")
        with self._dtmf_lock:
            for digit in digits:
                rtp = self._stream()
                rtp.queue_dtmf(digit, duration_ms)
                self._drain(rtp)
                time.sleep(gap_ms / 1000)

    def play_audio(self, pcm16: bytes, wait: bool = True) -> None:
        """Queue s16le 8 kHz mono PCM for sending (as PCMU)."""
        rtp = self._stream()
        rtp.queue_audio(audioop.lin2ulaw(pcm16, 2))
        if wait:
            self._drain(rtp)

    def play_tone(self, seconds: float, freq: float = 440.0, amplitude: float = 0.3,
                  wait: bool = True) -> None:
        """Send a sine tone (PCMU).  Blocks until sent unless ``wait=False``."""
        n = int(seconds * SAMPLE_RATE)
        peak = amplitude * 32767
        pcm = struct.pack(f"<{n}h", *(int(peak * math.sin(2 * math.pi * freq * i / SAMPLE_RATE))
                                      for i in range(n)))
        self.play_audio(pcm, wait=wait)

    def _drain(self, rtp: _RtpStream) -> None:
        while rtp.NSD and rtp.tx_pending_seconds() > 0:
            time.sleep(min(0.02, rtp.tx_pending_seconds()))
        time.sleep(FRAME_SECONDS)  # last packet on the wire

    # -- media in -------------------------------------------------------------

    def _chunks(self, last_seconds: Optional[float]) -> bytes:
        rtp = self._call.rtp
        if rtp is None:
            return b""
        chunks = rtp.rx_chunks()
        if last_seconds is not None:
            since = time.monotonic() - last_seconds
            chunks = [c for c in chunks if c[0] >= since]
        return b"".join(pcm for _, pcm in chunks)

    def received_audio(self) -> bytes:
        """Everything received so far: s16le, 8 kHz, mono."""
        return self._chunks(None)

    def audio_level(self, last_seconds: Optional[float] = None) -> float:
        """RMS of the received audio (all of it, or what arrived in the last
        ``last_seconds``); 0.0 for silence or no audio."""
        pcm = self._chunks(last_seconds)
        return float(audioop.rms(pcm, 2)) if pcm else 0.0

    def tone_level(self, freq: float, last_seconds: float = 0.5) -> float:
        """Share (0..1) of the recent received energy at ``freq`` (Goertzel);
        ~1 for a clean tone of that frequency, ~0 for other sounds."""
        pcm = self._chunks(last_seconds)
        n = len(pcm) // 2
        if n == 0:
            return 0.0
        samples = struct.unpack(f"<{n}h", pcm[: n * 2])
        energy = sum(s * s for s in samples)
        if energy == 0:
            return 0.0
        coeff = 2 * math.cos(2 * math.pi * freq / SAMPLE_RATE)
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        return min(1.0, power / (n * energy / 2))

    def wait_for_audio(self, min_level: float = 200.0, timeout: float = 10,
                       window: float = 0.2) -> float:
        """Wait until the RMS of the last ``window`` seconds reaches
        ``min_level``; returns that level, raises TimeoutError."""
        deadline = time.monotonic() + timeout
        best = 0.0
        while True:
            level = self.audio_level(window)
            best = max(best, level)
            if level >= min_level:
                return level
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self!r}: no audio >= {min_level} within {timeout}s "
                                   f"(loudest {best:.0f})")
            time.sleep(0.02)

    def wait_for_tone(self, freq: float, timeout: float = 10, min_share: float = 0.5,
                      window: float = 0.3) -> float:
        """Wait until ``tone_level(freq, window) >= min_share``."""
        deadline = time.monotonic() + timeout
        while True:
            share = self.tone_level(freq, window)
            if share >= min_share:
                return share
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self!r}: no {freq} Hz tone within {timeout}s")
            time.sleep(0.05)

    def received_dtmf(self) -> str:
        """RFC 4733 digits received from the remote side so far."""
        rtp = self._call.rtp
        return rtp.rx_dtmf() if rtp else ""


class SipPhone:
    """A SIP phone on 127.0.0.1: agent (username/password, REGISTERs) or trunk
    caller (username=None: no REGISTER, From user = caller_id)."""

    def __init__(self, *, server_port: int, sip_port: int, rtp_low: int, rtp_high: int,
                 username: Optional[str] = None, password: Optional[str] = None,
                 caller_id: Optional[str] = None, server_host: str = "127.0.0.1",
                 local_host: str = "127.0.0.1", display_name: Optional[str] = None):
        if rtp_high - rtp_low < 1:
            raise ValueError("RTP range needs at least 2 ports")
        self.username = username
        self.password = password
        self.caller_id = caller_id
        self.registers = username is not None
        # Agents must keep their username as From user (Asterisk identifies
        # them by it); caller_id is then only the display name.
        user = username if username is not None else (caller_id or "sipphone")
        display = caller_id if username is not None else display_name
        self._phone = _Phone(self, server=server_host, port=server_port, username=user,
                             password=password or "", my_ip=local_host, sip_port=sip_port,
                             rtp_low=rtp_low, rtp_high=rtp_high, display_name=display)
        self._incoming: "queue.Queue[PhoneCall]" = queue.Queue()
        self._lock = threading.Lock()
        self._started = False
        self._registered = False

    def __repr__(self) -> str:
        role = f"agent {self.username}" if self.registers else f"trunk caller {self.caller_id}"
        return f"<SipPhone {role} sip:{self._phone.sip.myPort}>"

    @property
    def registered(self) -> bool:
        return self._registered

    @property
    def sip_port(self) -> int:
        return self._phone.sip.myPort

    def start(self, register_timeout: float = 10) -> None:
        """Bind the SIP socket; agents REGISTER and wait for the 200."""
        with self._lock:
            if self._started:
                return
            self._phone.sip.start()
            self._phone.NSD = True
            self._started = True
            if not self.registers:
                return
            self._phone._status = PhoneStatus.REGISTERING
            try:
                self._phone.sip.register_blocking(register_timeout)
            except BaseException:
                self._phone._status = PhoneStatus.FAILED
                self._phone.sip.stop()
                self._phone.NSD = False
                self._started = False
                raise
            self._phone._status = PhoneStatus.REGISTERED
            self._registered = True

    def freeze(self) -> None:
        """Stop answering anything, without un-REGISTERing: a phone that crashed or lost its
        network. Asterisk's qualify (OPTIONS) then finds it Unreachable. ``thaw()`` resumes."""
        sip = self._phone.sip
        sip.NSD = False
        if sip._thread is not None:
            sip._thread.join(timeout=2)

    def thaw(self) -> None:
        """Answer again on the same socket (after ``freeze()``)."""
        sip = self._phone.sip
        sip.NSD = True
        sip._thread = threading.Thread(target=sip.recv_loop, name=f"sip-{sip.myPort}", daemon=True)
        sip._thread.start()

    def stop(self) -> None:
        """Hang up every call, un-REGISTER, close all sockets."""
        with self._lock:
            if not self._started:
                return
            for call in self.calls():
                try:
                    call.hangup()
                except Exception:
                    log.exception("hangup during stop failed")
            if self._registered:
                try:
                    self._phone.sip.register_blocking(3, deregister=True)
                except Exception as exc:
                    log.warning("%r: un-REGISTER failed: %s", self, exc)
                self._registered = False
            self._phone.NSD = False
            self._phone.sip.stop()
            self._phone._status = PhoneStatus.INACTIVE
            self._started = False

    def __enter__(self) -> "SipPhone":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self) -> List[PhoneCall]:
        """Calls not yet ended."""
        with self._phone._lock:
            return [self._wrap(c) for c in self._phone.calls.values()]  # type: ignore[arg-type]

    def _wrap(self, call: _Call) -> PhoneCall:
        with call.cond:
            if call.public is None:
                call.public = PhoneCall(self, call)
            return call.public

    def call(self, number: str, timeout: float = 10) -> PhoneCall:
        """INVITE ``number`` and wait for the 200 OK.  Raises CallFailed with
        the SIP status (or status None after CANCEL on timeout)."""
        if not self._started:
            raise InvalidStateError("phone not started")
        call = self._phone.dial(number)
        deadline = time.monotonic() + timeout
        retransmit_at, interval = time.monotonic() + 0.5, 0.5
        with call.cond:
            while call.state == CallState.DIALING:
                now = time.monotonic()
                if now >= deadline:
                    break
                if not call.got_provisional and now >= retransmit_at:
                    self._phone.sip.send(call.invite_text)  # UDP: Timer A
                    interval = min(interval * 2, 4.0)
                    retransmit_at = now + interval
                call.cond.wait(min(deadline, retransmit_at) - now)
        if call.state == CallState.ANSWERED:
            return self._wrap(call)
        if call.state == CallState.DIALING:
            self._cancel(call)
            raise CallFailed(number, None, f"not answered within {timeout}s (CANCEL sent)")
        raise CallFailed(number, call.final_status, call.final_reason or (call.end_reason or ""))

    def _cancel(self, call: _Call) -> None:
        with call.cond:
            call.abandoned = True
            provisional = call.got_provisional
        if provisional:  # CANCEL only after a 1xx (RFC 3261 9.1)
            self._phone.sip.send(self._phone.sip.build_cancel(call))
            with call.cond:  # the 487 (or a racing 200 -> BYE) ends it
                call.cond.wait_for(lambda: call.state == CallState.ENDED, 3)
        if call.state != CallState.ENDED:
            call.finish("cancelled")

    def wait_for_incoming(self, timeout: float = 15) -> PhoneCall:
        """Next incoming call (ringing; may already be 'ended' if the caller
        cancelled before you looked)."""
        try:
            return self._incoming.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self!r}: no incoming call within {timeout}s") from None
