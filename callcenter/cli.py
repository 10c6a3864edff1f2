"""The `callcenter` command.

`callcenter run` starts the whole system; the other commands talk to the running controller's
REST API with the token from the runtime folder, so the CLI and the web pages see the same live
state. Errors are printed as one line (`error: <id>: <message>`) with a non-zero exit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from callcenter.config import CONTROLLER_FILE, DEFAULT_CONFIG, Config, ConfigError, check_sounds, load_config
from callcenter.credentials import Credentials
from callcenter.errors import CallcenterError


def _fail(error_id: str, message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {error_id}: {message}", err=True)
    sys.exit(code)


def _config(ctx: click.Context) -> Config:
    try:
        return load_config(ctx.obj["config_path"])
    except ConfigError as exc:
        _fail(exc.error_id, str(exc), 2)


@dataclass(frozen=True)
class Remote:
    """Where the running controller is: its runtime folder (the token) and its API address."""

    runtime_dir: Path
    base_url: str


def _remote(ctx: click.Context) -> Remote:
    """The running controller, from callcenter.yaml; if that file is broken (an edit the controller
    refused), from the runtime folder the controller wrote at start: talking to it needs no valid
    config, and `callcenter status` then shows why the edit was refused."""
    path = Path(ctx.obj["config_path"] or os.environ.get("CALLCENTER_CONFIG") or DEFAULT_CONFIG)
    try:
        config = load_config(path)
        return Remote(config.runtime_dir, f"http://{config.api.bind}:{config.api.port}")
    except ConfigError as exc:
        if exc.error_id == "config-not-found":
            _fail(exc.error_id, str(exc), 2)
        runtime = Path(os.environ.get("CALLCENTER_RUNTIME_DIR") or _raw_runtime_dir(path))
        try:
            url = json.loads((runtime / CONTROLLER_FILE).read_text())["api"]
        except (OSError, ValueError, KeyError, TypeError):
            _fail(exc.error_id, f"{exc} (and no running controller found in {runtime})", 2)
        click.echo(f"warning: {_one_line(str(exc))}; using the running controller at {url}", err=True)
        return Remote(runtime, str(url))


def _raw_runtime_dir(path: Path) -> Path:
    """runtime_dir as written in a config that does not validate (default: var beside it)."""
    base = path.resolve().parent
    try:
        # A top-level `runtime_dir: X` line, read as text: the rest of the file may be anything.
        found = re.search(r"""(?m)^runtime_dir:[ \t]*["']?([^"'#\s]+)""",
                          path.read_text(encoding="utf-8", errors="replace")[:1_000_000])
    except OSError:
        found = None
    return base / found[1] if found else base / "var"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _api(remote: Remote, path: str, method: str = "GET", ok_statuses: tuple[int, ...] = (),
         body: dict[str, Any] | None = None) -> Any:
    """Call an API path with the token; errors become one readable line. Names in `path` must be
    quoted already (`_q`)."""
    try:
        token = Credentials.load(remote.runtime_dir).api_token
    except (OSError, KeyError):
        _fail("no-token", f"no API token in {Credentials.path(remote.runtime_dir)}: has `callcenter run` "
                          "started once with this config?")
    url = f"{remote.base_url}{path}"
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in ok_statuses:
            return json.load(exc)
        try:
            body = json.load(exc)
            _fail(body.get("error_id", f"http-{exc.code}"), body.get("message", exc.reason))
        except ValueError:
            _fail(f"http-{exc.code}", str(exc.reason))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail("controller-unreachable", f"no controller at {url} ({reason}); is `callcenter run` running?")


def _q(kind: str, name: str) -> str:
    """A queue or agent name for a URL path: names are lower-case words, so anything else is
    answered here ("no queue '../../etc'"), and what goes out is quoted."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", name):
        _fail(f"unknown-{kind}", f"no {kind} {name!r}")
    return urllib.parse.quote(name, safe="")


def _time(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


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

    config = _config(ctx)
    app.setup_logging(config, verbose)
    try:
        asyncio.run(app.run(config))
    except CallcenterError as exc:
        _fail(exc.error_id, str(exc))
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Asterisk version and uptime, AMI connection and resync state, calls, subscriber errors, queues."""
    data = _api(_remote(ctx), "/api/status")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    ast, ami = data["asterisk"], data["ami"]
    if ast.get("reachable"):
        click.echo(f"Asterisk   {ast['version']}, up {_duration(ast['uptime_seconds'])}")
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
                   f"available   waiting {q['waiting']}   longest wait {_duration(q['longest_wait_seconds'])}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many recent calls.")
