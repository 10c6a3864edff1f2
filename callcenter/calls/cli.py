"""`callcenter calls` and `callcenter call`: live and recent calls; one live call's recording, hold,
mute, transfers, conference, monitoring (docs/call-control.md)."""

from __future__ import annotations

import re
import urllib.parse

import click

from callcenter.cli import client


@click.command()
@client.json_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many recent calls.")
@click.pass_context
def calls(ctx: click.Context, as_json: bool, limit: int) -> None:
    """Active and recent calls: caller ID, DID, start / answer / end times, hangup cause."""
    data = client.api(client.remote(ctx), f"/api/calls?limit={limit}")
    if as_json:
        client.echo_json(data)
        return
    rows = data["active"] + data["recent"]
    if not rows:
        click.echo("no calls yet")
        return
    click.echo(f"{'CALL':<22} {'STATE':<10} {'CALLER':<16} {'DID':<12} {'START':<9} {'ANSWER':<9} {'END':<9} "
               f"{'QUEUE':<10} {'AGENT':<8} CAUSE")
    for c in rows:
        cause = f"{c['hangup_cause']} {c['hangup_cause_text']}" if c["hangup_cause"] is not None else ""
        click.echo(f"{c['call_id']:<22} {c['state']:<10} {c['caller_id']:<16} {c['did'] or '-':<12} "
                   f"{client.clock(c['started_at']):<9} {client.clock(c['answered_at']):<9} {client.clock(c['ended_at']):<9} "
                   f"{c['queue'] or '-':<10} {c['agent'] or '-':<8} {cause}")


@click.group("call")
def call_group() -> None:
    """Control one live call: CALL_ID is its Linkedid (`callcenter calls`)."""


def _call_path(call_id: str, what: str) -> str:
    if not re.fullmatch(r"[0-9A-Za-z._-]+", call_id) or len(call_id) > 64:  # a Linkedid: ASCII digits and a dot
        client.fail("unknown-call", f"no call {call_id!r}")
    return f"/api/calls/{urllib.parse.quote(call_id)}/{what}"


def _control(ctx: click.Context, call_id: str, what: str, body: dict[str, object]) -> dict:
    return client.api(client.remote(ctx), _call_path(call_id, what), "POST", body=body)


AGENT_OPTION = click.option("--agent", default="", help="Act as this agent on the call (default: the agent who has "
                                                         "the customer).")


@call_group.command("hold")
@click.argument("call_id")
@AGENT_OPTION
@click.pass_context
def call_hold(ctx: click.Context, call_id: str, agent: str) -> None:
    """Put the customer on hold (they hear music on hold) until `callcenter call resume`."""
    _control(ctx, call_id, "hold", {"agent": agent})
    click.echo(f"call {call_id}: on hold")


@call_group.command("resume")
@click.argument("call_id")
@AGENT_OPTION
@click.pass_context
def call_resume(ctx: click.Context, call_id: str, agent: str) -> None:
    """Take the customer off hold: agent and customer talk again."""
    _control(ctx, call_id, "resume", {"agent": agent})
    click.echo(f"call {call_id}: resumed")


@call_group.command("mute")
@click.argument("call_id")
@click.option("--off", is_flag=True, help="Unmute.")
@AGENT_OPTION
@click.pass_context
def call_mute(ctx: click.Context, call_id: str, off: bool, agent: str) -> None:
    """Mute the agent's microphone on the call (the customer stops hearing the agent)."""
    _control(ctx, call_id, "mute", {"agent": agent, "muted": not off})
    click.echo(f"call {call_id}: {'unmuted' if off else 'muted'}")


@call_group.command("hangup")
@click.argument("call_id")
@AGENT_OPTION
@click.pass_context
def call_hangup(ctx: click.Context, call_id: str, agent: str) -> None:
    """The agent leaves the call (a two-party call ends; a conference goes on)."""
    _control(ctx, call_id, "hangup", {"agent": agent})
    click.echo(f"call {call_id}: hung up")


