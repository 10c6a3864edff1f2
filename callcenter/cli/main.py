"""The `callcenter` command: the root group, `run`, `status` and `config`; every feature's own
groups (queue, agent, flow, customer, ticket, sms, ...) are added from one list, `FEATURES`.

`callcenter run` starts the whole system; the other commands talk to the running controller's
REST API (cli/client.py), so the CLI and the web pages see the same live state.
"""

from __future__ import annotations

import asyncio

import click

from callcenter.calls import cli as calls_cli
from callcenter.channels.chat import cli as chat_cli
from callcenter.channels.email import cli as email_cli
from callcenter.channels.sms import cli as sms_cli
from callcenter.cli import client
from callcenter.core.errors import CallcenterError
from callcenter.ivr import cli as ivr_cli
from callcenter.routing import cli as routing_cli
from callcenter.tickets import cli as tickets_cli
from callcenter.voicemail import cli as voicemail_cli
from callcenter.workspace import cli as workspace_cli

# Each feature's commands (its cli.py's COMMANDS), in the order `callcenter --help` lists them.
FEATURES = (calls_cli, routing_cli, ivr_cli, tickets_cli, voicemail_cli, sms_cli, email_cli, chat_cli, workspace_cli)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="CALLCENTER_CONFIG", type=click.Path(dir_okay=False),
              help="Configuration file (default: ./callcenter.yaml, or $CALLCENTER_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """callcenter: a telephony-first contact center on a real Asterisk.

    \b
    Start everything:      callcenter run        (or: make run)
    See it live:           callcenter status     callcenter calls
    Queues and agents:     callcenter queue list | show | add | remove | pause | unpause | watch
                           callcenter agent list | show | credentials
    IVR flows:             callcenter flow validate | graph | list | reload
    Configuration:         callcenter config check | reload
    Customers, tickets:    callcenter customer ... | ticket ... | voicemail list | show
    Web pages:             http://127.0.0.1:8080/ (agents), /wallboard (supervisors)
                           callcenter agent credentials (web_password) | user add | list | passwd | remove
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@main.command()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def run(ctx: click.Context, verbose: bool) -> None:
    """Start Asterisk, the controller and the REST API; Ctrl-C stops all of them.

    Installs nothing: `make run` installs Asterisk and the Python environment first.
    """
    from callcenter import app

    config = client.config(ctx)
    app.setup_logging(config, verbose)
    try:
        asyncio.run(app.run(config))
    except CallcenterError as exc:
        client.fail(exc.error_id, str(exc))
    except KeyboardInterrupt:
        pass


