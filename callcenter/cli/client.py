"""What every feature's CLI group shares: the config, the running controller and its REST API,
one-line errors, the `--json` option and time formats.

Commands talk to the running controller (`callcenter run`) through its REST API with the token
from the runtime folder, so the CLI and the web pages see the same live state. Errors are printed
as one line (`error: <id>: <message>`) with a non-zero exit.
"""

from __future__ import annotations

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

from callcenter.config import CONTROLLER_FILE, DEFAULT_CONFIG, Config, ConfigError, load_config
from callcenter.core.credentials import Credentials

# `--json` on every command that prints data: the same rows the REST API answers.
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def fail(error_id: str, message: str, code: int = 1) -> NoReturn:
    """Print `error: <id>: <message>` on stderr and exit with `code` (2: a configuration problem)."""
    click.echo(f"error: {error_id}: {message}", err=True)
    sys.exit(code)


def config(ctx: click.Context) -> Config:
    """The validated callcenter.yaml (`--config`, $CALLCENTER_CONFIG or ./callcenter.yaml); exit 2 if not."""
    try:
        return load_config(ctx.obj["config_path"])
    except ConfigError as exc:
        fail(exc.error_id, str(exc), 2)


@dataclass(frozen=True)
class Remote:
    """Where the running controller is: its runtime folder (the token) and its API address."""

    runtime_dir: Path
    base_url: str


def remote(ctx: click.Context) -> Remote:
    """The running controller, from callcenter.yaml; if that file is broken (an edit the controller
    refused), from the runtime folder the controller wrote at start: talking to it needs no valid
    config, and `callcenter status` then shows why the edit was refused."""
    path = Path(ctx.obj["config_path"] or os.environ.get("CALLCENTER_CONFIG") or DEFAULT_CONFIG)
    try:
        loaded = load_config(path)
        return Remote(loaded.runtime_dir, f"http://{loaded.api.bind}:{loaded.api.port}")
    except ConfigError as exc:
        if exc.error_id == "config-not-found":
            fail(exc.error_id, str(exc), 2)
        runtime = Path(os.environ.get("CALLCENTER_RUNTIME_DIR") or _raw_runtime_dir(path))
        try:
            url = json.loads((runtime / CONTROLLER_FILE).read_text())["api"]
        except (OSError, ValueError, KeyError, TypeError):
            fail(exc.error_id, f"{exc} (and no running controller found in {runtime})", 2)
        click.echo(f"warning: {' '.join(str(exc).split())}; using the running controller at {url}", err=True)
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


def api(to: Remote, path: str, method: str = "GET", ok_statuses: tuple[int, ...] = (),
        body: dict[str, Any] | None = None) -> Any:
    """Call an API path with the token and return the JSON answer; errors become one readable line
    (exit 1). Names in `path` must be quoted already (`quoted`); `ok_statuses` are answers that
    carry a result although not 2xx (a refused reload: 422)."""
    try:
        token = Credentials.load(to.runtime_dir).api_token
    except (OSError, KeyError):
        fail("no-token", f"no API token in {Credentials.path(to.runtime_dir)}: has `callcenter run` "
                         "started once with this config?")
    url = f"{to.base_url}{path}"
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
            answer = json.load(exc)
        except ValueError:
            fail(f"http-{exc.code}", str(exc.reason))
        fail(answer.get("error_id", f"http-{exc.code}"), answer.get("message", exc.reason))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail("controller-unreachable", f"no controller at {url} ({reason}); is `callcenter run` running?")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def quoted(kind: str, name: str) -> str:
    """A queue or agent name for a URL path: names are lower-case words, so anything else is
    answered here ("no queue '../../etc'"), and what goes out is quoted."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", name):
        fail(f"unknown-{kind}", f"no {kind} {name!r}")
    return urllib.parse.quote(name, safe="")


def clock(ts: float | None) -> str:
    """Epoch seconds as the local time of day (HH:MM:SS), or `-`."""
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-"


def when(ts: float | None) -> str:
    """Epoch seconds as a local date and time (YYYY-MM-DD HH:MM), or `-`."""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def duration(seconds: float | None) -> str:
    """Seconds as M:SS (H:MM:SS from an hour on), or `-`."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"
