"""`callcenter email`: the quarantine of mail that could not be read."""

from __future__ import annotations

import json

import click

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
    """Quarantined messages, newest first: file, reason, sender."""
    r = client.api(client.remote(ctx), "/api/email/quarantine")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    if r["problem"]:
        click.echo(f"PROBLEM: {r['problem']}")
    for m in r["messages"]:
        click.echo(f"{m['file']}  {m.get('mail_from') or '?'}  {m.get('bytes', 0)} bytes  {m['reason']}")
    if not r["messages"]:
        click.echo("nothing in quarantine")


COMMANDS = (email,)
