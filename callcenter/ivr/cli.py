"""`callcenter flow`: validate, draw, list and reload the IVR flows (ivr_flows/*.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from callcenter.cli import client
from callcenter.config import Config, ConfigError, check_sounds
from callcenter.core.errors import CallcenterError


@click.group()
def flow() -> None:
    """IVR flows (ivr_flows/*.yaml): validate, draw, list, reload."""


def check_flows(config: Config, files: list[Path], whole_set: bool = True) -> Any:
    """Validate flow files against the config and the installed Asterisk's sounds; print each
    problem; exit 1 on errors. `whole_set`: the DIDs' flows must be among them."""
    from callcenter.asterisk.install import AsteriskNotInstalled, find_asterisk
    from callcenter.ivr.flows import flow_context, load_flows

    try:
        install = find_asterisk()
    except AsteriskNotInstalled:
        install = None
        click.echo("note: Asterisk is not installed here; sound files are not checked", err=True)
    context, required = flow_context(config, install)
    if context.sound_exists is not None:
        try:
            check_sounds(config, context.sound_exists)
        except ConfigError as exc:
            client.fail(exc.error_id, str(exc), 2)
    result = load_flows(files, context, required=required if whole_set else {})
    for problem in result.errors + result.warnings:
        click.echo(str(problem), err=True)
    if result.errors:
        click.echo(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s) in {len(files)} file(s)",
                   err=True)
        sys.exit(1)
    return result


@flow.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Check flow files (default: the config's ivr_flows folder), together.

    Prints each problem as file:line:col: error-id: message (warnings as
    file:line:col: warning: id: message) and exits 1 if there is any error.
    Queues, agents and sounds are checked against callcenter.yaml and the installed Asterisk.
    """
    from callcenter.ivr.flows import flow_files

    config = client.config(ctx)
    files: list[Path] = []
    for p in paths or (str(config.ivr_flows),):
        files += flow_files(Path(p)) if Path(p).is_dir() else [Path(p)]
    result = check_flows(config, files, whole_set=not paths)
    click.echo(f"ok: {len(files)} flow file(s), {len(result.warnings)} warning(s)")


@flow.command()
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="File to write: .svg .png .pdf (Graphviz), .dot, or .mmd (Mermaid text).")
@click.pass_context
def graph(ctx: click.Context, name: str, output: str) -> None:
    """Draw flow NAME so you can look at it."""
    from pathlib import Path

    from callcenter.ivr.flows import flow_files
    from callcenter.ivr.graph import write_graph
    from callcenter.ivr.loader import read_flow_file

    config = client.config(ctx)
    for path in flow_files(config.ivr_flows):
        found, problems = read_flow_file(path)
        if found is not None and found.name == name:
            try:
                kind = write_graph(found, Path(output))
            except CallcenterError as exc:
                client.fail(exc.error_id, str(exc))
            click.echo(f"wrote {output} ({kind})")
            return
    client.fail("unknown-flow", f"no flow '{name}' in {config.ivr_flows}")


@flow.command("list")
@client.json_option
@click.pass_context
def flow_list(ctx: click.Context, as_json: bool) -> None:
    """The flows the running controller uses, and the errors of the last reload if it was refused."""
    data = client.api(client.remote(ctx), "/api/flows")
    if as_json:
        client.echo_json(data)
        return
    click.echo(f"flows version {data['version']}, loaded {client.clock(data['loaded_at'])}")
    for f in data["flows"]:
        click.echo(f"  {f['name']:<16} {f['nodes']:>3} nodes  entry {f['entry']:<14} {f['file']}")
    if data["errors"]:
        click.echo(f"last reload REFUSED at {client.clock(data['last_attempt_at'])} (version {data['version']} keeps "
                   "running):")
        for e in data["errors"]:
            click.echo(f"  {e}")


@flow.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Reload the flows now (they also reload by themselves within a second of a change)."""
    data = client.api(client.remote(ctx), "/api/flows/reload", method="POST", ok_statuses=(422,))
    if not data["reloaded"]:
        for e in data["errors"]:
            click.echo(e, err=True)
        client.fail("invalid-flows", f"reload refused; version {data['version']} keeps running")
    click.echo(f"reloaded: version {data['version']} ({', '.join(f['name'] for f in data['flows'])})")


COMMANDS = (flow,)
