"""Speech to text with the real offline default (faster-whisper, Whisper base installed from PyPI by
`make test`): natural-voice fixtures (tests/fixtures/speech, made by scripts/make-speech-fixtures.sh),
bad audio, and a model that is not what was published."""

from __future__ import annotations

import dataclasses
import os
import shutil
import wave
from pathlib import Path

import pytest

from callcenter.voicemail import models
from callcenter.voicemail.engine import SpeechError
from callcenter.voicemail.engines import engine

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


@pytest.fixture(scope="module")
def stt():  # type: ignore[no-untyped-def]
    return engine("faster-whisper", models.default_model(), threads=2)


def test_a_natural_voice_message_gives_the_name_and_the_order_number(stt) -> None:  # type: ignore[no-untyped-def]
    result = stt.transcribe(FIXTURES / "en-order.wav")
    assert result.language == "en" and result.engine == "faster-whisper" and result.model == "whisper-base"
    text = result.text.lower()
    assert "john smith" in text and "4567" in text.replace("-", "").replace(" ", ""), result.text
    assert 6.0 <= result.duration <= 7.0 and result.words and all(0 <= w.confidence <= 1 for w in result.words)


def test_every_fixture_is_understood_word_for_word_mostly(stt) -> None:  # type: ignore[no-untyped-def]
    import jiwer
    for wav in sorted(FIXTURES.glob("en-*.wav")):
        # What was said, as it is written (`.expected`: numbers as digits), else the spoken text.
        written = wav.with_suffix(".expected")
        reference = (written if written.exists() else wav.with_suffix(".txt")).read_text().strip()
        result = stt.transcribe(wav, "en")
        normalize = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                                   jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
        words = jiwer.wer(reference, result.text, reference_transform=normalize, hypothesis_transform=normalize)
        assert words <= 0.1, (wav.name, result.text)  # the budget for clean 8 kHz English speech


def test_chinese_messages_come_back_in_simplified_characters_with_digits(stt) -> None:  # type: ignore[no-untyped-def]
    import jiwer
    from callcenter.voicemail.chinese import to_simplified
    chars = jiwer.Compose([jiwer.RemovePunctuation(), jiwer.RemoveWhiteSpace(), jiwer.ReduceToListOfListOfChars()])
    texts = {}
    for wav in sorted(FIXTURES.glob("zh-*.wav")):
        result = stt.transcribe(wav)  # the language detected: Whisper base writes 訂單號 here unless normalised
        reference = wav.with_suffix(".expected").read_text().strip()
        assert result.language == "zh" and to_simplified(result.text) == result.text, result.text
        assert jiwer.cer(reference, result.text, reference_transform=chars, hypothesis_transform=chars) <= 0.1, \
            (wav.name, result.text)
        texts[wav.name] = result.text
    assert "订单号是12345" in texts["zh-order.wav"] and " " not in texts["zh-order.wav"], texts
    assert "13800" in texts["zh-refund.wav"], texts  # the phone number as digits


def test_the_encoder_window_fits_the_message() -> None:
    from callcenter.voicemail.whisper import encoder_frames
    assert encoder_frames(6.4) == 900 and encoder_frames(0.5) == 300  # the audio + 2 s, in whole seconds
    assert encoder_frames(28.0) == encoder_frames(600.0) == 3000  # at most Whisper's 30 s window


def test_bad_audio_is_a_clear_error(stt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + b"\x00" * 10 + b"garbage" * 100)
    with wave.open(str(tmp_path / "zero.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
    os.mkfifo(tmp_path / "fifo.wav")  # would block a reader for ever
    (tmp_path / "dir.wav").mkdir()
    huge = tmp_path / "huge.wav"  # a header promising hours of audio over a tiny file
    with wave.open(str(huge), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    with open(huge, "r+b") as f:
        f.seek(40)
        f.write((0xFFFFFFF0).to_bytes(4, "little"))
    for name, words in (("missing.wav", "no such file"), ("empty.wav", "not a WAV"), ("junk.wav", "not a WAV"),
                        ("zero.wav", "no audio"), ("fifo.wav", "not a regular file"), ("dir.wav", "not a regular file")):
        with pytest.raises(SpeechError) as bad:
            stt.transcribe(tmp_path / name)
        assert bad.value.error_id == "unreadable-audio" and words in str(bad.value)
    assert stt.transcribe(huge).duration == 1.0  # the bytes the file holds, not what the header claims
    with pytest.raises(SpeechError) as language:
        stt.transcribe(FIXTURES / "en-cancel.wav", "xx")
    assert language.value.error_id == "bad-language"


def test_silence_is_empty_and_long_audio_is_truncated(stt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000 * 20)
    quiet = stt.transcribe(silence)
    assert quiet.text == "" and quiet.words == []
    cut = stt.transcribe(FIXTURES / "en-order.wav", "en", max_seconds=3.0)
    assert cut.truncated and cut.duration > 6 and "john smith" in cut.text.lower() and "afternoon" not in cut.text


def test_a_model_folder_that_is_not_verified_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "whisper-base"
    folder.mkdir()
    with pytest.raises(SpeechError) as missing:
        engine("faster-whisper", folder)
    assert missing.value.error_id == "no-model"
    for name in models.FILES:
        (folder / name).write_bytes(b"not a model")
    (folder / models.MARKER).write_text("0" * 64)
    with pytest.raises(SpeechError) as unverified:
        engine("faster-whisper", folder)
    assert unverified.value.error_id == "no-model" and "not the verified one" in str(unverified.value)
    with pytest.raises(SpeechError) as unknown:
        engine("wav2vec", folder)
    assert unknown.value.error_id == "unknown-engine"


def test_one_byte_changed_in_the_installed_model_is_noticed(tmp_path: Path) -> None:
    copy = tmp_path / "whisper-base"
    shutil.copytree(models.default_model(), copy)  # copies keep mtimes: the marker still matches
    models.check(copy, full=True)
    with open(copy / "model.bin", "r+b") as f:  # what `dd conv=notrunc` does
        f.seek(1000)
        f.write(b"X")
    for full in (False, True):
        with pytest.raises(SpeechError) as changed:
            models.check(copy, full=full)
        assert changed.value.error_id == "no-model"
    os.utime(copy / "model.bin", ns=(0, int((copy / models.MARKER).read_text().split()[2])))  # mtime put back
    models.check(copy)  # the quick check cannot see it ...
    with pytest.raises(SpeechError):
        models.check(copy, full=True)  # ... the full one (`speech models`, install) does


def test_an_install_whose_wheel_changed_is_refused(tmp_path: Path) -> None:
    changed = dataclasses.replace(models.WHISPER_BASE, parts=(dataclasses.replace(models.WHISPER_BASE.parts[0],
                                                                                    wheel_sha256="0" * 64),))
    with pytest.raises(SpeechError) as refused:
        models.install(tmp_path, changed)
    assert refused.value.error_id == "model-install-failed" and "pinned sha256" in str(refused.value)
    assert not (tmp_path / "whisper-base").exists()


def test_threads_come_from_the_cores_shared_among_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    from callcenter.voicemail import engines
    monkeypatch.setattr(engines, "cores", lambda: 2)
    assert engines.cpu_threads(0, 1) == 2 and engines.cpu_threads(0, 2) == 1 and engines.cpu_threads(0, 4) == 1
    assert engines.cpu_threads(1, 1) == 1 and engines.cpu_threads(8, 1) == 2  # never more than the share
