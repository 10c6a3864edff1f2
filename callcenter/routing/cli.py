"""`callcenter queue` and `callcenter agent`: members, pauses, live numbers, agents' states and
credentials, through the running controller's REST API."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from callcenter.cli import client
from callcenter.core.credentials import Credentials


@click.group()
def queue() -> None:
    """Queues: members, pauses, live numbers."""


def _queue_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'QUEUE':<12} {'STRATEGY':<12} {'AGENTS':>8} {'WAIT':>5} {'LONGEST':>8} {'OFFERED':>8} "
             f"{'ANSWERED':>9} {'ABANDON':>8} {'SL':>6} {'ASA':>6} {'AHT':>6}"]
    for q in rows:
        sl = f"{q['service_level'] * 100:.0f}%" if q["service_level"] is not None else "-"
        asa = f"{q['average_speed_of_answer']:.0f}s" if q["average_speed_of_answer"] is not None else "-"
        aht = f"{q['average_handle_time']:.0f}s" if q["average_handle_time"] is not None else "-"
        lines.append(f"{q['name']:<12} {q['strategy']:<12} {q['agents_available']:>3}/{q['agents_logged_in']:<4} "
                     f"{q['waiting']:>5} {client.duration(q['longest_wait_seconds']):>8} {q['offered']:>8} "
                     f"{q['answered']:>9} {q['abandoned']:>8} {sl:>6} {asa:>6} {aht:>6}")
    return "\n".join(lines)


@queue.command("list")
@client.json_option
@click.pass_context
def queue_list(ctx: click.Context, as_json: bool) -> None:
    """Every queue with its live numbers (available/logged-in agents, waiting, SL, ASA, AHT)."""
    rows = client.api(client.remote(ctx), "/api/queues")
    click.echo(json.dumps(rows, indent=2) if as_json else _queue_table(rows))


def _show_queue(q: dict[str, Any]) -> str:
    lines = [_queue_table([q]), "", "members:"]
    for m in q["members"]:
        reason = f" ({m['pause_reason']})" if m["pause_reason"] else ""
        lines.append(f"  {m['agent']:<10} penalty {m['penalty']:<3} {m['state']}{reason}")
    if not q["members"]:
        lines.append("  (none)")
    lines.append("callers waiting:")
    for c in q["callers"]:
        lines.append(f"  {c['caller_id'] or '?':<16} waiting {client.duration(c['wait_seconds'])}")
    if not q["callers"]:
        lines.append("  (none)")
    return "\n".join(lines)


@queue.command("show")
@click.argument("name")
@client.json_option
@click.pass_context
def queue_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Members with state and pause reason, callers waiting with their wait time."""
    q = client.api(client.remote(ctx), f"/api/queues/{client.quoted('queue', name)}")
    click.echo(json.dumps(q, indent=2) if as_json else _show_queue(q))


@queue.command("add")
@click.argument("name")
@click.argument("agent_name", metavar="AGENT")
@click.option("--penalty", default=0, show_default=True, type=int, help="Higher penalty: offered later (0-100).")
@client.json_option
@click.pass_context
def queue_add(ctx: click.Context, name: str, agent_name: str, penalty: int, as_json: bool) -> None:
    """Add AGENT to queue NAME (kept across restarts)."""
    q = client.api(client.remote(ctx), f"/api/queues/{client.quoted('queue', name)}/members", "POST",
                   body={"agent": agent_name, "penalty": penalty})
    click.echo(json.dumps(q, indent=2) if as_json else f"{agent_name} is in {name} (penalty {penalty})")


@queue.command("remove")
@click.argument("name")
@click.argument("agent_name", metavar="AGENT")
@client.json_option
@click.pass_context
def queue_remove(ctx: click.Context, name: str, agent_name: str, as_json: bool) -> None:
    """Remove AGENT from queue NAME."""
    path = f"/api/queues/{client.quoted('queue', name)}/members/{client.quoted('agent', agent_name)}"
    q = client.api(client.remote(ctx), path, "DELETE")
    click.echo(json.dumps(q, indent=2) if as_json else f"{agent_name} left {name}")


@queue.command("pause")
@click.argument("agent_name", metavar="AGENT")
@click.option("--reason", required=True, help="Why (lunch, training, ...): shown to supervisors, kept.")
@click.option("--queue", "queue_name", default="", help="Only in this queue (default: all of the agent's).")
@client.json_option
@click.pass_context
def queue_pause(ctx: click.Context, agent_name: str, reason: str, queue_name: str, as_json: bool) -> None:
    """Pause AGENT: no calls are offered until unpaused."""
    a = client.api(client.remote(ctx), f"/api/agents/{client.quoted('agent', agent_name)}/pause", "POST",
                   body={"reason": reason, "queue": queue_name})
    click.echo(json.dumps(a, indent=2) if as_json else
               f"{agent_name} paused ({reason}){' in ' + queue_name if queue_name else ''}")


@queue.command("unpause")
@click.argument("agent_name", metavar="AGENT")
@client.json_option
@click.pass_context
def queue_unpause(ctx: click.Context, agent_name: str, as_json: bool) -> None:
    """Unpause AGENT."""
    a = client.api(client.remote(ctx), f"/api/agents/{client.quoted('agent', agent_name)}/unpause", "POST")
    click.echo(json.dumps(a, indent=2) if as_json else f"{agent_name} unpaused ({a['state']})")


