"""Benchmark: live call control's latency (p50 / p95 / max).

    .venv/bin/python -m bench.call_control              # 20 rounds of each
    .venv/bin/python -m bench.call_control --rounds 5

Prints figures; not a test. Run from the repository root. It starts its own `callcenter run` (real
Asterisk + controller) on the benchmarks' ports and stops it at the end. Each round is one call
from the trunk (pyVoIP test phones) answered by agent1:

- transfer: `POST /api/calls/{id}/transfer {"to": "agent2"}` sent → agent2's phone gets the
  INVITE (blind transfer: BlindTransfer over AMI, [cc-transfer], Dial);
- monitor: `POST /api/calls/{id}/monitor {"phone": "sue"}` sent → the supervisor's phone gets the
  INVITE (Originate over AMI; the request itself returns once the phone answered).

Instants are time.monotonic() in this process; "gets the INVITE" is when the test phone's SIP
thread handed the incoming call over (its queue), so the figure includes the phone's own parsing.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.request

from bench._harness import PHONE_PORTS, SIP_PORT, BenchSystem, PortAllocator, SipPhone, exit_on_sigterm, summary

DID = "8005550120"
AGENTS = ('  agent1: {full_name: Ada Agent, extension: "1001", queues: [support]}\n'
          '  agent2: {full_name: Bob Agent, extension: "1002"}\n')
SUPERVISORS = 'supervisors:\n  sue: {full_name: Sue Supervisor, extension: "1900"}\n'


def post(system: BenchSystem, path: str, body: dict[str, object], timeout: float = 40) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{system.api_port}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {system.api_token}",
                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return dict(json.load(response))


def live_call(system: BenchSystem, caller_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, data = system.api("/api/calls")
        for call in data["active"]:
            if call["caller_id"] == caller_id and any(x["agent"] == "agent1" and x["uniqueid"] for x in call["legs"]):
                return str(call["call_id"])
        time.sleep(0.05)
    raise TimeoutError(f"no connected call of {caller_id}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    exit_on_sigterm()
    system = BenchSystem(f'  "{DID}": {{greeting: beep, queue: support}}\n', {}, keep=args.keep,
                         agents_yaml=AGENTS, extra_yaml=SUPERVISORS)
    transfer_ms: list[float] = []
    monitor_ms: list[float] = []
    phones: list[SipPhone] = []
    try:
        system.start()
        ports = PortAllocator(**PHONE_PORTS)

        def phone(**kwargs: object) -> SipPhone:
            made = SipPhone(server_port=SIP_PORT, **kwargs, **ports.allocate().as_kwargs())  # type: ignore[arg-type]
            made.start()
            phones.append(made)
            return made

        creds = system.creds
        agent1 = phone(username="agent1", password=creds.agent_passwords["agent1"])
        agent2 = phone(username="agent2", password=creds.agent_passwords["agent2"])
        sue = phone(username="sue", password=creds.supervisor_passwords["sue"])
        time.sleep(3)  # registrations and their first qualify
        for n in range(args.rounds * 2):
            caller_id = f"55512{n:05d}"
            call = phone(caller_id=caller_id).call(DID)
            agent1.wait_for_incoming(20).answer()
            call_id = live_call(system, caller_id)
            if n % 2 == 0:
                start = time.monotonic()
                post(system, f"/api/calls/{call_id}/transfer", {"to": "agent2"})
                ringing = agent2.wait_for_incoming(10)
                transfer_ms.append((time.monotonic() - start) * 1000)
                ringing.answer()
            else:
                start = time.monotonic()
                answered = threading.Thread(target=post, args=(system, f"/api/calls/{call_id}/monitor",
                                                               {"phone": "sue", "mode": "listen"}))
                answered.start()
                ringing = sue.wait_for_incoming(10)
                monitor_ms.append((time.monotonic() - start) * 1000)
                ringing.answer()
                answered.join(40)
            time.sleep(0.3)
            call.hangup()
            time.sleep(0.5)
            phones.pop().stop()
    finally:
        for p in phones:
            p.stop()
        system.stop()
    print(f"transfer request -> target phone ringing: {summary(transfer_ms)}")
    print(f"monitor request  -> supervisor's phone ringing: {summary(monitor_ms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