@click.pass_context
def calls(ctx: click.Context, as_json: bool, limit: int) -> None:
    """Active and recent calls: caller ID, DID, start / answer / end times, hangup cause."""
    data = _api(_remote(ctx), f"/api/calls?limit={limit}")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    rows = data["active"] + data["recent"]
    if not rows:
        click.echo("no calls yet")
        return
    click.echo(f"{'CALL':<22} {'STATE':<10} {'CALLER':<16} {'DID':<12} {'START':<9} {'ANSWER':<9} {'END':<9} "
               f"{'QUEUE':<10} {'AGENT':<8} CAUSE")
    for c in rows:
        cause = f"{c['hangup_cause']} {c['hangup_cause_text']}" if c["hangup_cause"] is not None else ""
        click.echo(f"{c['call_id']:<22} {c['state']:<10} {c['caller_id']:<16} {c['did'] or '-':<12} "
                   f"{_time(c['started_at']):<9} {_time(c['answered_at']):<9} {_time(c['ended_at']):<9} "
                   f"{c['queue'] or '-':<10} {c['agent'] or '-':<8} {cause}")


@main.group()
def queue() -> None:
    """Queues: members, pauses, live numbers."""


def _queue_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'QUEUE':<12} {'STRATEGY':<12} {'AGENTS':>8} {'WAIT':>5} {'LONGEST':>8} {'OFFERED':>8} "
             f"{'ANSWERED':>9} {'ABANDON':>8} {'SL':>6} {'ASA':>6} {'AHT':>6}"]
    for q in rows:
        sl = f"{q['service_level'] * 100:.0f}%" if q["service_level"] is not None else "-"
        asa = f"{q['average_speed_of_answer']:.0f}s" if q["average_speed_of_answer"] is not None else "-"
        aht = f"{q['average_handle_time']:.0f}s" if q["average_handle_time"] is not None else "-"
        lines.append(f"{q['name']:<12} {q['strategy']:<12} {q['agents_available']:>3}/{q['agents_logged_in']:<4} "
                     f"{q['waiting']:>5} {_duration(q['longest_wait_seconds']):>8} {q['offered']:>8} "
                     f"{q['answered']:>9} {q['abandoned']:>8} {sl:>6} {asa:>6} {aht:>6}")
    return "\n".join(lines)


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_list(ctx: click.Context, as_json: bool) -> None:
    """Every queue with its live numbers (available/logged-in agents, waiting, SL, ASA, AHT)."""
    rows = _api(_remote(ctx), "/api/queues")
    click.echo(json.dumps(rows, indent=2) if as_json else _queue_table(rows))


def _show_queue(q: dict[str, Any]) -> str:
    lines = [_queue_table([q]), "", "members:"]
    for m in q["members"]:
        reason = f" ({m['pause_reason']})" if m["pause_reason"] else ""
        lines.append(f"  {m['agent']:<10} penalty {m['penalty']:<3} {m['state']}{reason}")
    if not q["members"]:
        lines.append("  (none)")
    lines.append("callers waiting:")
    for c in q["callers"]:
        lines.append(f"  {c['caller_id'] or '?':<16} waiting {_duration(c['wait_seconds'])}")
    if not q["callers"]:
        lines.append("  (none)")
    return "\n".join(lines)


