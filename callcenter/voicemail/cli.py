"""CLI commands of speech to text: `speech models`, `speech transcribe FILE`.

They work on this machine's files directly (no controller needed): for trying an engine on a
recording, and checking what is installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from callcenter.cli import client
from callcenter.core.errors import CallcenterError


@click.group()
def speech() -> None:
    """Speech to text (voicemail transcription): installed models, trying an engine on a file."""


class _Bar:
    """A progress bar on stderr, drawn from the first report on (nothing for short work)."""

    def __init__(self, label: str) -> None:
        self.label, self._pos = label, 0
        self._bar: Any = None

    def show(self, done: int, total: int) -> None:
        if self._bar is None:
            bar: Any = click.progressbar(length=max(total, done, 1), label=self.label,
                                         file=sys.stderr)
            self._bar = bar.__enter__()
        self._bar.length = max(total, done, 1)
        self._bar.update(max(0, done - self._pos))
        self._pos = max(self._pos, done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@speech.command("models")
@client.json_option
@click.pass_context
def speech_models(ctx: click.Context, as_json: bool) -> None:
    """The speech models this machine has, and which one the config uses (*)."""
    from callcenter.voicemail import engines
    from callcenter.voicemail import models
    config = client.config(ctx)
    configured = engines.model_for(config.speech.engine, config.speech_model, config.speech.language)
    root = models.DEFAULT_ROOT
    found = {(config.speech.engine, configured), ("faster-whisper", models.default_model())}
    found |= {("vosk", f) for f in root.glob("vosk-model-*") if f.is_dir()} if root.is_dir() else set()
    rows: list[dict[str, Any]] = []
    for engine_name, folder in sorted(found):
        try:
            if engine_name == "faster-whisper":
                models.check(folder, full=True)
            else:
                engines.check(engine_name, folder)
            state = "ready"
        except CallcenterError as exc:
            state = f"{exc.error_id}: {exc}"
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0
        rows.append({"path": str(folder), "engine": engine_name, "in_use": folder == configured,
                     "state": state, "bytes": size})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{'*' if r['in_use'] else ' '} {r['engine']:<15} {r['path']}  {r['bytes'] / 1e6:.0f} MB  {r['state']}")
    click.echo("vosk models to download: " + ", ".join(models.VOSK_DOWNLOADS) + " (callcenter speech fetch-model NAME)")


@speech.command("fetch-model")
@click.argument("name", type=click.Choice(["vosk-small-en", "vosk-small-cn"]))
@click.option("--file", "archive", type=click.Path(dir_okay=False, exists=True),
              help="The model's zip, already on this machine (downloaded elsewhere): checked and unpacked.")
@click.option("--url", default="", help="A mirror of the zip (with --sha256).")
@click.option("--sha256", "sha", default="", help="The mirror's zip checksum (default: the official one).")
@click.pass_context
def speech_fetch_model(ctx: click.Context, name: str, archive: str | None, url: str, sha: str) -> None:
    """Download an official vosk model (alphacephei.com), check its sha256 and unpack it under
    the models folder ($CALLCENTER_MODELS, default /opt/callcenter/models). Needs the internet:
    where it is not reachable, this says so (copy the zip here and use --file)."""
    from callcenter.voicemail import models
    if url and not sha:
        client.fail("bad-value", "a mirror (--url) needs the checksum of its zip (--sha256)")
    if url and archive:
        client.fail("bad-value", "give either --file or --url, not both")
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds: the half-downloaded folder is removed
    signal.signal(signal.SIGTERM, stop)
    with _Bar(f"downloading {name}") as bar:
        try:
            path = models.fetch_vosk(name, models.DEFAULT_ROOT, url=url, sha=sha,
                                     archive=Path(archive) if archive else None, progress=bar.show)
        except CallcenterError as exc:
            bar.close()
            client.fail(exc.error_id, str(exc), 2)
    click.echo(f"{name} ready: {path} (set speech.engine: vosk and speech.model: {path})")


@speech.command("transcribe")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--engine", "engine_name", type=click.Choice(["faster-whisper", "vosk"]), default=None,
              help="Default: the config's speech.engine.")
@click.option("--language", default=None, help="auto, or a language code (en, zh, ...); default: the config's.")
@click.option("--json", "as_json", is_flag=True, help="Text, language, words with confidence, timings.")
@click.pass_context
def speech_transcribe(ctx: click.Context, file: str, engine_name: str | None, language: str | None,
                      as_json: bool) -> None:
    """Transcribe a WAV file with the configured engine and model (what voicemails get); a
    progress bar on the terminal for long files."""
    from callcenter.voicemail.audio import check_wav
    from callcenter.voicemail.engines import cpu_threads, engine
    config = client.config(ctx)
    name = engine_name or config.speech.engine
    language = (language or config.speech.language).lower()
    try:
        stt = engine(name, config.speech_model if name == config.speech.engine else None,
                     cpu_threads(config.speech.threads, 1), language, config.speech.beam_size)
        seconds = min(check_wav(Path(file)), float(config.speech.max_seconds))
        with _Bar("transcribing") as bar:
            result = stt.transcribe(Path(file), language, float(config.speech.max_seconds),
                                    (lambda done: bar.show(int(done), int(seconds))) if seconds >= 30 else None)
    except CallcenterError as exc:
        client.fail(exc.error_id, str(exc), 2)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(result.text)
    click.echo(f"({result.language or '-'}, {result.duration:.1f} s of audio in {result.seconds:.1f} s, "
               f"{result.engine} {result.model}{', truncated' if result.truncated else ''})", err=True)


@click.group()
def voicemail() -> None:
    """Voicemails: transcribed into text on the caller's ticket."""


