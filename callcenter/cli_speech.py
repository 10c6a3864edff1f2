"""CLI commands of speech to text: `speech models`, `speech transcribe FILE`.

They work on this machine's files directly (no controller needed): for trying an engine on a
recording, and checking what is installed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from callcenter.cli import _config, _fail, main
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
            models.check(folder)
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
