"""IVR flows with real calls: RFC 4733 DTMF from pyVoIP callers into the real Asterisk.

What reached which queue is asserted from Asterisk's own AMI events (QueueCallerJoin) and from the
call record the controller keeps (the path through the IVR).
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from pathlib import Path

from tests.support.system import (CLOSED, HOTLINE, LEVELS, OVERFLOW, RELOADABLE, RELOADABLE_FLOW, AmiWatch, System,
                                  find_call, wait_until)


async def dial(phones, caller_id: str, number: str):
    caller = phones.caller(caller_id)
    call = await asyncio.to_thread(caller.call, number)
    # The flow speaks first: audible audio means the caller is in it.
    await asyncio.to_thread(call.wait_for_audio, 200, 15)
    return call


async def press(call, digits: str) -> None:
    await asyncio.to_thread(call.send_dtmf, digits)


async def reach(system: System, caller_id: str, node: str, timeout: float = 30) -> None:
    """Wait until the caller's IVR path shows it at `node` (the record is updated as the flow runs)."""
    def there() -> bool:
        record = find_call(system, caller_id, ended=False)
        return bool(record) and node in record["ivr_path"]
    await asyncio.to_thread(wait_until, there, timeout, f"{caller_id} at {node}")


async def agi_event(ami_watch: AmiWatch, caller_id: str, since: int, match, what: str, timeout: float = 20) -> int:
    """Index of this caller's first AMI event from `since` (an AmiWatch mark) that `match` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        for i in range(since, len(ami_watch.events)):
            e = ami_watch.events[i]
            if e.get("CallerIDNum") == caller_id and match(e):
                return i
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} of {caller_id} within {timeout:g} s")
        await asyncio.sleep(0.05)


def agi_result(e: dict) -> str:
    """An AsyncAGIExec's answer, decoded: "200 result=51 endpos=1234"."""
    return urllib.parse.unquote(e.get("Result", "")) if e.get("Event") == "AsyncAGIExec" else ""


async def key_taken(ami_watch: AmiWatch, caller_id: str, digit: str, since: int) -> int:
    """Wait until the flow has the key `digit` (the answer of the prompt or wait it cut: "result=<its code>");
    returns the mark just after it."""
    def took(e: dict) -> bool:
        found = re.search(r"result=(\d+)", agi_result(e))
        return found is not None and int(found.group(1)) == ord(digit)
    return await agi_event(ami_watch, caller_id, since, took, f"key {digit} taken") + 1


async def prompt_ended(ami_watch: AmiWatch, caller_id: str, since: int) -> int:
    """Wait until a prompt played to its end after `since` (STREAM FILE answers "result=0 endpos=..."): the
    flow goes on at once (a menu waits for a key, or the next prompt starts). Returns the mark after it."""
    return await agi_event(ami_watch, caller_id, since, lambda e: "result=0 endpos=" in agi_result(e),
                           "prompt played to its end") + 1


async def record_of(system: System, caller_id: str, ended: bool = False) -> dict:
    return await asyncio.to_thread(wait_until, lambda: find_call(system, caller_id, ended=ended), 10,
                                   f"the call record of {caller_id}")


async def test_hotline_menu_sends_the_caller_to_sales(system: System, ami_watch: AmiWatch, phones) -> None:
    call = await dial(phones, "5552000001", HOTLINE)  # the say: greeting is audible
    start = await ami_watch.wait_for(Event="AsyncAGIStart", CallerIDNum="5552000001")
    await reach(system, "5552000001", "hotline/main_menu")
    await press(call, "1")  # barges into the main menu's prompt
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000001", timeout=40)
    assert join["Queue"] == "sales" and join["Linkedid"] == start["Linkedid"]
    record = await record_of(system, "5552000001")
    assert record["flow"] == "hotline" and record["ivr_end"] == "queue sales"
    assert record["ivr_path"][:3] == ["hotline/welcome", "hotline/hours", "open"]
    assert "pressed:1" in record["ivr_path"] and record["ivr_path"][-1] == "hotline/sales"
    await asyncio.to_thread(call.hangup)


async def test_multi_level_menu(system: System, ami_watch: AmiWatch, phones) -> None:
    call = await dial(phones, "5552000002", LEVELS)
    await press(call, "1")
    await reach(system, "5552000002", "levels/second")
    await press(call, "2")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000002", timeout=30)
    assert join["Queue"] == "sales"
    record = await record_of(system, "5552000002")
    assert record["ivr_path"] == ["levels/top", "pressed:1", "levels/second", "pressed:2", "levels/sales"]
    await asyncio.to_thread(call.hangup)


async def test_no_input_retries_then_failure_node(system: System, ami_watch: AmiWatch, phones) -> None:
    call = await dial(phones, "5552000003", LEVELS)
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000003", timeout=40)
    assert join["Queue"] == "support"  # the failure node: operator, queue support with priority 7
    record = await record_of(system, "5552000003")
    assert record["ivr_path"] == ["levels/top", "no-input", "no-input", "menu-failed", "levels/operator"]
    await asyncio.to_thread(call.hangup)


