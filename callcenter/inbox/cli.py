"""`callcenter inbox`: the pending work of the queues, of an agent, or a search, through the
running controller's REST API (`callcenter ticket assign` is with the ticket commands)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import click

from callcenter.cli import client


def _table(items: list[dict[str, Any]], now: float) -> str:
    lines = [f"{'TICKET':>7} {'CHANNEL':<9} {'QUEUE':<10} {'PRIO':<7} {'SLA':<9} {'WAITING':>8} {'AGENT':<10} "
             "CUSTOMER / SUBJECT"]
    for i in items:
        waiting = client.duration(now - i["waiting_since"]) if i["waiting_since"] else "-"
        who = i["customer"]["name"] or f"customer #{i['customer']['id']}"
        agent = i["assignee"] or (f"({i['offered_to']}?)" if i["offered_to"] else "")
        lines.append(f"{i['ticket']:>7} {i['channel']:<9} {i['queue'] or '-':<10} {i['priority']:<7} "
                     f"{i['sla']['state'] or '-':<9} {waiting:>8} {agent:<10} {who}: {i['subject'] or i['preview']}"[:160])
    if not items:
        lines.append("  (nothing waits)")
    return "\n".join(lines)


@click.command("inbox")
@click.option("--agent", help="That agent's own work (their tickets and chats).")
@click.option("--queue", help="Only this queue's items.")
@click.option("--search", "text", help="Find tickets by number, phone, email, name or the text of messages.")
@client.json_option
@click.pass_context
def inbox(ctx: click.Context, agent: str | None, queue: str | None, text: str | None, as_json: bool) -> None:
    """Pending work, most urgent first: what nobody has yet (every queue, or --queue), an agent's
    own (--agent), or a search. Offered items show the agent they are offered to as (agent?)."""
    query: dict[str, str] = {"view": "search" if text else "mine" if agent else "queues"}
    for key, value in (("agent", agent), ("queue", queue), ("q", text)):
        if value:
            query[key] = value
    data = client.api(client.remote(ctx), "/api/inbox?" + urllib.parse.urlencode(query))
    click.echo(json.dumps(data, indent=2) if as_json else _table(data["items"], time.time()))


COMMANDS = (inbox,)
