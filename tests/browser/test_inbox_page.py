"""The inbox in a real headless Chromium against the real system (Asterisk, the controller, its SMS
webhook and its SMTP receiver): an SMS and an email are offered to agent1's page within 2 s and
listed in their inbox; accepting one makes it agent1's (open) and opens the customer's file;
declining the other offers it to agent2's page; the supervisors' wallboard shows the backlog,
reassigns an item and releases / deletes quarantined mail; the labels in 中文.

Screenshots go to var/test-artifacts/ (agent-inbox*.png, wallboard-backlog*.png)."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import urllib.parse
import urllib.request
import uuid
from email.message import EmailMessage
from typing import Any, Iterator

from playwright.async_api import Page, expect

from callcenter.channels.sms import rules as sms_rules
from tests.support.pages import ARTIFACTS, log_in
from tests.support.system import API_PORT, EMAIL_PORT, System, wait_until

INBOX_DID = "8005550199"  # a line of the test's own: an SMS to it is worked by its queue
OFFERED_WITHIN = 2_000  # ms from the message stored to the offer on the agent's page


@contextlib.contextmanager
def inbox_queue(system: System) -> Iterator[None]:
    """A queue of the test's own, `inbox`, first in the file (a new email's ticket goes to the first
    queue), with a line texted into it, worked by agent1 and agent2 alone for the test's length (so
    nothing other tests left in their queues is offered to them meanwhile); the config as it was
    after, whatever happens."""
    original = system.config_path.read_text()
    edits = [("queues:\n", "queues:\n  inbox: {strategy: ringall}\n"),
             ('extension: "1001", queues: [support]', 'extension: "1001", queues: [inbox]'),
             ('extension: "1002", queues: [sales]', 'extension: "1002", queues: [inbox]'),
             ("dids:\n", f'dids:\n  "{INBOX_DID}": {{name: Inbox line, greeting: beep, queue: inbox}}\n'),
             ("routing: {", "routing: {max_open_items: 20, offer_seconds: 60, ")]
    edited = original
    for old, new in edits:
        assert edited.count(old) == 1, old
        edited = edited.replace(old, new)
    system.config_path.write_text(edited)
    try:
        system.cli("config", "reload")
        yield
    finally:
        system.config_path.write_text(original)
        system.cli("config", "reload")


def text(system: System, sender: str, body: str) -> None:
    """An SMS to INBOX_DID through the provider's webhook, signed as Twilio signs it; it answers
    once the message is on its ticket."""
    url = f"http://127.0.0.1:{API_PORT}/webhooks/sms/twilio"
    params = [("From", sender), ("To", INBOX_DID), ("Body", body), ("MessageSid", f"SM{uuid.uuid4().hex}")]
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST", headers={
        "X-Twilio-Signature": sms_rules.signature(system.creds.twilio_auth_token, url, params)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def mail(raw: bytes | EmailMessage, sender: str) -> None:
    """A message through the real SMTP receiver; it answers 250 once the message is on its ticket."""
    with smtplib.SMTP("127.0.0.1", EMAIL_PORT, timeout=10) as smtp:
        if isinstance(raw, EmailMessage):
            smtp.send_message(raw)
        else:
            smtp.sendmail(sender, ["support@callcenter.test"], raw)


def supervisor(system: System, name: str = "vera") -> str:
    """A supervisor login (made with the admin's API token); returns its password."""
    status, body = system.api("/api/users", method="POST", body={"name": name, "role": "supervisor"})
    if status == 409:
        status, body = system.api(f"/api/users/{name}", method="PATCH", body={"new_password": True})
    assert status in (200, 201), body
    return body["password"]


async def offered(page: Page, channel: str) -> int:
    """The ticket of the offer of `channel` on `page`, once it is there (within OFFERED_WITHIN)."""
    card = page.locator(f'[data-testid="offer"][data-channel="{channel}"]')
    await expect(card).to_be_visible(timeout=OFFERED_WITHIN)
    return int(await card.get_attribute("data-ticket") or 0)


def ticket(system: System, ticket_id: int) -> dict[str, Any]:
    return system.call(f"/api/tickets/{ticket_id}")


async def test_work_is_offered_accepted_declined_to_the_next_agent_and_on_the_wallboard(system: System,
                                                                                       contexts) -> None:
    with inbox_queue(system):
        for agent in ("agent1", "agent2"):
            system.cli("queue", "unpause", agent, check=False)  # an agent paused by an earlier test gets no offer
        agent1 = await log_in(await contexts(), "agent1", system.creds.web_passwords["agent1"])
        await agent1.get_by_test_id("inbox-tab-queues").click()

        number, body = "+14155550420", "My parcel 8812 never came. <b>Help</b>"
        await asyncio.to_thread(text, system, number, body)
        sms_ticket = await offered(agent1, "sms")
        offer = agent1.locator(f'[data-testid="offer"][data-ticket="{sms_ticket}"]')
        await expect(offer).to_contain_text(body)  # the customer's words, as text
        await expect(offer.get_by_test_id("offer-countdown")).to_contain_text(" s")
        await expect(agent1.locator(f'[data-testid="inbox-item"][data-ticket="{sms_ticket}"]')).to_be_visible(
            timeout=OFFERED_WITHIN)
        assert await agent1.locator("#offers b").count() == 0
        assert int(await agent1.get_by_test_id("offers").get_attribute("data-alerts") or 0) >= 1  # the chime's count

        message = EmailMessage()
        message["From"], message["To"] = "Lin Wei <lin.wei@example.com>", "support@callcenter.test"
        message["Subject"], message["Message-ID"] = "Refund for order 8812", f"<{uuid.uuid4().hex}@example.com>"
        message.set_content("Please refund my order 8812.\n")
        await asyncio.to_thread(mail, message, "lin.wei@example.com")
        email_ticket = await offered(agent1, "email")
        email_row = agent1.locator(f'[data-testid="inbox-item"][data-ticket="{email_ticket}"]')
        await expect(email_row).to_be_visible(timeout=OFFERED_WITHIN)
        await expect(email_row).to_contain_text("Refund for order 8812")
        await expect(email_row).to_contain_text("Lin Wei")
        await agent1.screenshot(path=str(ARTIFACTS / "agent-inbox-offers.png"), full_page=True)

        agent2 = await log_in(await contexts(), "agent2", system.creds.web_passwords["agent2"])

        # Accept the SMS: agent1's, open, the customer's file and the ticket on screen.
        await offer.get_by_test_id("offer-accept").click()
        await expect(agent1.get_by_test_id("ticket-editor")).to_be_visible(timeout=5_000)
        await expect(agent1.get_by_test_id("ticket-status")).to_have_value("open")
        await expect(agent1.get_by_test_id("ticket-assignee")).to_have_value("agent1")
        await expect(agent1.get_by_test_id("screen-pop")).to_be_visible()
        await expect(agent1.get_by_test_id("identities")).to_contain_text(number)
        await expect(agent1.get_by_test_id("timeline")).to_contain_text(body)
        await expect(agent1.get_by_test_id("pop-caller-number")).to_contain_text(f"#{sms_ticket}")
        await expect(offer).to_have_count(0)
        row = ticket(system, sms_ticket)
        assert row["assignee"] == "agent1" and row["status"] == "open"
        assert any(c["field"] == "assignee" and c["new"] == "agent1" for c in row["history"])

        # Decline the email with the keyboard (d): it is offered to agent2, whose page shows it.
        await agent1.locator("body").press("d")
        await expect(agent1.locator(f'[data-testid="offer"][data-ticket="{email_ticket}"]')).to_have_count(0)
        await expect(agent2.locator(f'[data-testid="offer"][data-ticket="{email_ticket}"]')).to_be_visible(
            timeout=5_000)
        assert ticket(system, email_ticket)["assignee"] == ""
        await agent1.get_by_test_id("inbox-tab-mine").click()
        await expect(agent1.locator(f'[data-testid="inbox-item"][data-ticket="{sms_ticket}"]')).to_be_visible()
        await agent1.screenshot(path=str(ARTIFACTS / "agent-inbox.png"), full_page=True)

        # The wallboard: the backlog of the queue per channel; a reassignment; the quarantine.
        board = await log_in(await contexts(), "vera", supervisor(system), "/wallboard")
        backlog = board.locator('[data-testid="backlog-row"][data-queue="inbox"]')
        await expect(backlog.and_(board.locator('[data-channel="email"]'))).to_contain_text("Email", timeout=10_000)
        email_cells = backlog.and_(board.locator('[data-channel="email"]')).locator("td")
        await expect(email_cells.nth(1)).to_have_text("1")  # open
        await expect(email_cells.nth(2)).to_have_text("1")  # unassigned
        sms_cells = backlog.and_(board.locator('[data-channel="sms"]')).locator("td")
        await expect(sms_cells.nth(1)).to_have_text("1")
        await expect(sms_cells.nth(2)).to_have_text("0")  # agent1 has it
        await expect(email_cells.nth(5)).not_to_have_text("—")  # the oldest wait, counting

        await board.get_by_test_id("assign-ticket").fill(f"#{email_ticket}")
        await board.get_by_test_id("assign-agent").select_option("agent3")
        await board.get_by_test_id("assign-go").click()
        await asyncio.to_thread(wait_until, lambda: ticket(system, email_ticket)["assignee"] == "agent3", 5,
                                "the email reassigned to agent3")
        await expect(agent2.locator(f'[data-testid="offer"][data-ticket="{email_ticket}"]')).to_have_count(
            0, timeout=5_000)  # its offer to agent2 ended

        sender = f"quarantine-{uuid.uuid4().hex[:8]}@example.com"
        broken = (f"From: {sender}\r\nSubject: x\r\nContent-Type: text/plain; charset=klingon\r\n\r\n"
                  "qapla'\r\n").encode()
        await asyncio.to_thread(mail, broken, sender)
        await board.get_by_test_id("quarantine-reload").click()
        kept = board.get_by_test_id("quarantine-item").filter(has_text=sender)
        await expect(kept).to_have_count(1)
        await kept.get_by_test_id("quarantine-release").click()
        await expect(kept.get_by_test_id("quarantine-error")).to_contain_text("vera")  # still unreadable: it stays
        await expect(kept.get_by_test_id("quarantine-reason")).to_contain_text("klingon")
        await expect(board.get_by_test_id("status")).to_contain_text("klingon")
        await board.screenshot(path=str(ARTIFACTS / "wallboard-backlog.png"), full_page=True)
        board.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await kept.get_by_test_id("quarantine-delete").click()
        await expect(kept).to_have_count(0)
        assert not [m for m in system.call("/api/email/quarantine")["messages"] if m.get("mail_from") == sender]

        # Nothing left in agent1's queue: Next (n) says so.
        await agent1.locator("body").press("n")
        await expect(agent1.get_by_test_id("status")).to_contain_text("Nothing is waiting in your queues")

        # 中文: the same pages, their strings from i18n/zh-CN.js.
        await agent1.get_by_test_id("language").select_option("zh-CN")
        await expect(agent1.get_by_test_id("inbox-tab-mine")).to_have_text("我的工作")
        await expect(agent1.get_by_test_id("inbox-tab-queues")).to_have_text("我的队列")
        await expect(agent1.get_by_test_id("inbox-tab-search")).to_have_text("搜索")
        await expect(agent1.get_by_test_id("inbox-next")).to_have_text("下一个")
        await expect(agent1.get_by_role("heading", name="待办")).to_be_visible()
        await agent1.screenshot(path=str(ARTIFACTS / "agent-inbox-zh-CN.png"), full_page=True)
        await board.get_by_test_id("language").select_option("zh-CN")
        await expect(board.get_by_role("heading", name="积压工作")).to_be_visible()
        await expect(backlog.and_(board.locator('[data-channel="email"]')).locator("td").first).to_have_text("电子邮件")
        await board.screenshot(path=str(ARTIFACTS / "wallboard-backlog-zh-CN.png"), full_page=True)
