"""CLI commands of speech to text: `speech models`, `speech transcribe FILE`.

They work on this machine's files directly (no controller needed): for trying an engine on a
recording, and checking what is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from callcenter.cli import _config, _fail, main
from callcenter.cli_store import _when
from callcenter.errors import CallcenterError


@main.group()
def speech() -> None:
    """Speech to text (voicemail transcription): installed models, trying an engine on a file."""


@speech.command("models")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def speech_models(ctx: click.Context, as_json: bool) -> None:
    """The speech models this machine has, and which one the config uses."""
    from callcenter.speech import models
    config = _config(ctx)
    configured = config.speech_model or models.default_model()
    rows: list[dict[str, Any]] = []
    for folder in sorted({configured, models.default_model()}):
        try:
            models.check(folder, full=True)
            state = "ready"
        except CallcenterError as exc:
            state = f"{exc.error_id}: {exc}"
        size = sum(f.stat().st_size for f in folder.glob("*") if f.is_file()) if folder.is_dir() else 0
        rows.append({"path": str(folder), "engine": config.speech.engine, "in_use": folder == configured,
                     "state": state, "bytes": size})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{'*' if r['in_use'] else ' '} {r['engine']:<15} {r['path']}  {r['bytes'] / 1e6:.0f} MB  {r['state']}")


@speech.command("transcribe")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--language", default=None, help="auto, or a language code (en, zh, ...); default: the config's.")
@click.option("--json", "as_json", is_flag=True, help="Text, language, words with confidence, timings.")
@click.pass_context
def speech_transcribe(ctx: click.Context, file: str, language: str | None, as_json: bool) -> None:
    """Transcribe a WAV file with the configured engine and model (what voicemails get)."""
    from callcenter.speech.engines import engine
    config = _config(ctx)
    try:
        stt = engine(config.speech.engine, config.speech_model, config.speech.threads)
        result = stt.transcribe(Path(file), language or config.speech.language)
    except CallcenterError as exc:
        _fail(exc.error_id, str(exc), 2)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(result.text)
    click.echo(f"({result.language}, {result.duration:.1f} s of audio in {result.seconds:.1f} s, "
               f"{result.engine} {result.model})", err=True)


@main.group()
def voicemail() -> None:
    """Voicemails: transcribed into text on the caller's ticket."""


@voicemail.command("list")
@click.option("--failed", is_flag=True, help="Only those whose transcription failed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def voicemail_list(ctx: click.Context, failed: bool, limit: int, as_json: bool) -> None:
    """Caller, time, length, state and the first words, newest first."""
    from callcenter.cli import _api, _remote
    rows = _api(_remote(ctx), f"/api/voicemails?limit={limit}" + ("&state=failed" if failed else ""))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        words = " ".join(r["text"].split()[:12]) or r["error"] or "-"
        click.echo(f"#{r['voicemail']:<5} {_when(r['started_at'])} {r['caller'] or 'withheld':<16} "
                   f"{(r['seconds'] or 0):5.1f} s  {r['state']:<7} ticket #{r['ticket']:<5} {words}")
    if not rows:
        click.echo("no voicemails")


def _voicemail_id(text: str) -> int:
    """`6` or `#6` (as `voicemail list` prints it)."""
    digits = text.removeprefix("#")
    if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 2**31:
        _fail("unknown-voicemail", f"no voicemail {text[:20]!r}")
    return int(digits)


@voicemail.command("show")
@click.argument("voicemail_ref", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="With words, confidence and timings.")
@click.pass_context
def voicemail_show(ctx: click.Context, voicemail_ref: str, as_json: bool) -> None:
    """One voicemail: the text, its language and where the audio is."""
    from callcenter.cli import _api, _remote
    voicemail_id = _voicemail_id(voicemail_ref)
    r = _api(_remote(ctx), f"/api/voicemails/{voicemail_id}")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    click.echo(f"voicemail #{r['voicemail']} from {r['caller'] or 'withheld'} at {_when(r['started_at'])}, "
               f"{(r['seconds'] or 0):.1f} s, ticket #{r['ticket']}, customer #{r['customer']}")
    click.echo(f"state {r['state']} after {r['attempts']} attempt(s){': ' + r['error'] if r['error'] else ''}")
    click.echo(f"audio {r['path']}")
    if r["text"]:
        click.echo(f"text ({r['language']}): {r['text']}")


@voicemail.command("retranscribe")
@click.argument("voicemail_ref", metavar="ID")
@click.option("--language", default="auto", show_default=True, help="auto, en, zh, ...")
@click.pass_context
def voicemail_retranscribe(ctx: click.Context, voicemail_ref: str, language: str) -> None:
    """Transcribe a voicemail again (after a failure, or with another language)."""
    from callcenter.cli import _api, _remote
    voicemail_id = _voicemail_id(voicemail_ref)
    r = _api(_remote(ctx), f"/api/voicemails/{voicemail_id}/retranscribe", "POST", body={"language": language})
    click.echo(f"voicemail #{r['voicemail']}: queued again (job {r['job']})")
