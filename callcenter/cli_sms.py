"""CLI commands of the text channels: `sms simulate` (an inbound message through the real webhook, signed as the
provider would), `sms send` (a reply on a ticket through the configured provider), `email quarantine list`, `chat list`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import click

from callcenter.channels import sms as sms_rules
from callcenter.cli import _api, _config, _fail, _remote, main
from callcenter.credentials import Credentials


@main.group()
def sms() -> None:
    """SMS on tickets: simulate an inbound message, send a reply."""


@sms.command("simulate")
@click.option("--from", "sender", required=True, help="The sender's number (any common format).")
@click.option("--to", "to", default="", help="Our number it was sent to.")
@click.argument("text")
@click.pass_context
def sms_simulate(ctx: click.Context, sender: str, to: str, text: str) -> None:
    """Inject an inbound SMS as the provider would: a form POST to /webhooks/sms/twilio signed with
    the auth token (for `make run`, offline)."""
    config = _config(ctx)
    remote = _remote(ctx)
    try:
        token = Credentials.load(remote.runtime_dir).sms_token()
    except (OSError, KeyError):
        _fail("no-credentials", f"no {Credentials.path(remote.runtime_dir)} yet: run `callcenter run` once")
    import secrets
    params = [("From", sender), ("To", to), ("Body", text), ("MessageSid", f"SM{secrets.token_hex(16)}")]
    path = "/webhooks/sms/twilio"
    signature = sms_rules.signature(token, config.sms_public_url + path, params)
    request = urllib.request.Request(f"{remote.base_url}{path}", data=urllib.parse.urlencode(params).encode(),
                                     method="POST", headers={"X-Twilio-Signature": signature,
                                                             "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        _fail("sms-refused", f"the webhook answered {exc.code}: {exc.read(300).decode(errors='replace')}")
    except urllib.error.URLError as exc:
        _fail("controller-unreachable", f"{remote.base_url}: {exc.reason}")
    click.echo(f"SMS from {sender} delivered to the webhook ({params[3][1]})")


@sms.command("send")
@click.argument("ticket_id", type=click.IntRange(1, 2**31 - 1))
@click.argument("text")
@click.option("--to", default=None, help="Another number than the customer's first.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sms_send(ctx: click.Context, ticket_id: int, text: str, to: str | None, as_json: bool) -> None:
    """Reply on a ticket by SMS, through sms.provider (dev: kept on the ticket, nothing sent)."""
    body = {"channel": "sms", "text": text, **({"to": to} if to else {})}
    r = _api(_remote(ctx), f"/api/tickets/{ticket_id}/reply", "POST", body=body)
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    click.echo(f"SMS to {r['address']} on ticket #{r['ticket_id']}: {r['delivery_status']} "
               f"({r['segments']} segment(s), {r['encoding']})")


@main.group()
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
    r = _api(_remote(ctx), "/api/email/quarantine")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    if r["problem"]:
        click.echo(f"PROBLEM: {r['problem']}")
    for m in r["messages"]:
        click.echo(f"{m['file']}  {m.get('mail_from') or '?'}  {m.get('bytes', 0)} bytes  {m['reason']}")
    if not r["messages"]:
        click.echo("nothing in quarantine")


@main.group()
def chat() -> None:
    """Web chat: the widget (/chat/widget.js) and the chats agents hold or that wait."""


@chat.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def chat_list(ctx: click.Context, as_json: bool) -> None:
    """Live chats: id, state, queue, agent, the visitor's contact, messages so far."""
    r = _api(_remote(ctx), "/api/chats")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    for c in r["chats"]:
        who = c["contact"].get("name") or c["contact"].get("email") or c["contact"].get("phone") or \
            f"visitor {c['visitor']}"
        click.echo(f"#{c['id']}  {c['state']:<7}  {c['queue']:<12} {c['agent'] or '-':<12} ticket #{c['ticket_id']}  "
                   f"{who!r}  {len(c['messages'])} message(s)")
    if not r["chats"]:
        click.echo("no chat open")
