"""CLI commands of the ticket store: `db`, `customer`, `ticket`, `retention`.

`db upgrade` works on the database directly (no controller needed; `callcenter run` does it too);
the others go through the running controller's REST API, like every other command, so the same
validation and history apply whoever makes the change.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import click

from callcenter.cli import client
from callcenter.core.errors import CallcenterError


def _customer_ref(text: str) -> str:
    if not text.strip():
        client.fail("bad-request", "give a phone number, an email or a customer id (#12)")
    return urllib.parse.quote(text.strip(), safe="")


@click.group()
def db() -> None:
    """The store's database (store.url: SQLite in the runtime folder by default, or PostgreSQL)."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's tables to this version (Alembic; idempotent)."""
    from callcenter.tickets import db as store_db
    config = client.config(ctx)
    config.runtime_dir.mkdir(parents=True, exist_ok=True)  # the default store's folder
    try:
        store_db.upgrade(config.store_url)
        click.echo(f"store {store_db.describe(config.store_url)} is at revision {store_db.head()}")
    except CallcenterError as exc:
        client.fail(exc.error_id, str(exc), 2)


def _timeline_line(i: dict[str, Any]) -> str:
    what = i["channel"]
    if what == "voice":
        def secs(v: int | None) -> str:
            return "-" if v is None else f"{v}s"
        detail = (f"{i['direction']:<8} {i['address'] or 'withheld':<16} did {i['did'] or '-':<12} "
                  f"queue {i['queue'] or '-':<8} agent {i['agent'] or '-':<8} wait {secs(i['wait_seconds'])} "
                  f"talk {secs(i['talk_seconds'])} cause {i['hangup_cause'] or '-'}")
        if i["variables"]:
            detail += " " + " ".join(f"{k}={v}" for k, v in i["variables"].items())
    else:
        detail = f"{i['address']} {i['recording_path'] or ''} {(i['body'] or '')[:60]!r}"
        if i.get("recording_problem"):
            detail += f" ({i['recording_problem']})"  # e.g. "empty voicemail: no sound (silence only)"
    return f"  {client.when(i['started_at'])}  #{i['ticket_id']:<5} {what:<9} {detail}"


def _show_file(data: dict[str, Any]) -> str:
    c = data["customer"]
    flags = ["unidentified"] if c["unidentified"] else []
    lines = [f"customer #{c['id']} {c['name'] or '(no name)'}" + (f"  [{', '.join(flags)}]" if flags else "")
             + (f"  tags: {', '.join(c['tags'])}" if c["tags"] else "")]
    for i in data["identities"]:
        lines.append(f"  {i['kind']:<7} {i['value']}" + ("" if i["valid"] else f"  (not a valid number; as received: "
                                                                              f"{i['raw']!r})"))
    lines.append(f"open tickets: {len(data['open_tickets'])}")
    for t in data["open_tickets"]:
        lines.append(f"  #{t['id']:<5} {t['status']:<8} {t['priority']:<7} {t['assignee'] or '-':<8} {t['subject']}")
    lines.append(f"timeline (newest first, {len(data['timeline'])}):")
    lines += [_timeline_line(i) for i in data["timeline"]]
    return "\n".join(lines)


@click.group()
def customer() -> None:
    """Customers: one file per customer, whatever the channel (phones in E.164, emails)."""


@customer.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@client.json_option
@click.pass_context
def customer_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Customers with their identities, latest activity first."""
    rows = client.api(client.remote(ctx), f"/api/customers?limit={limit}")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for c in rows:
        flags = " [unidentified]" if c["unidentified"] else ""
        click.echo(f"#{c['id']:<6} {c['name'] or '-':<24} {', '.join(c['identities']) or '-'}{flags}"
                   + (f"  tags: {', '.join(c['tags'])}" if c["tags"] else ""))
    if not rows:
        click.echo("no customers yet")


@customer.command("show")
@click.argument("who", metavar="PHONE|EMAIL|#ID")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000), help="Interactions shown.")
@client.json_option
@click.pass_context
def customer_show(ctx: click.Context, who: str, limit: int, as_json: bool) -> None:
    """The customer, identities, open tickets and the timeline (newest first). A phone number in any
    common format (+1 415-555-2671, (415) 555-2671) finds the same customer."""
    data = client.api(client.remote(ctx), f"/api/customers?q={_customer_ref(who)}&limit={limit}")
    click.echo(json.dumps(data, indent=2) if as_json else _show_file(data))