@queue.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Members with state and pause reason, callers waiting with their wait time."""
    q = _api(_remote(ctx), f"/api/queues/{_q('queue', name)}")
    click.echo(json.dumps(q, indent=2) if as_json else _show_queue(q))


@queue.command("add")
@click.argument("name")
@click.argument("agent_name", metavar="AGENT")
@click.option("--penalty", default=0, show_default=True, type=int, help="Higher penalty: offered later (0-100).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_add(ctx: click.Context, name: str, agent_name: str, penalty: int, as_json: bool) -> None:
    """Add AGENT to queue NAME (kept across restarts)."""
    q = _api(_remote(ctx), f"/api/queues/{_q('queue', name)}/members", "POST", body={"agent": agent_name, "penalty": penalty})
    click.echo(json.dumps(q, indent=2) if as_json else f"{agent_name} is in {name} (penalty {penalty})")


@queue.command("remove")
@click.argument("name")
@click.argument("agent_name", metavar="AGENT")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_remove(ctx: click.Context, name: str, agent_name: str, as_json: bool) -> None:
    """Remove AGENT from queue NAME."""
    q = _api(_remote(ctx), f"/api/queues/{_q('queue', name)}/members/{_q('agent', agent_name)}", "DELETE")
    click.echo(json.dumps(q, indent=2) if as_json else f"{agent_name} left {name}")


@queue.command("pause")
@click.argument("agent_name", metavar="AGENT")
@click.option("--reason", required=True, help="Why (lunch, training, ...): shown to supervisors, kept.")
@click.option("--queue", "queue_name", default="", help="Only in this queue (default: all of the agent's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_pause(ctx: click.Context, agent_name: str, reason: str, queue_name: str, as_json: bool) -> None:
    """Pause AGENT: no calls are offered until unpaused."""
    a = _api(_remote(ctx), f"/api/agents/{_q('agent', agent_name)}/pause", "POST", body={"reason": reason, "queue": queue_name})
    click.echo(json.dumps(a, indent=2) if as_json else
               f"{agent_name} paused ({reason}){' in ' + queue_name if queue_name else ''}")


@queue.command("unpause")
@click.argument("agent_name", metavar="AGENT")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def queue_unpause(ctx: click.Context, agent_name: str, as_json: bool) -> None:
    """Unpause AGENT."""
    a = _api(_remote(ctx), f"/api/agents/{_q('agent', agent_name)}/unpause", "POST")
    click.echo(json.dumps(a, indent=2) if as_json else f"{agent_name} unpaused ({a['state']})")


@queue.command("watch")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between updates.")
@click.option("--count", default=0, help="Stop after this many updates (0: until Ctrl-C).")
@click.pass_context
def queue_watch(ctx: click.Context, interval: float, count: int) -> None:
    """A live table of the queues and their members, updated in place."""
    import time as _time

    remote = _remote(ctx)
    shown = 0
    try:
        while True:
            rows = _api(remote, "/api/queues")
            screen = [_time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)", _queue_table(rows), ""]
            for q in rows:
                members = ", ".join(f"{m['agent']}:{m['state']}" + (f"({m['pause_reason']})" if m["pause_reason"]
                                                                   else "") for m in q["members"]) or "-"
                screen.append(f"{q['name']:<12} {members}")
            # Home the cursor and clear the screen: the table updates in place.
            click.echo("\x1b[H\x1b[2J" + "\n".join(screen), nl=True)
            shown += 1
            if count and shown >= count:
                return
            _time.sleep(interval)
    except KeyboardInterrupt:
        pass


@main.group()
def agent() -> None:
    """Agents: state, credentials."""


def _agent_line(a: dict[str, Any]) -> str:
    reason = f" ({a['pause_reason']})" if a["pause_reason"] else ""
    queues = ", ".join(f"{q}:{p}" for q, p in a["queues"].items()) or "-"
    return (f"{a['name']:<10} ext {a['extension']:<6} {a['state'] + reason:<24} calls {a['calls']:<4} "
            f"talk {_duration(a['talk_seconds']):>6}  queues {queues}")


@agent.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def agent_list(ctx: click.Context, as_json: bool) -> None:
    """Every agent's state (logged_out, ready, paused, ringing, on_call, wrapup) and numbers."""
    rows = _api(_remote(ctx), "/api/agents")
    click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(_agent_line(a) for a in rows))


@agent.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def agent_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One agent: state, queues and penalties, calls, talk time, pause time by reason."""
    a = _api(_remote(ctx), f"/api/agents/{_q('agent', name)}")
    if as_json:
        click.echo(json.dumps(a, indent=2))
        return
    click.echo(_agent_line(a))
    for reason, seconds in a["pause_seconds"].items():
        click.echo(f"  paused {_duration(seconds)} for {reason}")


@agent.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def credentials(ctx: click.Context, as_json: bool) -> None:
    """SIP credentials for the agents' softphones and their web logins (generated at first start;
    the web page: http://<api.bind>:<api.port>/, user name = agent name)."""
    config = _config(ctx)
    try:
        creds = Credentials.load(config.runtime_dir)
    except (OSError, KeyError):
        _fail("no-credentials", f"no {Credentials.path(config.runtime_dir)} yet: run `callcenter run` once")
    server = f"{config.sip.bind}:{config.sip.port}"
    rows = [{"agent": name, "extension": a.extension, "username": name,
             "password": creds.agent_passwords.get(name, ""), "registrar": f"sip:{server}", "transport": "udp",
             "web_password": creds.web_passwords.get(name, "")}
            for name, a in config.agents.items()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"Register softphones at sip:{server} (UDP), user name = agent name:")
    for r in rows:
        click.echo(f"  {r['agent']:<10} ext {r['extension']:<6} password {r['password'] or '(not generated yet)'}  "
                   f"web_password {r['web_password'] or '(not generated yet)'}")
    click.echo(f"Web page: http://{config.api.bind}:{config.api.port}/ (log in with the agent name and web_password; "
               f"supervisors and admins: `callcenter user add`; the first admin is `admin`, password "
               f"{creds.web_admin_password or '(not generated yet)'})")


