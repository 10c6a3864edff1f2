"""The agent page and the wallboard in a real headless Chromium (Playwright driving Debian's
chromium, never a downloaded browser), against the real system: Asterisk, the controller, SIP
phones (pyVoIP) for the caller and the agent.

Screenshots of both pages go to var/test-artifacts/ (CALLCENTER_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from tests.support.pages import ARTIFACTS, BASE, log_in
from tests.support.system import HOTLINE, PLAIN, AmiWatch, System, find_call, wait_until

def supervisor(system: System, name: str = "sue") -> str:
    """A supervisor login (made once with the admin's API token); returns its password."""
    status, body = system.api("/api/users", method="POST", body={"name": name, "role": "supervisor"})
    if status == 409:
        status, body = system.api(f"/api/users/{name}", method="PATCH", body={"new_password": True})
    assert status in (200, 201), body
    return body["password"]


def queue_cell(page: Page, queue: str, column: int) -> Any:
    return page.locator(f'[data-testid="queue-row"][data-queue="{queue}"] > :nth-child({column})')


async def test_a_call_pops_on_the_agents_page_and_the_wallboard_follows_it(system: System, ami_watch: AmiWatch,
                                                                          phones, contexts) -> None:
    number = "4155550300"
    # An earlier call of the same customer: it must be in the pop's timeline.
    earlier = await asyncio.to_thread(phones.caller(number).call, PLAIN)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=number, timeout=20)
    await asyncio.to_thread(earlier.hangup)
    await asyncio.to_thread(wait_until, lambda: find_call(system, number), 10, "the earlier call ended")

    agent_phone = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    agent = await log_in(await contexts(), "agent1", system.creds.web_passwords["agent1"])
    await expect(agent.get_by_test_id("presence-state")).to_have_attribute("data-state", "ready", timeout=10_000)
    board = await log_in(await contexts(), "sue", supervisor(system), "/wallboard")
    await expect(queue_cell(board, "support", 2)).to_have_text("0")

    caller = phones.caller(number)
    call = await asyncio.to_thread(caller.call, HOTLINE)

    def at(node: str) -> bool:
        return node in ((find_call(system, number, ended=False) or {}).get("ivr_path") or [])
    await asyncio.to_thread(wait_until, lambda: at("hotline/main_menu"), 30, "the caller at the main menu")
    await asyncio.to_thread(call.send_dtmf, "3")
    await asyncio.to_thread(wait_until, lambda: at("hotline/order_status"), 20, "the caller asked for an order number")
    await asyncio.sleep(1.0)
    await asyncio.to_thread(call.send_dtmf, "4567#")
    incoming = await asyncio.to_thread(agent_phone.wait_for_incoming, 40)

    # The pop: who calls, what they typed, their earlier call.
    pop = agent.get_by_test_id("screen-pop")
    await expect(pop).to_be_visible(timeout=5_000)
    await expect(agent.get_by_test_id("pop-caller-number")).to_contain_text(number)
    await expect(agent.get_by_test_id("pop-variables")).to_contain_text("4567")
    await expect(agent.get_by_test_id("timeline-item")).to_have_count(2, timeout=5_000)
    await expect(queue_cell(board, "support", 2)).to_have_text("1")  # waiting, on the wallboard
    await agent.screenshot(path=str(ARTIFACTS / "agent-pop.png"), full_page=True)

    await asyncio.to_thread(incoming.answer)
    await ami_watch.wait_for(Event="AgentConnect", MemberName="agent1")
    await expect(agent.get_by_test_id("presence-state")).to_have_attribute("data-state", "on_call", timeout=5_000)
    await expect(queue_cell(board, "support", 2)).to_have_text("0", timeout=5_000)

    # Work the ticket: a note, closed; the wrap-up code once the call ends.
    editor = agent.get_by_test_id("ticket-editor")
    await expect(editor).to_be_visible()
    await agent.get_by_test_id("ticket-note").fill("Customer asked about order 4567; shipped today.")
    await agent.get_by_test_id("ticket-status").select_option("closed")
    await agent.get_by_test_id("ticket-save").click()
    record = find_call(system, number, ended=False)
    assert record is not None
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(incoming.wait_until_ended, 10)
    wrapup = agent.get_by_test_id("wrapup")
    await expect(wrapup).to_be_visible(timeout=5_000)
    await wrapup.locator("select").select_option("resolved")
    await agent.get_by_test_id("wrapup-save").click()
    await board.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
    # Chinese, switched live: the same page, its strings from i18n/zh-CN.js.
    await board.get_by_test_id("language").select_option("zh-CN")
    await expect(board.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(board.get_by_role("heading", name="队列", exact=True)).to_be_visible()
    await board.screenshot(path=str(ARTIFACTS / "wallboard-zh-CN.png"), full_page=True)

    def stored() -> dict[str, Any] | None:
        status, calls = system.api(f"/api/calls/{record['call_id']}")
        if status != 200 or not calls.get("ticket_id"):
            return None
        status, ticket = system.api(f"/api/tickets/{calls['ticket_id']}")
        voice = [i for i in ticket["interactions"] if i["call_id"] == record["call_id"]]
        return ticket if voice and voice[0]["wrapup_code"] == "resolved" else None
    try:
        ticket = await asyncio.to_thread(wait_until, stored, 10, "the ticket closed with the note and the wrap-up")
    except AssertionError:
        status_line = await agent.get_by_test_id("status").inner_text()
        call_now = system.api(f"/api/calls/{record['call_id']}")
        raise AssertionError(f"page says {status_line!r}; call {call_now}")
    assert ticket["status"] == "closed"
    assert any(c["field"] == "note" and "order 4567" in c["new"] and c["actor"] == "agent1" for c in ticket["history"])


async def test_presence_is_the_same_in_the_cli_and_the_page(system: System, ami_watch: AmiWatch, phones,
                                                            contexts) -> None:
    phones.agent("agent2")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent2", ContactStatus="NonQualified")
    page = await log_in(await contexts(), "agent2", system.creds.web_passwords["agent2"])
    await expect(page.get_by_test_id("phone-state")).not_to_be_empty()
    system.cli("queue", "pause", "agent2", "--reason", "lunch")
    state = page.get_by_test_id("presence-state")
    await expect(state).to_have_attribute("data-state", "paused", timeout=5_000)
    await expect(state).to_contain_text("lunch")
    await page.get_by_test_id("presence").locator("select").select_option("ready")

    def unpaused() -> bool:
        return not system.api("/api/agents/agent2")[1]["paused"]
    await asyncio.to_thread(wait_until, unpaused, 5, "agent2 unpaused from the page")
    await page.get_by_test_id("presence").locator("select").select_option("training")
    await asyncio.to_thread(wait_until, lambda: system.api("/api/agents/agent2")[1]["pause_reason"] == "training",
                            5, "agent2 paused from the page")
    system.cli("queue", "unpause", "agent2")


async def test_an_agent_cannot_act_for_others_nor_see_the_wallboard_and_forged_posts_fail(system: System,
                                                                                           contexts) -> None:
    page = await log_in(await contexts(), "agent3", system.creds.web_passwords["agent3"])
    csrf = await page.evaluate("fetch('/api/session').then(r => r.json()).then(s => s.csrf_token)")
    other = await page.evaluate("""csrf => fetch('/api/agents/agent1/pause', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{"reason": "lunch"}'})
        .then(r => r.status)""", csrf)
    assert other == 403
    forged = await page.evaluate("""() => fetch('/api/agents/agent3/pause', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: '{"reason": "lunch"}'}).then(r => r.status)""")
    assert forged == 403
    board = await page.evaluate("fetch('/api/wallboard').then(r => r.status)")
    assert board == 403
    await page.goto(f"{BASE}/wallboard")
    await expect(page.get_by_test_id("queue-row")).to_have_count(0)
    assert not system.api("/api/agents/agent1")[1]["paused"]


async def test_a_caller_name_with_html_is_shown_as_text(system: System, ami_watch: AmiWatch, phones,
                                                      contexts) -> None:
    name = '<img src=x onerror="window.pwned=1">Eve'
    number = "4155550301"
    agent_phone = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    page = await log_in(await contexts(), "agent1", system.creds.web_passwords["agent1"])
    call = await asyncio.to_thread(phones.caller(number, display_name=name).call, PLAIN)
    incoming = await asyncio.to_thread(agent_phone.wait_for_incoming, 30)
    await expect(page.get_by_test_id("pop-caller-number")).to_contain_text(number, timeout=5_000)
    shown = await page.get_by_test_id("pop-caller-name").inner_text()
    assert "<img" in shown and "Eve" in shown  # the text itself, not an element
    assert await page.evaluate("window.pwned") is None
    assert await page.locator('[data-testid="screen-pop"] img').count() == 0
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(incoming.wait_until_ended, 10)


async def test_the_page_survives_a_controller_restart(system: System, ami_watch: AmiWatch, phones, contexts) -> None:
    phones.agent("agent2")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent2", ContactStatus="NonQualified")
    page = await log_in(await contexts(), "agent2", system.creds.web_passwords["agent2"])
    connection = page.get_by_test_id("connection")
    system.stop_controller()
    await expect(connection).to_have_attribute("data-state", "closed", timeout=10_000)
    await asyncio.to_thread(system.start_controller)
    await expect(connection).to_have_attribute("data-state", "open", timeout=20_000)  # same session, a new snapshot
    system.cli("queue", "pause", "agent2", "--reason", "meeting")
    await expect(page.get_by_test_id("presence-state")).to_contain_text("meeting", timeout=5_000)
    system.cli("queue", "unpause", "agent2")


async def test_click_to_call_rings_the_agent_then_the_customer_on_the_same_ticket(system: System, ami_watch: AmiWatch,
                                                                                  phones, carrier, contexts) -> None:
    number = "4155550302"
    agent_phone = phones.agent("agent1")
    await ami_watch.wait_for(Event="ContactStatus", EndpointName="agent1", ContactStatus="NonQualified")
    system.cli("queue", "unpause", "agent1", check=False)
    page = await log_in(await contexts(), "agent1", system.creds.web_passwords["agent1"])
    # The customer called and gave up while the agent's phone rang: the pop stays, with their number.
    call = await asyncio.to_thread(phones.caller(number).call, PLAIN)
    missed = await asyncio.to_thread(agent_phone.wait_for_incoming, 30)
    await expect(page.get_by_test_id("pop-caller-number")).to_contain_text(number, timeout=5_000)
    await asyncio.to_thread(call.hangup)
    await asyncio.to_thread(missed.wait_until_ended, 10)
    ticket_id = (await asyncio.to_thread(wait_until, lambda: find_call(system, number), 10, "the missed call"))
    await page.get_by_test_id("click-to-call").first.click()
    mine = await asyncio.to_thread(agent_phone.wait_for_incoming, 15)  # the agent's phone first
    await asyncio.to_thread(mine.answer)
    customer = await asyncio.to_thread(carrier.wait_for_incoming, 15)  # then the customer, through the trunk
    assert number in (customer.invite_header("To") or "")
    await asyncio.to_thread(customer.answer)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(customer.hangup)
    await asyncio.to_thread(mine.wait_until_ended, 10)

    def on_ticket() -> dict[str, Any] | None:
        status, calls = system.api(f"/api/calls/{ticket_id['call_id']}")
        status, ticket = system.api(f"/api/tickets/{calls['ticket_id']}")
        out = [i for i in ticket["interactions"] if i["direction"] == "outbound" and i["step"] == "ended"]
        return out[0] if out else None
    outbound = await asyncio.to_thread(wait_until, on_ticket, 10, "the click-to-call on the missed call's ticket")
    assert outbound["agent"] == "agent1" and number in outbound["address"] and outbound["ended_at"]
