"""Web chat meets the phone, on the real system (Asterisk, the controller, pyVoIP phones): a caller
who rang the hotline then chats; the agent verifies the number the visitor gave and the chat lands
on the call's ticket; "call" from the chat rings the agent's phone, then the customer through the
trunk (a pyVoIP phone answering as the customer), on the same ticket. The visitor and the agent's
page are real WebSocket clients (aiohttp)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.support.system import API_PORT, PLAIN, AmiWatch, System, find_call, wait_until

BASE = f"http://127.0.0.1:{API_PORT}"


async def next_frame(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 10, **match: Any
                     ) -> dict[str, Any]:
    while True:
        data = json.loads((await ws.receive(timeout=timeout)).data)
        if data.get("type") == kind and all(data.get(k) == v for k, v in match.items()):
            return data


async def test_a_caller_who_chats_is_one_ticket_and_the_chat_calls_them_back(system: System, ami_watch: AmiWatch,
                                                                             phones, carrier) -> None:
    number = "4155550307"
    agent_phone = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    # The customer calls and gives up while the agent's phone rings: a ticket with their call.
    call = await asyncio.to_thread(phones.caller(number).call, PLAIN)
    missed = await asyncio.to_thread(agent_phone.wait_for_incoming, 30)
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(missed.wait_until_ended, 10)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, number), 10, "the missed call")
    # The call log writes in batches off the call path: the row follows the call's end by a moment.
    stored = await asyncio.to_thread(wait_until, lambda: (d := system.api(f"/api/calls/{record['call_id']}")[1]) and
                                     "ticket_id" in d and d, 10, "the missed call's ticket")
    call_ticket = stored["ticket_id"]

    async with aiohttp.ClientSession(base_url=BASE, cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent, \
            aiohttp.ClientSession(base_url=BASE) as visitor:
        async with agent.post("/api/login", json={"name": "agent1",
                                                  "password": system.creds.web_passwords["agent1"]}) as r:
            assert r.status == 200
            csrf = (await r.json())["csrf_token"]
        page = await agent.ws_connect("/api/ws")
        widget = await visitor.ws_connect("/chat/ws")
        await widget.send_json({"type": "hello", "visitor": ""})
        assert (await next_frame(widget, "welcome"))["online"] is True
        await widget.send_json({"type": "contact", "name": "Ann", "phone": f"+1 {number}"})
        await next_frame(widget, "contact", ok=True)
        await widget.send_json({"type": "message", "text": "I called a minute ago about order 4567"})
        chat = (await next_frame(page, "chat", event="assigned"))["chat"]
        assert chat["agent"] == "agent1" and chat["ticket_id"] != call_ticket

        async def post(path: str, body: Any) -> tuple[int, Any]:
            async with agent.post(path, json=body, headers={"X-CSRF-Token": csrf}) as r:
                return r.status, await r.json()
        status, verified = await post(f"/api/chats/{chat['id']}/verify", {"kind": "phone", "value": f"+1 {number}"})
        assert status == 200, verified
        assert verified["ticket_id"] == call_ticket  # one customer, one ticket: the call's

        # Chat → call: the agent's phone first, then the customer through the trunk.
        status, placed = await post(f"/api/chats/{chat['id']}/call", {})
        assert status == 200, placed
        mine = await asyncio.to_thread(agent_phone.wait_for_incoming, 15)
        await asyncio.to_thread(mine.answer)
        customer = await asyncio.to_thread(carrier.wait_for_incoming, 15)
        assert number in (customer.invite_header("To") or "")
        await asyncio.to_thread(customer.answer)
        said = await next_frame(widget, "message")
        while said["message"]["from"] != "system" or "calling" not in said["message"]["text"]:
            said = await next_frame(widget, "message")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(customer.hangup)
        await asyncio.to_thread(mine.wait_until_ended, 10)

        def outbound() -> dict[str, Any] | None:
            _, ticket = system.api(f"/api/tickets/{call_ticket}")
            out = [i for i in ticket["interactions"] if i["channel"] == "voice" and i["direction"] == "outbound"
                   and i["step"] == "ended"]
            return out[0] if out else None
        back = await asyncio.to_thread(wait_until, outbound, 15, "the chat's call on the ticket")
        assert back["agent"] == "agent1" and number in back["address"]
        _, ticket = system.api(f"/api/tickets/{call_ticket}")
        channels = [i["channel"] for i in ticket["interactions"]]
        assert "chat" in channels and channels.count("voice") >= 2  # the missed call, the call back
        await page.close()
        await widget.close()