@main.group()
def flow() -> None:
    """IVR flows (ivr_flows/*.yaml): validate, draw, list, reload."""


def _check_flows(config: Config, files: list[Path], whole_set: bool = True) -> Any:
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
            _fail(exc.error_id, str(exc), 2)
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

    config = _config(ctx)
    files: list[Path] = []
    for p in paths or (str(config.ivr_flows),):
        files += flow_files(Path(p)) if Path(p).is_dir() else [Path(p)]
    result = _check_flows(config, files, whole_set=not paths)
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

    config = _config(ctx)
    for path in flow_files(config.ivr_flows):
        found, problems = read_flow_file(path)
        if found is not None and found.name == name:
            try:
                kind = write_graph(found, Path(output))
            except CallcenterError as exc:
                _fail(exc.error_id, str(exc))
            click.echo(f"wrote {output} ({kind})")
            return
    _fail("unknown-flow", f"no flow '{name}' in {config.ivr_flows}")


@flow.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def flow_list(ctx: click.Context, as_json: bool) -> None:
    """The flows the running controller uses, and the errors of the last reload if it was refused."""
    data = _api(_remote(ctx), "/api/flows")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"flows version {data['version']}, loaded {_time(data['loaded_at'])}")
    for f in data["flows"]:
        click.echo(f"  {f['name']:<16} {f['nodes']:>3} nodes  entry {f['entry']:<14} {f['file']}")
    if data["errors"]:
        click.echo(f"last reload REFUSED at {_time(data['last_attempt_at'])} (version {data['version']} keeps "
                   "running):")
        for e in data["errors"]:
            click.echo(f"  {e}")


@flow.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Reload the flows now (they also reload by themselves within a second of a change)."""
    data = _api(_remote(ctx), "/api/flows/reload", method="POST", ok_statuses=(422,))
    if not data["reloaded"]:
        for e in data["errors"]:
            click.echo(e, err=True)
        _fail("invalid-flows", f"reload refused; version {data['version']} keeps running")
    click.echo(f"reloaded: version {data['version']} ({', '.join(f['name'] for f in data['flows'])})")


@main.group("config")
def config_group() -> None:
    """The configuration file."""


@config_group.command("reload")
@click.pass_context
def config_reload(ctx: click.Context) -> None:
    """Apply an edited callcenter.yaml to the running system now (it also happens within a second of
    saving). Agents, queues, DIDs, trunk and routing change live; ports and folders need a restart."""
    data = _api(_remote(ctx), "/api/config/reload", "POST", ok_statuses=(422,))
    if not data["reloaded"]:
        _fail(data.get("error_id", "invalid-config"), data["error"])
    click.echo(f"reloaded: agents {', '.join(data['agents'])}; queues {', '.join(data['queues'])}")


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate callcenter.yaml and everything `run` checks with it (the DIDs' flows, the
    greetings' sounds); print the first error as file:line:col: key: message."""
    from callcenter.ivr.flows import flow_files

    config = _config(ctx)
    _check_flows(config, flow_files(config.ivr_flows))
    click.echo(f"{config.source}: ok ({len(config.agents)} agents, {len(config.queues)} queues, "
               f"{len(config.dids)} DIDs)")


# The store's commands (db, customer, ticket, retention) and speech's register themselves on `main`.
from callcenter import cli_sms, cli_speech, cli_store, cli_users  # noqa: E402,F401

if __name__ == "__main__":
    # Run as `python -m callcenter.cli`: use the importable module's `main`, the one the store's
    # commands registered on (this file runs as __main__, a second copy).
    from callcenter.cli import main as _main
    _main()