@call_group.command("transfer")
@click.argument("call_id")
@click.option("--to", "to", default="", help="agent2 | an extension | queue:NAME | +E164 number.")
@click.option("--attended", is_flag=True, help="Consult the target first (the customer hears music on hold).")
@click.option("--note", default="", help="Transfer with context: shown to the receiving agent with the screen pop.")
@click.option("--complete", "finish", flag_value="complete", help="Attended: hand the customer over, leave.")
@click.option("--cancel", "finish", flag_value="cancel", help="Attended: drop the consultation, back to the customer.")
@click.option("--conference", "finish", flag_value="conference", help="Attended: all three talk (three-way call).")
@AGENT_OPTION
@click.pass_context
def call_transfer(ctx: click.Context, call_id: str, to: str, attended: bool, note: str, finish: str | None,
                  agent: str) -> None:
    """Blind transfer (--to), attended transfer (--to --attended, then --complete, --cancel or
    --conference). A blind transfer to an agent who does not answer brings the caller back to
    their queue."""
    if bool(to) == bool(finish):
        client.fail("bad-request", "give --to TARGET, or one of --complete / --cancel / --conference")
    if finish:
        data = _control(ctx, call_id, "transfer", {"agent": agent, "action": finish})
        click.echo(f"call {call_id}: consultation with {data['target']}: {finish}")
        return
    data = _control(ctx, call_id, "transfer", {"agent": agent, "to": to, "attended": attended, "note": note})
    click.echo(f"call {call_id}: consulting {data['consulting']} (the customer is on hold)" if attended
               else f"call {call_id}: transferred to {data['transferred']}")


@call_group.command("conference")
@click.argument("call_id")
@click.option("--add", default="", help="Call this agent or +E164 number into the call.")
@click.option("--drop", default="", help="Hang up this party (a name, a number, or a uniqueid from `call parties`).")
@AGENT_OPTION
@click.pass_context
def call_conference(ctx: click.Context, call_id: str, add: str, drop: str, agent: str) -> None:
    """Three-way call / small conference: add a party (their phone rings; returns when they
    answer) or drop one."""
    if bool(add) == bool(drop):
        client.fail("bad-request", "give --add TARGET or --drop PARTY")
    data = _control(ctx, call_id, "conference", {"agent": agent, **({"add": add} if add else {"drop": drop})})
    click.echo(f"call {call_id}: {'added ' + data['added'] if add else 'dropped ' + data['dropped']}")


@call_group.command("parties")
@click.argument("call_id")
@client.json_option
@click.pass_context
def call_parties(ctx: click.Context, call_id: str, as_json: bool) -> None:
    """Who is on a live call: each party, the conversation they are in (parties with the same one
    hear each other), hold and mute."""
    data = client.api(client.remote(ctx), _call_path(call_id, "parties"))
    if as_json:
        client.echo_json(data)
        return
    for p in data["parties"]:
        flags = " ".join(f for f, on in (("on-hold", p["on_hold"]), ("muted", p["muted"])) if on)
        click.echo(f"{p['party']:<16} {p['role']:<10} talks in {p['conversation'] or '-':<38} {flags}")
    if data["consultation"]:
        click.echo(f"consultation: {data['consultation']['agent']} with {data['consultation']['target']}")


@call_group.command("monitor")
@click.argument("call_id")
@click.option("--phone", required=True, help="The supervisor's phone (`supervisors:`) or an agent phone you sit at.")
@click.option("--mode", type=click.Choice(["listen", "whisper", "barge"]), default="listen", show_default=True,
              help="listen: hear both sides; whisper: only the agent hears you; barge: everyone hears you.")
@click.option("--switch", "monitor_id", default="", help="Switch this running monitor session (its id) to --mode.")
@click.pass_context
def call_monitor(ctx: click.Context, call_id: str, phone: str, mode: str, monitor_id: str) -> None:
    """Monitor a live call: your phone rings; answer it to listen, whisper or barge. Supervisors and
    admins only; the agent is not told (no beep)."""
    if monitor_id:
        _control(ctx, call_id, f"monitor/{urllib.parse.quote(monitor_id)}", {"mode": mode})
        click.echo(f"monitor {monitor_id}: {mode}")
        return
    data = _control(ctx, call_id, "monitor", {"phone": phone, "mode": mode})
    click.echo(f"call {call_id}: {phone} monitors {data['agent']} ({mode}); session {data['monitor']}")


@call_group.command("record")
@click.argument("action", type=click.Choice(["pause", "resume"]))
@click.argument("call_id")
@click.pass_context
def call_record(ctx: click.Context, action: str, call_id: str) -> None:
    """Pause or resume a live call's recording (e.g. while a card number is read out); the
    paused part is silence in the file. CALL_ID is the Linkedid (`callcenter calls`)."""
    data = client.api(client.remote(ctx), _call_path(call_id, "recording"), "POST", body={"action": action})
    click.echo(f"call {data['call_id']}: recording {'paused' if data['recording'] == 'paused' else 'resumed'}")


COMMANDS = (calls, call_group)
