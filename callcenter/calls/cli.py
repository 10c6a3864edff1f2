"""`callcenter calls` and `callcenter call`: live and recent calls, one live call's recording."""

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
    """One live call."""


@call_group.command("record")
@click.argument("action", type=click.Choice(["pause", "resume"]))
@click.argument("call_id")
@click.pass_context
def call_record(ctx: click.Context, action: str, call_id: str) -> None:
    """Pause or resume a live call's recording (e.g. while a card number is read out); the
    paused part is silence in the file. CALL_ID is the Linkedid (`callcenter calls`)."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", call_id) or len(call_id) > 64:  # a Linkedid: ASCII digits
        client.fail("unknown-call", f"no call {call_id!r}")
    data = client.api(client.remote(ctx), f"/api/calls/{urllib.parse.quote(call_id)}/recording", "POST", body={"action": action})
    click.echo(f"call {data['call_id']}: recording {'paused' if data['recording'] == 'paused' else 'resumed'}")


COMMANDS = (calls, call_group)