async def test_invalid_digit_then_a_valid_one(system: System, ami_watch: AmiWatch, phones) -> None:
    mark = ami_watch.mark()
    call = await dial(phones, "5552000004", LEVELS)
    await prompt_ended(ami_watch, "5552000004", mark)  # after the prompt: the menu waits for a key
    await press(call, "7")
    # "Not a valid choice." (no key cuts it), then the prompt again: press during that one.
    await prompt_ended(ami_watch, "5552000004", await key_taken(ami_watch, "5552000004", "7", mark))
    await press(call, "2")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000004", timeout=30)
    assert join["Queue"] == "support"
    record = await record_of(system, "5552000004")
    assert record["ivr_path"][:2] == ["levels/top", "invalid:7"] and "pressed:2" in record["ivr_path"]
    await asyncio.to_thread(call.hangup)


async def test_barge_in_a_key_during_the_prompt_counts(system: System, ami_watch: AmiWatch, phones) -> None:
    call = await dial(phones, "5552000005", LEVELS)
    await press(call, "5")  # to the 45 s prompt
    await reach(system, "5552000005", "levels/long")
    await asyncio.sleep(2.0)  # the scenario: a key two seconds into the prompt
    pressed_at = time.monotonic()
    await press(call, "3")
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000005", Queue="sales", timeout=10)
    assert time.monotonic() - pressed_at < 5  # not after the prompt's 45 s
    record = await record_of(system, "5552000005")
    assert record["ivr_path"][-3:] == ["levels/long", "pressed:3", "levels/sales"]
    await asyncio.to_thread(call.hangup)


async def test_collect_digits_ended_by_hash_and_branch_on_them(system: System, ami_watch: AmiWatch,
                                                               phones) -> None:
    call = await dial(phones, "5552000006", LEVELS)
    await press(call, "4")
    await reach(system, "5552000006", "levels/order")  # "Order number, then hash."
    await press(call, "91234#")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000006", timeout=30)
    assert join["Queue"] == "sales"  # order numbers starting with 9 go to sales
    record = await record_of(system, "5552000006")
    assert record["variables"] == {"order_number": "91234"}
    assert "collected:order_number=91234" in record["ivr_path"]
    await asyncio.to_thread(call.hangup)


async def test_hotline_order_status_reads_the_number_back(system: System, ami_watch: AmiWatch, phones) -> None:
    call = await dial(phones, "5552000007", HOTLINE)
    await reach(system, "5552000007", "hotline/main_menu")
    await press(call, "3")
    await reach(system, "5552000007", "hotline/order_status")  # "Please enter your order number, ..."
    await press(call, "12345#")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000007", timeout=60)
    assert join["Queue"] == "support"
    record = await record_of(system, "5552000007")
    assert record["variables"]["order_number"] == "12345"
    assert "hotline/order_thanks" in record["ivr_path"]
    await asyncio.to_thread(call.hangup)


async def test_closed_hours_take_the_closed_branch(system: System, ami_watch: AmiWatch, phones) -> None:
    caller = phones.caller("5552000008")
    call = await asyncio.to_thread(caller.call, CLOSED)
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000008", timeout=20)
    assert join["Queue"] == "sales"  # the closed branch (today is a holiday of that flow)
    record = await record_of(system, "5552000008")
    assert record["ivr_path"] == ["closed/hours", "closed", "closed/closed_queue"]
    await asyncio.to_thread(call.hangup)


async def test_queue_overflow_resumes_the_flow_into_voicemail(system: System, ami_watch: AmiWatch,
                                                              phones) -> None:
    caller = phones.caller("5552000009")
    call = await asyncio.to_thread(caller.call, OVERFLOW)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000009", Queue="sales", timeout=20)
    await ami_watch.wait_for(Event="QueueCallerLeave", CallerIDNum="5552000009", Queue="sales", timeout=10)
    await asyncio.to_thread(call.play_tone, 3.0)  # the message: 3 s max
    await asyncio.to_thread(call.wait_until_ended, 20)  # the flow hangs up after "goodbye"
    record = await record_of(system, "5552000009", ended=True)
    assert record["ivr_path"] == ["overflow/wait", "overflow:timeout", "overflow/message", "message:3s"]
    assert record["ivr_end"] == "voicemail" and record["hung_up_by"] == "system"
    message = Path(record["voicemail"])  # on this machine's file system (inside Asterisk's root if chrooted)
    assert message.exists() and message.stat().st_size > 8000 * 2 * 2  # about 3 s of 8 kHz 16-bit audio


