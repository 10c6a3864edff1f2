"""CLI commands of the web logins: `user add|list|passwd|remove` (admins' work, through the
running controller's API with the API token). Agents' logins are made from callcenter.yaml
(`callcenter agent credentials` shows their web_password)."""

from __future__ import annotations

import json
import re
import urllib.parse

import click

from callcenter.cli import client
from callcenter.core.credentials import Credentials

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _name(name: str) -> str:
    if not NAME.fullmatch(name):
        client.fail("bad-user", f"{name[:40]!r} is not a user name (lower-case letters, digits, '_', '.', '-'; up to 64)")
    return urllib.parse.quote(name, safe="")


@click.group()
def user() -> None:
    """Web logins for the agent page and the wallboard (http://<api.bind>:<api.port>/): agents get one
    each from callcenter.yaml; add supervisors and admins here."""


@user.command("list")
@client.json_option
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """Users, their role, and whether they are disabled (agents no longer in the config)."""
    rows = client.api(client.remote(ctx), "/api/users")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['name']:<20} {r['role']:<11} {'disabled' if r['disabled'] else ''}")


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), required=True)
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str) -> None:
    """Add a user with a generated password (printed once: only its hash is kept)."""
    _name(name)
    r = client.api(client.remote(ctx), "/api/users", "POST", body={"name": name, "role": role})
    click.echo(f"user {r['name']} ({r['role']}) added; password: {r['password']}")


@user.command("passwd")
@click.argument("name")
@click.pass_context
def user_passwd(ctx: click.Context, name: str) -> None:
    """Give a user a new generated password (printed once); their sessions end. An agent's web
    password lives in secrets.yaml: remove it there and restart to make a new one instead."""
    remote = client.remote(ctx)
    try:
        agents = Credentials.load(remote.runtime_dir).web_passwords
    except (OSError, KeyError):
        agents = {}
    if name in agents:
        client.fail("agent-login", f"{name} is an agent: its web password is in {Credentials.path(remote.runtime_dir)} "
                             "(web_passwords); delete it there and restart the controller for a new one")
    r = client.api(remote, f"/api/users/{_name(name)}", "PATCH", body={"new_password": True})
    click.echo(f"user {r['name']}: new password: {r['password']}")


@user.command("remove")
@click.argument("name")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove a user (their sessions end)."""
    client.api(client.remote(ctx), f"/api/users/{_name(name)}", "DELETE")
    click.echo(f"user {name} removed")


COMMANDS = (user,)
