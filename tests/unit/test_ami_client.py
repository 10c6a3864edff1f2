"""The AMI client's promises, against a scripted AMI server on 127.0.0.1.

The server speaks exactly what Asterisk 22 said in tests/fixtures/ami/ (banner, login answers,
events); it lets us do what a real Asterisk will not do on demand: stay silent, drop the
connection mid-action, flood events.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from callcenter.ami import actions
from callcenter.ami import client as ami_client
from callcenter.ami.events import AsteriskBooted
from callcenter.ami.client import (AmiClient, AmiConnected, AmiDisconnected, AmiDisconnectedEvent, AmiLoginRefused,
                                   AmiTimeout, AmiUnavailable)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def reply(action_id: str, **fields: str) -> bytes:
    lines = [f"Response: {fields.pop('Response', 'Success')}", f"ActionID: {action_id}"]
    lines += [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def event(name: str, **fields: str) -> bytes:
    return ("\r\n".join([f"Event: {name}"] + [f"{k}: {v}" for k, v in fields.items()]) + "\r\n\r\n").encode()


class FakeAsterisk:
    """Answers Login (checking the secret) and Ping; records every other action; `silent` actions
    get no answer."""

    def __init__(self, secret: str = "s3cret", silent: tuple[str, ...] = ()) -> None:
        self.secret, self.silent = secret, silent
        self.actions: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.after_login = b""  # written in the same packet as the Login answer

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(BANNER)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
                self.actions.append(fields)
                name, aid = fields.get("Action", ""), fields.get("ActionID", "")
                if name in self.silent:
                    continue
                if name == "Login":
                    ok = fields.get("Secret") == self.secret
                    writer.write(reply(aid, Response="Success" if ok else "Error",
                                       Message="Authentication accepted" if ok else "Authentication failed")
                                 + (self.after_login if ok else b""))
                elif name == "Ping":
                    writer.write(reply(aid, Ping="Pong", Timestamp="1.0"))
                else:
                    writer.write(reply(aid, Message=f"{name} done"))
                await writer.drain()

    def drop_all(self) -> None:
        for w in self.writers:
            w.close()
        self.writers.clear()

    async def close(self) -> None:
        self.drop_all()
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def fake():
    server = FakeAsterisk(silent=("Originate",))
    port = await server.start()
    yield server, port
    await server.close()


async def test_login_refused_is_reported_as_such(fake) -> None:
    server, port = fake
    client = AmiClient("127.0.0.1", port, "callcenter", "wrong")
    with pytest.raises(AmiLoginRefused) as info:
        await client.connect()
    assert "Authentication failed" in str(info.value) and "secret" in str(info.value)
    assert client.state == "login-refused"


ORIGINATE = actions.originate(action_id="cb-1", channel="PJSIP/agent1", context="cc-callback", exten="s",
                              caller_id="", variables={})


async def test_events_arriving_with_the_login_answer_follow_the_connected_marker(fake) -> None:
    """Asterisk sends FullyBooted right behind the Login answer: it must not overtake AmiConnected."""
    server, port = fake
    server.after_login = event("FullyBooted", Status="Fully Booted")
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret")
    await client.connect()
    stream = client.events()
    first = await asyncio.wait_for(anext(stream), 5)
    second = await asyncio.wait_for(anext(stream), 5)
    assert isinstance(first, AmiConnected) and isinstance(second, AsteriskBooted)
    await client.close()


async def test_nobody_listening_is_unavailable() -> None:
    client = AmiClient("127.0.0.1", 1, "callcenter", "x")
    with pytest.raises(AmiUnavailable):
        await client.connect()


async def test_every_action_has_a_timeout(fake) -> None:
    server, port = fake
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret", action_timeout=0.3)
    await client.connect()
    assert (await client.send(actions.core_status())).message == "CoreStatus done"
    with pytest.raises(AmiTimeout) as info:
        await client.send(ORIGINATE)
    assert info.value.error_id == "ami-timeout"
    await client.close()


async def test_pending_actions_fail_on_disconnect_and_are_never_replayed(fake) -> None:
    server, port = fake
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret", action_timeout=5, ping_interval=0.2)
    await client.connect()
    runner = asyncio.create_task(client.run())
    originate = asyncio.create_task(client.send(ORIGINATE))
    await asyncio.sleep(0.1)
    server.drop_all()
    with pytest.raises(AmiDisconnected):
        await originate
    # Reconnected by itself (with backoff) ...
    for _ in range(100):
        if client.state == "connected" and len([a for a in server.actions if a["Action"] == "Login"]) == 2:
            break
        await asyncio.sleep(0.05)
    assert client.state == "connected"
    await asyncio.sleep(0.3)
    # ... and the Originate went out exactly once.
    assert [a["Action"] for a in server.actions].count("Originate") == 1
    # While down, sending fails at once instead of queueing for later.
    server.server.close()  # no reconnect possible now
    server.drop_all()
    await asyncio.sleep(0.05)
    with pytest.raises(AmiDisconnected):
        await client.send(ORIGINATE)
    runner.cancel()
    await client.close()


async def test_connection_changes_travel_in_the_event_stream_in_order(fake) -> None:
    server, port = fake
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret", ping_interval=0.2)
    await client.connect()
    runner = asyncio.create_task(client.run())
    await asyncio.sleep(0.05)
    for i in range(3):
        server.writers[0].write(event("Newstate", Uniqueid=f"1.{i}", ChannelStateDesc="Up"))
    await asyncio.sleep(0.05)
    server.drop_all()
    items = []
    stream = client.raw_events()
    while len(items) < 6:
        items.append(await asyncio.wait_for(anext(stream), 5))
    assert isinstance(items[0], AmiConnected)
    assert [m["Uniqueid"] for m in items[1:4]] == ["1.0", "1.1", "1.2"]
    assert isinstance(items[4], AmiDisconnectedEvent)
    assert isinstance(items[5], AmiConnected)  # back again
    runner.cancel()
    await client.close()


async def test_a_flood_of_events_pauses_reading_instead_of_growing_memory(fake, monkeypatch) -> None:
    monkeypatch.setattr(ami_client, "HIGH_WATER", 100)
    monkeypatch.setattr(ami_client, "LOW_WATER", 10)
    server, port = fake
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret")
    await client.connect()
    server.writers[0].write(b"".join(event("Newstate", Uniqueid=f"1.{i}") for i in range(20000)))
    await asyncio.sleep(0.3)
    assert client._protocol is not None and client._protocol.paused
    assert len(client._buffer) < 10000  # reading stopped (one socket read past the mark) long before all arrived
    got = []
    stream = client.raw_events()
    while len(got) < 20001:
        got.append(await asyncio.wait_for(anext(stream), 5))
    assert [m["Uniqueid"] for m in got[1:]] == [f"1.{i}" for i in range(20000)]  # none lost, in order
    assert not client._protocol.paused
    await client.close()


async def test_a_late_ping_answer_drops_the_connection_only_when_asterisk_fell_silent() -> None:
    """A loaded Asterisk answers Ping late but keeps sending events: the connection is kept (a
    reconnect would add a whole resync to its load). Silent and unanswering: dropped."""
    server = FakeAsterisk(silent=("Ping",))
    port = await server.start()
    client = AmiClient("127.0.0.1", port, "callcenter", "s3cret", action_timeout=0.3, ping_interval=0.1)
    try:
        await client.connect()
        runner = asyncio.create_task(client.run())
        talking = True

        async def talk() -> None:
            i = 0
            while talking:
                server.writers[0].write(event("Newstate", Uniqueid=f"1.{i}", ChannelStateDesc="Up"))
                i += 1
                await asyncio.sleep(0.05)
        chatter = asyncio.create_task(talk())
        await asyncio.sleep(1.5)  # several Pings unanswered, events all along
        assert client.state == "connected" and client.late_pings >= 2 and len(server.writers) == 1
        talking = False
        await chatter
        for _ in range(50):  # now silent: the next unanswered Ping drops it (and it reconnects)
            if len(server.writers) > 1:
                break
            await asyncio.sleep(0.05)
        assert len(server.writers) > 1  # dropped and connected again
        runner.cancel()
    finally:
        await client.close()
        await server.close()
