"""`callcenter chat`: the live web chats."""

from __future__ import annotations

import json

import click

from callcenter.cli import client


@click.group()
def chat() -> None:
    """Web chat: the widget (/chat/widget.js) and the chats agents hold or that wait."""


@chat.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def chat_list(ctx: click.Context, as_json: bool) -> None:
    """Live chats: id, state, queue, agent, the visitor's contact, messages so far."""
    r = client.api(client.remote(ctx), "/api/chats")
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


COMMANDS = (chat,)