@queue.command("watch")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between updates.")
@click.option("--count", default=0, help="Stop after this many updates (0: until Ctrl-C).")
@click.pass_context
def queue_watch(ctx: click.Context, interval: float, count: int) -> None:
    """A live table of the queues and their members, updated in place."""
    remote = client.remote(ctx)
    shown = 0
    try:
        while True:
            rows = client.api(remote, "/api/queues")
            screen = [time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)", _queue_table(rows), ""]
            for q in rows:
                members = ", ".join(f"{m['agent']}:{m['state']}" + (f"({m['pause_reason']})" if m["pause_reason"]
                                                                   else "") for m in q["members"]) or "-"
                screen.append(f"{q['name']:<12} {members}")
            # Home the cursor and clear the screen: the table updates in place.
            click.echo("\x1b[H\x1b[2J" + "\n".join(screen), nl=True)
            shown += 1
            if count and shown >= count:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@click.group()
def agent() -> None:
    """Agents: state, credentials."""


def _agent_line(a: dict[str, Any]) -> str:
    reason = f" ({a['pause_reason']})" if a["pause_reason"] else ""
    queues = ", ".join(f"{q}:{p}" for q, p in a["queues"].items()) or "-"
    return (f"{a['name']:<10} ext {a['extension']:<6} {a['state'] + reason:<24} calls {a['calls']:<4} "
            f"talk {client.duration(a['talk_seconds']):>6}  queues {queues}")


@agent.command("list")
@client.json_option
@click.pass_context
def agent_list(ctx: click.Context, as_json: bool) -> None:
    """Every agent's state (logged_out, ready, paused, ringing, on_call, wrapup) and numbers."""
    rows = client.api(client.remote(ctx), "/api/agents")
    click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(_agent_line(a) for a in rows))


@agent.command("show")
@click.argument("name")
@client.json_option
@click.pass_context
def agent_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One agent: state, queues and penalties, calls, talk time, pause time by reason."""
    a = client.api(client.remote(ctx), f"/api/agents/{client.quoted('agent', name)}")
    if as_json:
        click.echo(json.dumps(a, indent=2))
        return
    click.echo(_agent_line(a))
    for reason, seconds in a["pause_seconds"].items():
        click.echo(f"  paused {client.duration(seconds)} for {reason}")


@agent.command("phone")
@click.argument("name")
@click.argument("phone", type=click.Choice(["desk", "browser"]))
@client.json_option
@click.pass_context
def agent_phone(ctx: click.Context, name: str, phone: str, as_json: bool) -> None:
    """Choose where NAME's calls ring: their SIP `desk` phone, or the agent page's softphone in the
    `browser` (docs/softphone.md). Queue offers, click-to-call and presence follow the choice."""
    a = client.api(client.remote(ctx), f"/api/agents/{client.quoted('agent', name)}/phone", "POST",
                   body={"phone": phone})
    click.echo(json.dumps(a, indent=2) if as_json else f"{name}'s calls ring the {a['phone']} phone")


@agent.command()
@client.json_option
@click.pass_context
def credentials(ctx: click.Context, as_json: bool) -> None:
    """SIP credentials for the agents' and supervisors' phones and the agents' web logins
    (generated at first start; the web page: http://<api.bind>:<api.port>/, user name = agent name)."""
    config = client.config(ctx)
    try:
        creds = Credentials.load(config.runtime_dir)
    except (OSError, KeyError):
        client.fail("no-credentials", f"no {Credentials.path(config.runtime_dir)} yet: run `callcenter run` once")
    server = f"{config.sip.bind}:{config.sip.port}"
    rows = [{"agent": name, "extension": a.extension, "username": name,
             "password": creds.agent_passwords.get(name, ""), "registrar": f"sip:{server}", "transport": "udp",
             "web_password": creds.web_passwords.get(name, ""), "role": "agent"}
            for name, a in config.agents.items()]
    rows += [{"agent": name, "extension": s.extension, "username": name,
              "password": creds.supervisor_passwords.get(name, ""), "registrar": f"sip:{server}", "transport": "udp",
              "web_password": "", "role": "supervisor"}
             for name, s in config.supervisors.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"Register softphones at sip:{server} (UDP), user name = agent name:")
    for r in rows:
        web = f"web_password {r['web_password'] or '(not generated yet)'}" if r["role"] == "agent" else \
            "(supervisor's phone: monitors calls)"
        click.echo(f"  {r['agent']:<10} ext {r['extension']:<6} password {r['password'] or '(not generated yet)'}  {web}")
    if config.sip.softphone_url:
        click.echo(f"Browser softphone (the agent page, `callcenter agent phone NAME browser`): registers at "
                   f"{config.sip.softphone_url} as NAME-webrtc with the same password (docs/softphone.md)")
    click.echo(f"Web page: http://{config.api.bind}:{config.api.port}/ (log in with the agent name and web_password; "
               f"supervisors and admins: `callcenter user add`; the first admin is `admin`, password "
               f"{creds.web_admin_password or '(not generated yet)'})")


COMMANDS = (queue, agent)