@main.command()
@client.json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Asterisk version and uptime, AMI connection and resync state, calls, subscriber errors, queues."""
    data = client.api(client.remote(ctx), "/api/status")
    if as_json:
        client.echo_json(data)
        return
    ast, ami = data["asterisk"], data["ami"]
    if ast.get("reachable"):
        click.echo(f"Asterisk   {ast['version']}, up {client.duration(ast['uptime_seconds'])}")
    else:
        click.echo(f"Asterisk   not reachable {ast.get('error', '')}".rstrip())
    click.echo(f"AMI        {'connected' if ami['connected'] else ami['state']}"
               f"{'' if ami['connected'] or not ami['last_error'] else ' (' + ami['last_error'] + ')'}")
    resync = data.get("resync", {})
    if resync:
        line = f"Resync     {resync['state']}"
        if resync["state"] in ("running", "retrying", "waiting-for-boot"):
            line += f" (step {resync['step'] or '-'}, {resync['attempts']} retries"
            line += f"; last error: {resync['last_error']})" if resync["last_error"] else ")"
        elif resync.get("last_duration") is not None:
            line += f" in {resync['last_duration']:.2f} s ({resync['resyncs']} since start): {resync['last']}"
        click.echo(line)
    click.echo(f"Calls      {data['calls']['active']} active")
    store = data.get("store")
    if store:
        click.echo(f"Store      {store['url']}, {store['writes']} writes" +
                   (f"; PROBLEM: {store['problem']}" if store["problem"] else ""))
    speech = data.get("transcription")
    if speech:
        jobs = speech["jobs"]
        click.echo(f"Voicemail  {speech['engine']}: {jobs.get('queued', 0)} queued, {jobs.get('running', 0)} running, "
                   f"{jobs.get('done', 0)} transcribed, {jobs.get('empty', 0)} empty, {jobs.get('failed', 0)} failed" +
                   (f"; PROBLEM: {speech['problem']}" if speech["problem"] else ""))
    ctl = data.get("controller", {})
    errors = {n: s for n, s in data.get("subscribers", {}).items() if s["errors"] or s["dropped"]}
    click.echo(f"Events     {ctl.get('events_seen', 0)} from Asterisk, {ctl.get('events_published', 0)} published; "
               f"subscriber errors {ctl.get('subscriber_errors', 0)}, call task failures "
               f"{ctl.get('call_task_failures', 0)}")
    for name, sub in errors.items():
        click.echo(f"  {name}: {sub['errors']} errors, {sub['dropped']} dropped; last: {sub['last_error']}")
    security = data.get("security", {})
    if security.get("banned") or security.get("failures"):
        banned = ", ".join(f"{a} ({s:.0f} s left)" for a, s in security["banned"].items()) or "none"
        worst = ", ".join(f"{a}: {n}" for a, n in list(security["failures"].items())[:5])
        click.echo(f"SIP guard  banned: {banned}; failed authentications: {worst}")
    email = data.get("email")
    if email:
        imap = email.get("imap")
        click.echo(f"Email      SMTP {email['smtp']}: {email['received']} received, {email['quarantined']} quarantined"
                   + (f"; PROBLEM: {email['problem']}" if email.get("problem") else "")
                   + (f"; IMAP {imap['mailbox']}: {imap['fetched']} fetched"
                      + (f", PROBLEM: {imap['problem']}" if imap["problem"] else "") if imap else ""))
    if data.get("config", {}).get("error"):
        click.echo(f"Config     last reload refused: {data['config']['error_id']}: {data['config']['error']}")
    if data.get("flows"):
        f = data["flows"]
        click.echo(f"Flows      version {f['version']}: {', '.join(f['names'])}"
                   + (f"  (last reload refused: {len(f['errors'])} error(s); see `callcenter flow list`)"
                      if f["errors"] else ""))
    click.echo("Queues")
    for q in data["queues"]:
        click.echo(f"  {q['name']:<12} {q['strategy']:<12} agents {q['agents_available']}/{q['agents_logged_in']} "
                   f"available   waiting {q['waiting']}   longest wait {client.duration(q['longest_wait_seconds'])}")


@main.group("config")
def config_group() -> None:
    """The configuration file."""


@config_group.command("reload")
@click.pass_context
def config_reload(ctx: click.Context) -> None:
    """Apply an edited callcenter.yaml to the running system now (it also happens within a second of
    saving). Agents, queues, DIDs, trunk and routing change live; ports and folders need a restart."""
    data = client.api(client.remote(ctx), "/api/config/reload", "POST", ok_statuses=(422,))
    if not data["reloaded"]:
        client.fail(data.get("error_id", "invalid-config"), data["error"])
    click.echo(f"reloaded: agents {', '.join(data['agents'])}; queues {', '.join(data['queues'])}")


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate callcenter.yaml and everything `run` checks with it (the DIDs' flows, the
    greetings' sounds); print the first error as file:line:col: key: message."""
    from callcenter.ivr.flows import flow_files

    config = client.config(ctx)
    ivr_cli.check_flows(config, flow_files(config.ivr_flows))
    click.echo(f"{config.source}: ok ({len(config.agents)} agents, {len(config.queues)} queues, "
               f"{len(config.dids)} DIDs)")


for _feature in FEATURES:
    for _command in _feature.COMMANDS:
        main.add_command(_command)