async def test_reload_applies_to_new_calls_while_callers_in_a_menu_keep_their_version(
        system: System, ami_watch: AmiWatch, phones) -> None:
    flows_dir = system.dir / "flows"
    old = await dial(phones, "5552000010", RELOADABLE)  # waits in the v1 menu: 1 → support
    _, before = system.api("/api/flows")
    (flows_dir / "reloadable.yaml").write_text(RELOADABLE_FLOW.format(queue="sales"))
    # Applied without a restart (the watcher looks every second; 10 s only catches a reload that never comes).
    await asyncio.to_thread(wait_until, lambda: system.api("/api/flows")[1]["version"] > before["version"], 10,
                            "the reload")
    await press(old, "1")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000010", timeout=20)
    assert join["Queue"] == "support"  # the version it started on
    new = await dial(phones, "5552000011", RELOADABLE)
    await press(new, "1")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000011", timeout=20)
    assert join["Queue"] == "sales"  # the new version
    for call in (old, new):
        await asyncio.to_thread(call.hangup)
    _, now = system.api("/api/flows")
    (flows_dir / "reloadable.yaml").write_text(RELOADABLE_FLOW.format(queue="support"))
    await asyncio.to_thread(wait_until, lambda: system.api("/api/flows")[1]["version"] > now["version"], 5,
                            "the reload back")


async def test_an_invalid_change_is_refused_and_the_old_flow_keeps_running(
        system: System, ami_watch: AmiWatch, phones) -> None:
    flows_dir = system.dir / "flows"
    await asyncio.to_thread(wait_until, lambda: not system.api("/api/flows")[1]["errors"], 5, "a clean state")
    _, before = system.api("/api/flows")
    broken = RELOADABLE_FLOW.format(queue="support").replace("options: {1: first}", "options: {1: nowhere}")
    (flows_dir / "reloadable.yaml").write_text(broken)
    _, after = await asyncio.to_thread(
        wait_until, lambda: (lambda r: r if r[1]["errors"] else None)(system.api("/api/flows")), 5, "the refusal")
    assert after["version"] == before["version"]
    assert any("reloadable.yaml:7:" in e and "unknown-target" in e and "'nowhere'" in e for e in after["errors"])
    listing = system.cli("flow", "list").stdout
    assert "REFUSED" in listing and "unknown-target" in listing
    assert "last reload refused" in system.cli("status").stdout
    call = await dial(phones, "5552000012", RELOADABLE)  # still the old, valid flow
    await press(call, "1")
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5552000012", timeout=20)
    assert join["Queue"] == "support"
    await asyncio.to_thread(call.hangup)
    (flows_dir / "reloadable.yaml").write_text(RELOADABLE_FLOW.format(queue="support"))
    await asyncio.to_thread(wait_until, lambda: not system.api("/api/flows")[1]["errors"], 5, "the repair")
    assert system.cli("flow", "reload").returncode == 0


async def test_twenty_simultaneous_callers_end_in_the_right_queues(system: System, ami_watch: AmiWatch,
                                                                  phones) -> None:
    callers = [(f"55530000{i:02d}", "3" if i % 2 else "2") for i in range(20)]  # 2 → support, 1+2 → sales

    async def one(caller_id: str, choice: str):
        call = await dial(phones, caller_id, LEVELS)
        if choice == "3":
            await press(call, "1")
            await reach(system, caller_id, "levels/second")
            await press(call, "2")
        else:
            await press(call, "2")
        return call

    calls = await asyncio.gather(*(one(c, d) for c, d in callers))
    for caller_id, choice in callers:
        join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum=caller_id, timeout=40)
        assert join["Queue"] == ("sales" if choice == "3" else "support"), caller_id
    for call in calls:
        await asyncio.to_thread(call.hangup)


async def test_callers_hanging_up_mid_prompt_leave_nothing_behind(system: System, ami_watch: AmiWatch,
                                                                  phones) -> None:
    await asyncio.to_thread(wait_until, lambda: system.api("/api/status")[1]["calls"]["active"] == 0, 20,
                            "no calls left from earlier tests")
    _, before = system.api("/api/status")
    calls = [await dial(phones, f"555400000{i}", LEVELS) for i in range(3)]  # in the menu's prompt
    _, during = system.api("/api/status")
    assert during["calls"]["in_flows"] == 3 and during["controller"]["tasks"] > before["controller"]["tasks"]
    for call in calls:
        await asyncio.to_thread(call.hangup)

    def settled() -> bool:
        _, now = system.api("/api/status")
        return (now["calls"]["in_flows"] == 0 and now["calls"]["in_controller"] == 0
                and now["controller"]["tasks"] <= before["controller"]["tasks"])

    await asyncio.to_thread(wait_until, settled, 10, "the runners and their tasks to end")
    for i in range(3):
        record = await record_of(system, f"555400000{i}", ended=True)
        assert record["ivr_end"] == "caller hung up" and record["hung_up_by"] == "caller"
