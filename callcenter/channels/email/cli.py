"""`callcenter email`: the quarantine of mail that could not be read: list, release, delete."""

from __future__ import annotations

import json

import click

from callcenter.channels.email.intake import QUARANTINE_ID
from callcenter.cli import client


@click.group()
def email() -> None:
    """Email into tickets: the SMTP receiver (email.smtp_port) and its quarantine."""


@email.group("quarantine")
def email_quarantine() -> None:
    """Mail the receiver kept aside (it could not put it on a ticket), with the reason."""


@email_quarantine.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def email_quarantine_list(ctx: click.Context, as_json: bool) -> None:
    """Quarantined messages, newest first: id, sender, size, reason (the .eml file with --json)."""
    r = client.api(client.remote(ctx), "/api/email/quarantine")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    if r["problem"]:
        click.echo(f"PROBLEM: {r['problem']}")
    for m in r["messages"]:
        click.echo(f"{m['id']}  {m.get('mail_from') or '?'}  {m.get('bytes', 0)} bytes  {m['reason']}")
    if not r["messages"]:
        click.echo("nothing in quarantine")


def _path(message_id: str) -> str:
    """/api/email/quarantine/<id>, for an id of the list's shape only (anything else: answered here)."""
    if not QUARANTINE_ID.fullmatch(message_id):
        client.fail("unknown-quarantined", f"no quarantined message {message_id[:40]!r} (ids look like "
                                           "20261207-223507-0123456789ab: `callcenter email quarantine list`)")
    return f"/api/email/quarantine/{message_id}"


@email_quarantine.command("release")
@click.argument("message_id", metavar="ID")
@client.json_option
@click.pass_context
def email_quarantine_release(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """Take message ID again (after a fix, or to accept it): it lands on its ticket and leaves the
    quarantine; if it still cannot be read it stays, and the reason is printed (exit 1)."""
    r = client.api(client.remote(ctx), f"{_path(message_id)}/release", method="POST", body={})
    if as_json:
        client.echo_json(r)
        return
    click.echo(f"released {r['id']} onto ticket #{r['ticket']}" + ("" if r["new"] else " (it was there already)"))


@email_quarantine.command("delete")
@click.argument("message_id", metavar="ID")
@client.json_option
@click.pass_context
def email_quarantine_delete(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """Delete message ID from the quarantine for good (its .eml and its note)."""
    r = client.api(client.remote(ctx), _path(message_id), method="DELETE")
    if as_json:
        client.echo_json(r)
        return
    click.echo(f"deleted {r['id']}")


COMMANDS = (email,)