@voicemail.command("list")
@click.option("--failed", is_flag=True, help="Only those whose transcription failed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@client.json_option
@click.pass_context
def voicemail_list(ctx: click.Context, failed: bool, limit: int, as_json: bool) -> None:
    """Caller, time, length, state and the first words, newest first."""
    rows = client.api(client.remote(ctx), f"/api/voicemails?limit={limit}" + ("&state=failed" if failed else ""))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        words = " ".join(r["text"].split()[:12]) or r["error"] or "-"
        click.echo(f"#{r['voicemail']:<5} {client.when(r['started_at'])} {r['caller'] or 'withheld':<16} "
                   f"{(r['seconds'] or 0):5.1f} s  {r['state']:<7} ticket #{r['ticket']:<5} {words}")
    if not rows:
        click.echo("no voicemails")


def _voicemail_id(text: str) -> int:
    """`6` or `#6` (as `voicemail list` prints it)."""
    digits = text.removeprefix("#")
    if not (digits.isascii() and digits.isdigit()) or not 0 < int(digits) < 2**31:
        client.fail("unknown-voicemail", f"no voicemail {text[:20]!r}")
    return int(digits)


@voicemail.command("show")
@click.argument("voicemail_ref", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="With words, confidence and timings.")
@click.pass_context
def voicemail_show(ctx: click.Context, voicemail_ref: str, as_json: bool) -> None:
    """One voicemail: the text, its language and where the audio is."""
    voicemail_id = _voicemail_id(voicemail_ref)
    r = client.api(client.remote(ctx), f"/api/voicemails/{voicemail_id}")
    if as_json:
        click.echo(json.dumps(r, indent=2, ensure_ascii=False))
        return
    click.echo(f"voicemail #{r['voicemail']} from {r['caller'] or 'withheld'} at {client.when(r['started_at'])}, "
               f"{(r['seconds'] or 0):.1f} s, ticket #{r['ticket']}, customer #{r['customer']}")
    click.echo(f"state {r['state']} after {r['attempts']} attempt(s){': ' + r['error'] if r['error'] else ''}")
    click.echo(f"audio {r['path']}")
    if r["text"]:
        click.echo(f"text ({r['language']}): {r['text']}")


@voicemail.command("retranscribe")
@click.argument("voicemail_ref", metavar="ID")
@click.option("--language", default="auto", show_default=True, help="auto, en, zh, ...")
@click.option("--engine", "engine_name", type=click.Choice(["faster-whisper", "vosk"]), default=None,
              help="Default: the config's speech.engine (vosk takes an installed model of the language).")
@click.pass_context
def voicemail_retranscribe(ctx: click.Context, voicemail_ref: str, language: str, engine_name: str | None) -> None:
    """Transcribe a voicemail again (after a failure, or with another language or engine)."""
    voicemail_id = _voicemail_id(voicemail_ref)
    r = client.api(client.remote(ctx), f"/api/voicemails/{voicemail_id}/retranscribe", "POST",
             body={"language": language, "engine": engine_name or ""})
    click.echo(f"voicemail #{r['voicemail']}: queued again (job {r['job']})")


COMMANDS = (speech, voicemail)
