"""Kill Asterisk, kill the controller: calls keep working.

- Asterisk SIGKILLed: the controller restarts it, reconnects AMI, resynchronizes, and tracks the
  next call.
- Controller SIGKILLed: Asterisk keeps running; once the heartbeat is stale, a new caller takes
  the dialplan fallback to the queue. A new controller adopts that Asterisk.
- Controller failing on an internal error (injected: tests/support/die_on_demand/): it lets go of
  the callers in its hands (the dialplan fallback takes them), exits non-zero, Asterisk stays up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from callcenter.asterisk.render import WATCHDOG
from callcenter.ivr.sessions import KEEPALIVE_INTERVAL
from tests.support.system import REPO, HOTLINE, PLAIN, RELOADABLE, AmiWatch, System, find_call, wait_until

DIE_ON_DEMAND = REPO / "tests" / "support" / "die_on_demand"


async def in_the_menu(system: System, caller_id: str, timeout: float = 15) -> None:
    """Wait until the caller's IVR path shows it in the reloadable flow's menu: in the controller's hands."""
    def there() -> bool:
        record = find_call(system, caller_id, ended=False)
        return bool(record) and "reloadable/menu" in record["ivr_path"]
    await asyncio.to_thread(wait_until, there, timeout, f"{caller_id} in the menu")


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
    await ami_watch.wait_heartbeat_stale()  # the last heartbeat is now older than HEARTBEAT_MAX
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
    await in_the_menu(system, "5551239004")
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


async def test_a_controller_that_fails_releases_its_callers_to_the_fallback_and_leaves_asterisk_up(
        system: System, ami_watch: AmiWatch, phones, tmp_path) -> None:
    trigger = tmp_path / "die-now"
    plain = False
    asterisk_pid = system.asterisk_pid()
    system.stop_controller(signal.SIGKILL)  # (Asterisk and the tests' AMI connection carry on)
    try:
        banner = await asyncio.to_thread(system.start_controller, {"PYTHONPATH": str(DIE_ON_DEMAND),
                                                                   "CC_TEST_DIE_WHEN": str(trigger)})
        assert "adopted" in banner and f"pid {asterisk_pid}" in banner
        await ami_watch.wait_heartbeat_fresh()  # new callers go to the controller again
        caller = phones.caller("5551239005")
        call = await asyncio.to_thread(caller.call, RELOADABLE)  # a menu that waits 20 s for a key
        await ami_watch.wait_for(Event="AsyncAGIStart", CallerIDNum="5551239005")
        await in_the_menu(system, "5551239005")
        mark = ami_watch.mark()
        proc = system.proc
        assert proc is not None
        trigger.touch()
        died_at = time.monotonic()
        # It lets go of the caller (ASYNCAGI BREAK ends its AGI) without waiting for the watchdog: that one,
        # pushed every KEEPALIVE_INTERVAL (4 s) to WATCHDOG (15 s) ahead, has 11 s or more to go ...
        await ami_watch.wait_for(Event="AsyncAGIEnd", CallerIDNum="5551239005", since=mark, timeout=WATCHDOG + 5)
        assert time.monotonic() - died_at < WATCHDOG - KEEPALIVE_INTERVAL - 3, "the watchdog, not the release"
        join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239005", since=mark,
                                        timeout=10)
        assert join["Queue"] == "support"  # ... to the fallback: the DID's greeting, then its queue
        # ... says why and exits non-zero ...
        assert await asyncio.to_thread(proc.wait, 30) != 0
        log = system.log_files[-1].read_text()
        assert "error: controller-died:" in log and "fault injected by the test" in log, log[-3000:]
        assert "callcenter controller died; Asterisk left running" in log
        # ... and Asterisk stays up with its calls; the heartbeat is gone, so new callers take the fallback too.
        assert system.asterisk_pid() == asterisk_pid
        os.kill(asterisk_pid, 0)
        assert call.state != "ended"
        assert await ami_watch.heartbeat() is None
        late = await asyncio.to_thread(phones.caller("5551239006").call, HOTLINE)
        join = await ami_watch.wait_for(Event="QueueCallerJoin", CallerIDNum="5551239006", timeout=20)
        assert join["Queue"] == "support" and not ami_watch.seen(Event="AsyncAGIStart", CallerIDNum="5551239006")
        # The next `callcenter run` adopts that Asterisk.
        system.stop_controller()
        banner = await asyncio.to_thread(system.start_controller)
        plain = True
        assert "adopted" in banner and f"pid {asterisk_pid}" in banner
        for c in (call, late):
            await asyncio.to_thread(c.hangup)
    finally:
        if not plain:  # the test failed: leave the session's controller as the next tests expect it
            system.stop_controller()
            await asyncio.to_thread(system.start_controller)