@customer.command("create")
@click.option("--name", default="", help="The customer's name.")
@click.option("--phone", "phones", multiple=True, help="A phone number (any format; repeatable).")
@click.option("--email", "emails", multiple=True, help="An email address (repeatable).")
@client.json_option
@click.pass_context
def customer_create(ctx: click.Context, name: str, phones: tuple[str, ...], emails: tuple[str, ...],
                    as_json: bool) -> None:
    """Create a customer with identities."""
    identities = [{"kind": "phone", "value": p} for p in phones] + [{"kind": "email", "value": e} for e in emails]
    data = client.api(client.remote(ctx), "/api/customers", "POST", body={"name": name, "identities": identities,
                                                              "actor": "cli"})
    click.echo(json.dumps(data, indent=2) if as_json else _show_file(data))


def _customer_id(ctx: click.Context, who: str) -> int:
    return int(client.api(client.remote(ctx), f"/api/customers?q={_customer_ref(who)}&limit=1")["customer"]["id"])


@customer.command("tag")
@click.argument("who", metavar="PHONE|EMAIL|#ID")
@click.argument("tags", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Remove these tags instead.")
@click.pass_context
def customer_tag(ctx: click.Context, who: str, tags: tuple[str, ...], remove: bool) -> None:
    """Tag a customer, e.g. vip (IVR flows can branch on `customer.tags contains vip`)."""
    cid = _customer_id(ctx, who)
    body = {"remove_tags" if remove else "add_tags": list(tags)}
    data = client.api(client.remote(ctx), f"/api/customers/{cid}", "PATCH", body=body)
    click.echo(f"customer #{cid} tags: {', '.join(data['customer']['tags']) or '-'}")


@customer.command("merge")
@click.argument("target", metavar="A")
@click.argument("source", metavar="B")
@click.pass_context
def customer_merge(ctx: click.Context, target: str, source: str) -> None:
    """Merge customer B into A (identities, tickets, interactions move to A). Undo with `unmerge`."""
    a, b = _customer_id(ctx, target), _customer_id(ctx, source)
    data = client.api(client.remote(ctx), f"/api/customers/{a}/merge", "POST", body={"source": b, "actor": "cli"})
    moved = data["moved"]
    click.echo(f"merge #{data['merge_id']}: customer #{b} into #{a} ({len(moved['identities'])} identities, "
               f"{len(moved['tickets'])} tickets, {len(moved['interactions'])} interactions moved); "
               f"undo: callcenter customer unmerge {data['merge_id']}")


@customer.command("unmerge")
@click.argument("merge_id", type=click.IntRange(1))
@click.pass_context
def customer_unmerge(ctx: click.Context, merge_id: int) -> None:
    """Undo a merge: what moved moves back."""
    data = client.api(client.remote(ctx), f"/api/merges/{merge_id}/undo", "POST", body={"actor": "cli"})
    click.echo(f"merge #{data['merge_id']} undone: customer #{data['source']} is separate from #{data['target']} again")


@click.group()
def ticket() -> None:
    """Tickets: new → open → pending → resolved → closed, with a history of every change."""


def _ticket_line(t: dict[str, Any]) -> str:
    return (f"#{t['id']:<5} {t['status']:<8} {t['priority']:<7} {t['assignee'] or '-':<8} customer #{t['customer_id']:<5}"
            f" {client.when(t['updated_at'])}  {t['subject']}" + ("  [call back]" if t["callback_requested"] else ""))


@ticket.command("list")
@click.option("--status", type=click.Choice(["new", "open", "pending", "resolved", "closed"]))
@click.option("--customer", "customer_ref", help="A phone, email or #ID.")
@click.option("--assignee")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@client.json_option
@click.pass_context
def ticket_list(ctx: click.Context, status: str | None, customer_ref: str | None, assignee: str | None, limit: int,
                as_json: bool) -> None:
    """Tickets, newest activity first."""
    query = {"limit": str(limit), **({"status": status} if status else {}),
             **({"customer": customer_ref} if customer_ref else {}), **({"assignee": assignee} if assignee else {})}
    rows = client.api(client.remote(ctx), "/api/tickets?" + urllib.parse.urlencode(query))
    click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(_ticket_line(t) for t in rows) or "no tickets")


