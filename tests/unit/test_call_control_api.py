"""Call control through the real aiohttp app of `app.build` (a fake AMI records what would reach
Asterisk): who may act on a call, and the AMI actions each command sends (docs/call-control.md)."""

from __future__ import annotations

from pathlib import Path

from callcenter.ami.events import translate
from tests.support.config import CONFIG
from tests.support.webapp import running_app
from tests.unit.test_web_access import Web

L, CALLER, A1 = "1700000000.1", "PJSIP/carrier-00000001", "PJSIP/agent1-00000002"


def connected(parts) -> None:
    """A caller answered by agent1 from the queue, fed to the call tracker as Asterisk sends it."""
    tracker = parts.calls.tracker
    for at, headers in enumerate([
            {"Event": "Newchannel", "Channel": CALLER, "Uniqueid": L, "Linkedid": L, "CallerIDNum": "5551234567",
             "Context": "from-trunk", "Exten": "8005550100", "ChannelStateDesc": "Ring"},
            {"Event": "Newchannel", "Channel": A1, "Uniqueid": "2", "Linkedid": L, "Context": "agents", "Exten": "s",
             "ChannelStateDesc": "Ring"},
            {"Event": "Newstate", "Channel": A1, "Uniqueid": "2", "Linkedid": L, "ChannelStateDesc": "Up"},
            {"Event": "AgentConnect", "Queue": "support", "MemberName": "agent1", "Interface": "PJSIP/agent1",
             "Linkedid": L, "HoldTime": "3", "RingTime": "2"}]):
        tracker.apply(translate(headers), 1000.0 + at)


async def test_agents_act_only_on_their_own_calls_and_never_monitor(tmp_path: Path) -> None:
    async with running_app(CONFIG.format(runtime=tmp_path), tmp_path) as (client, creds, parts):
        web = Web(client, creds, parts)
        connected(parts)
        ami = parts.ami
        other, csrf2 = await web.login("agent2")
        async with other.post(f"/api/calls/{L}/hold", headers={"X-CSRF-Token": csrf2}) as r:
            assert r.status == 403 and (await r.json())["error_id"] == "forbidden"
        async with other.post(f"/api/calls/{L}/transfer", json={"to": "agent2"}, headers={"X-CSRF-Token": csrf2}) as r:
            assert r.status == 403
        async with other.get(f"/api/calls/{L}/parties") as r:
            assert r.status == 403
        mine, csrf1 = await web.login("agent1")
        async with mine.post(f"/api/calls/{L}/monitor", json={"phone": "agent2", "mode": "listen"},
                             headers={"X-CSRF-Token": csrf1}) as r:
            assert r.status == 403  # supervisors and admins only
        sent_before = len(ami.sent)
        async with mine.post(f"/api/calls/{L}/hold", headers={"X-CSRF-Token": csrf1}) as r:
            assert r.status == 200, await r.text()
        [redirect] = [a.fields for a in ami.sent[sent_before:]]
        assert redirect["Action"] == "Redirect" and redirect["Channel"] == CALLER and redirect["ExtraChannel"] == A1
        assert (redirect["Context"], redirect["ExtraContext"]) == ("cc-hold", "cc-held")
        async with mine.post(f"/api/calls/{L}/hold", headers={"X-CSRF-Token": csrf1}) as r:
            assert r.status == 409 and (await r.json())["error_id"] == "on-hold"
        async with mine.post(f"/api/calls/{L}/resume", headers={"X-CSRF-Token": csrf1}) as r:
            assert r.status == 200
        assert ami.sent[-1].fields["Action"] == "Bridge"
        async with mine.post(f"/api/calls/{L}/transfer", json={"to": "queue:support", "note": "re\u202efund"},
                             headers={"X-CSRF-Token": csrf1}) as r:
            assert r.status == 200, await r.text()
        last = ami.sent[-1].fields
        assert (last["Action"], last["Channel"], last["Exten"]) == ("BlindTransfer", A1, "queue-support")
        assert parts.calls.tracker.get(L).handoff["note"] == "refund"  # (a bidi override dropped)
        for body in ({"to": 5}, {"to": ["agent2"]}, {"attended": "yes", "to": "agent2"}, {"to": "+1\r\nAction: Command"}):
            async with mine.post(f"/api/calls/{L}/transfer", json=body, headers={"X-CSRF-Token": csrf1}) as r:
                assert r.status == 400, (body, await r.text())
        await other.close()
        await mine.close()
