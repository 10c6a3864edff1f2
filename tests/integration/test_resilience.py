"""Kill Asterisk, kill the controller: calls keep working.

- Asterisk SIGKILLed: the controller restarts it, reconnects AMI, resynchronizes, and tracks the
  next call.
- Controller SIGKILLed: Asterisk keeps running; once the heartbeat is stale, a new caller takes
  the dialplan fallback to the queue. A new controller adopts that Asterisk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from callcenter.asterisk.render import HEARTBEAT_MAX, WATCHDOG
from tests.support.system import HOTLINE, PLAIN, RELOADABLE, AmiWatch, System, find_call, wait_until


async def test_asterisk_killed_is_restarted_and_resynchronized(system: System, ami_watch: AmiWatch, phones) -> None:
    old_pid = system.asterisk_pid()
    _, before = system.api("/api/status")
    # A call in progress when Asterisk dies is lost; its record must still end.
    caller = phones.caller("5551239001")
    call = await asyncio.to_thread(caller.call, PLAIN)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239001")
    os.kill(old_pid, signal.SIGKILL)

    def back() -> bool:
        status, data = system.api("/api/status")
        return status == 200 and data["ami"]["connected"] and data["ami"]["resyncs"] > before["ami"]["resyncs"]

    await asyncio.to_thread(wait_until, back, 30, "the controller to reconnect and resync")
    assert system.asterisk_pid() not in (0, old_pid)
    lost = await asyncio.to_thread(wait_until, lambda: find_call(system, "5551239001"), 10, "the lost call's record")
    assert lost["ended_at"] is not None and "lost" in lost["hangup_cause_text"]
    await asyncio.to_thread(call.hangup)

    caller2 = phones.caller("5551239002")
    call2 = await asyncio.to_thread(caller2.call, PLAIN)
    await asyncio.to_thread(call2.wait_for_audio, 200, 10)
    await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239002", timeout=20)
    await asyncio.to_thread(call2.hangup)
    record = await asyncio.to_thread(wait_until, lambda: find_call(system, "5551239002"), 10, "the next call's record")
    assert record["queue"] == "support" and "greeting:hello-world" in record["path"]


async def test_controller_killed_new_calls_take_the_fallback(system: System, ami_watch: AmiWatch, phones) -> None:
    asterisk_pid = system.asterisk_pid()
    system.stop_controller(signal.SIGKILL)
    await asyncio.sleep(HEARTBEAT_MAX + 2.5)  # the last heartbeat is now stale
    assert system.asterisk_pid() == asterisk_pid  # Asterisk did not die with the controller

    caller = phones.caller("5551239003")
    call = await asyncio.to_thread(caller.call, HOTLINE)
    assert await asyncio.to_thread(call.wait_for_audio, 200, 10) > 200  # the fallback greeting
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239003", timeout=20)
    assert join["Queue"] == "support"
    assert not ami_watch.seen(Event="AsyncAGIStart", CallerIDNum="5551239003")  # no controller involved

    # A new controller adopts the running Asterisk and sees the call already in the queue.
    banner = await asyncio.to_thread(system.start_controller)
    assert "adopted" in banner and f"pid {asterisk_pid}" in banner
    _, calls = system.api("/api/calls")
    assert any(c["caller_id"] == "5551239003" and c["state"] != "ended" for c in calls["active"])
    await asyncio.to_thread(call.hangup)


async def test_controller_killed_mid_ivr_the_watchdog_rescues_the_caller(system: System, ami_watch: AmiWatch,
                                                                         phones) -> None:
    caller = phones.caller("5551239004")
    call = await asyncio.to_thread(caller.call, RELOADABLE)  # a menu that waits 20 s for a key
    await ami_watch.wait_for(Event="AsyncAGIStart", CallerIDNum="5551239004")
    await asyncio.sleep(1.0)
    killed_at = time.monotonic()
    system.stop_controller(signal.SIGKILL)
    # Asterisk notices nothing at first; the TIMEOUT(absolute) watchdog the controller kept pushing
    # forward fires at most WATCHDOG seconds later, and the caller takes the fallback: greeting, queue.
    join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239004", timeout=WATCHDOG + 10)
    assert join["Queue"] == "support"
    assert time.monotonic() - killed_at <= WATCHDOG + 3
    assert await asyncio.to_thread(call.wait_for_audio, 100, 5) > 100  # music on hold, not silence
    await asyncio.to_thread(system.start_controller)
    await asyncio.to_thread(call.hangup)