def _show_ticket(t: dict[str, Any]) -> str:
    lines = [_ticket_line(t), f"  tags: {', '.join(t['tags']) or '-'}   version {t['version']}",
             f"  first response due {client.when(t['first_response_due'])} (done {client.when(t['first_response_at'])}), "
             f"resolution due {client.when(t['resolution_due'])}", "history:"]
    lines += [f"  {client.when(h['at'])} {client.clock(h['at'])} {h['actor']:<8} {h['field']}: {h['old']!r} → {h['new']!r}"
              for h in t["history"]]
    lines.append("interactions:")
    lines += [_timeline_line(i) for i in t["interactions"]]
    return "\n".join(lines)


@ticket.command("show")
@click.argument("ticket_id", type=click.IntRange(1))
@client.json_option
@click.pass_context
def ticket_show(ctx: click.Context, ticket_id: int, as_json: bool) -> None:
    """A ticket with its history (who, when, from → to) and interactions."""
    data = client.api(client.remote(ctx), f"/api/tickets/{ticket_id}")
    click.echo(json.dumps(data, indent=2) if as_json else _show_ticket(data))


@ticket.command("update")
@click.argument("ticket_id", type=click.IntRange(1))
@click.option("--status", type=click.Choice(["new", "open", "pending", "resolved", "closed"]))
@click.option("--assign", "assignee", help="An agent's name ('' to unassign).")
@click.option("--priority", type=click.Choice(["low", "normal", "high", "urgent"]))
@click.option("--queue", help="The queue whose agents work it ('' for none); its SLA counts in that queue's calendar.")
@click.option("--note", help="An internal note.")
@click.option("--tag", "tags", multiple=True, help="Add a tag (repeatable).")
@click.option("--untag", "untags", multiple=True, help="Remove a tag (repeatable).")
@click.option("--version", type=int, help="Refuse if the ticket changed since this version.")
@client.json_option
@click.pass_context
def ticket_update(ctx: click.Context, ticket_id: int, status: str | None, assignee: str | None, priority: str | None,
                  queue: str | None, note: str | None, tags: tuple[str, ...], untags: tuple[str, ...],
                  version: int | None, as_json: bool) -> None:
    """Change a ticket; an invalid status change is refused (invalid-transition)."""
    body: dict[str, Any] = {"actor": "cli", "add_tags": list(tags), "remove_tags": list(untags)}
    for key, value in (("status", status), ("assignee", assignee), ("priority", priority), ("queue", queue),
                       ("note", note), ("version", version)):
        if value is not None:
            body[key] = value
    data = client.api(client.remote(ctx), f"/api/tickets/{ticket_id}", "PATCH", body=body)
    click.echo(json.dumps(data, indent=2) if as_json else _show_ticket(data))


@ticket.command("assign")
@click.argument("ticket_id", type=int)
@click.argument("agent")
@client.json_option
@click.pass_context
def ticket_assign(ctx: click.Context, ticket_id: int, agent: str, as_json: bool) -> None:
    """Give ticket TICKET_ID to AGENT ("" puts it back in its queue, offered to the next agent)."""
    data = client.api(client.remote(ctx), f"/api/inbox/{ticket_id}/assign", "POST", body={"agent": agent})
    t = data["ticket"]
    click.echo(json.dumps(t, indent=2) if as_json else
               f"ticket #{t['id']}: {t['assignee'] or 'nobody (back in its queue)'}, {t['status']}")


@click.group()
def retention() -> None:
    """Purge old recordings, transcripts and message bodies (store.retention_days)."""


@retention.command("apply")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.pass_context
def retention_apply(ctx: click.Context, dry_run: bool) -> None:
    """Remove what is older than its configured age; the fact that a contact happened stays."""
    data = client.api(client.remote(ctx), "/api/retention/apply", "POST", body={"dry_run": dry_run})
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb}: {len(data['recordings'])} recordings, {data['transcripts']} transcripts, "
               f"{data['bodies']} message bodies")
    for r in data["recordings"]:
        click.echo(f"  {r['path']} (interaction {r['interaction']})")
    for r in data["refused"]:
        click.echo(f"  kept {r['path']} (interaction {r['interaction']}): {r['why']}")


COMMANDS = (db, customer, ticket, retention)
