"""CLI commands of the text channels: `sms simulate` (an inbound message through the real webhook, signed as the
provider would), `sms send` (a reply on a ticket through the configured provider), `email quarantine list`, `chat list`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import click

from callcenter.channels.sms import rules as sms_rules
from callcenter.cli import client
from callcenter.core.credentials import Credentials


@click.group()
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
    config = client.config(ctx)
    remote = client.remote(ctx)
    try:
        token = Credentials.load(remote.runtime_dir).sms_token()
    except (OSError, KeyError):
        client.fail("no-credentials", f"no {Credentials.path(remote.runtime_dir)} yet: run `callcenter run` once")
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
        client.fail("sms-refused", f"the webhook answered {exc.code}: {exc.read(300).decode(errors='replace')}")
    except urllib.error.URLError as exc:
        client.fail("controller-unreachable", f"{remote.base_url}: {exc.reason}")
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
    r = client.api(client.remote(ctx), f"/api/tickets/{ticket_id}/reply", "POST", body=body)
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    click.echo(f"SMS to {r['address']} on ticket #{r['ticket_id']}: {r['delivery_status']} "
               f"({r['segments']} segment(s), {r['encoding']})")


COMMANDS = (sms,)
