"""The `callcenter` command: the root group, `run`, `status` and `config`; every feature's own
groups (queue, agent, flow, customer, ticket, sms, ...) are added from one list, `FEATURES`.

`callcenter run` starts the whole system; the other commands talk to the running controller's
REST API (cli/client.py), so the CLI and the web pages see the same live state.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from callcenter.calls import cli as calls_cli
from callcenter.channels.chat import cli as chat_cli
from callcenter.channels.email import cli as email_cli
from callcenter.channels.sms import cli as sms_cli
from callcenter.cli import client
from callcenter.cli.status import lines as status_lines
from callcenter.config import Config
from callcenter.core.errors import CallcenterError
from callcenter.inbox import cli as inbox_cli
from callcenter.ivr import cli as ivr_cli
from callcenter.routing import cli as routing_cli
from callcenter.tickets import cli as tickets_cli
from callcenter.voicemail import cli as voicemail_cli
from callcenter.workspace import cli as workspace_cli

# Each feature's commands (its cli.py's COMMANDS), in the order `callcenter --help` lists them.
FEATURES = (calls_cli, routing_cli, ivr_cli, tickets_cli, inbox_cli, voicemail_cli, sms_cli, email_cli, chat_cli, workspace_cli)


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
    Customers, tickets:    callcenter customer ... | ticket ... | call record pause | retention apply
    Pending work:          callcenter inbox [--queue Q | --agent A | --search TEXT]   ticket assign ID AGENT
    Voicemail:             callcenter voicemail list | show | retranscribe    callcenter speech models
    SMS, email, chat:      callcenter sms send | simulate    email quarantine list    chat list
    Web pages:             http://127.0.0.1:8080/ (agents), /wallboard (supervisors)
                           callcenter agent credentials (web_password) | user add | list | passwd | remove
    List and show commands take --json (the REST API's rows). Each feature's page: docs/ in the repository.
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
    setup_logging(config, verbose)
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
    click.echo("\n".join(status_lines(data)))


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


def setup_logging(config: Config, verbose: bool = False) -> None:
    """Log to stderr and to <runtime>/controller.log (DEBUG with --verbose)."""
    config.runtime_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(config.runtime_dir / "controller.log")):
        handler.setFormatter(fmt)
        root.addHandler(handler)
