"""WAV facts the engines and the voicemail node rely on: length, the first N seconds, and how much
of a message is sound at all.

Telephone audio here is what Asterisk records: 16-bit linear PCM WAV, 8 kHz mono. A file is
trusted only as far as its bytes go (a header may promise more than the file holds).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from callcenter.voicemail.engine import SpeechError

MAX_SECONDS = 600.0  # audio beyond this is not transcribed (config speech.max_seconds)


def check_wav(path: Path) -> float:
    """The WAV's length in seconds. Errors: SpeechError `unreadable-audio`."""
    try:
        if not path.is_file():  # a FIFO, a device, a folder: never opened (a FIFO would block)
            what = "a broken or looping link" if path.is_symlink() else "no such file" if not path.exists() \
                else "not a regular file"
            raise SpeechError("unreadable-audio", f"{path}: {what}")
        with wave.open(str(path), "rb") as w:
            frames, rate, width, channels = w.getnframes(), w.getframerate(), w.getsampwidth(), w.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise SpeechError("unreadable-audio", f"{path}: not a WAV file ({exc or 'no RIFF/WAVE header'})") from None
    except OSError as exc:
        raise SpeechError("unreadable-audio", f"{path}: cannot be read ({exc.strerror or exc})") from None
    if frames == 0 or rate == 0:
        raise SpeechError("unreadable-audio", f"{path}: no audio (0 frames)")
    if not 4000 <= rate <= 192_000 or not 1 <= channels <= 8:
        raise SpeechError("unreadable-audio", f"{path}: {rate} Hz, {channels} channels: not speech audio "
                          "(4-192 kHz, 1-8 channels)")
    # A header may claim more than the file holds (a sparse or truncated file): trust the bytes.
    frames = min(frames, max(0, path.stat().st_size - 44) // max(1, width * channels))
    if frames == 0:
        raise SpeechError("unreadable-audio", f"{path}: no audio (the header promises data the file lacks)")
    return frames / rate


def head(path: Path, seconds: float, out: Path) -> Path:
    """The first `seconds` of a WAV, copied into `out` (read in blocks: never the whole file)."""
    with wave.open(str(path), "rb") as src, wave.open(str(out), "wb") as dst:
        dst.setnchannels(src.getnchannels())
        dst.setsampwidth(src.getsampwidth())
        dst.setframerate(src.getframerate())
        left = int(seconds * src.getframerate())
        while left > 0:
            block = src.readframes(min(left, 1 << 16))
            if not block:
                break
            dst.writeframes(block)
            left -= len(block) // (src.getsampwidth() * src.getnchannels())
    return out


FRAME_SECONDS = 0.02  # 20 ms frames, the usual unit of voice activity detection
SOUND_DBFS = -45.0  # a frame louder than this (RMS, dB below full scale) is sound, not line silence
MIN_SOUND_SECONDS = 0.3  # a message with less sound than this is silence (a breath, a click)


def sound_seconds(path: Path, limit: float = MAX_SECONDS) -> float:
    """Seconds of the WAV's first `limit` seconds that are sound (20 ms frames with an RMS above
    -45 dBFS; speech on a phone line is around -20, a silent line below -60). 16-bit PCM only; any
    other sample width counts as all sound (never wrongly empty). Errors: SpeechError
    `unreadable-audio`."""
    check_wav(path)
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        if width != 2:
            return min(w.getnframes() / rate, limit)
        frame = max(1, int(rate * FRAME_SECONDS))
        threshold = 32768 * 10 ** (SOUND_DBFS / 20)
        loud, left = 0, int(limit * rate)
        while left > 0:
            block = w.readframes(min(left, frame * 500))  # 10 s at a time: never the whole file
            if not block:
                break
            samples = np.frombuffer(block[:len(block) - len(block) % (2 * channels)], dtype="<i2")[::channels]
            frames = samples[:len(samples) - len(samples) % frame].astype(np.float64).reshape(-1, frame)
            loud += int((np.sqrt((frames ** 2).mean(axis=1)) > threshold).sum())
            left -= len(samples)
    return loud * frame / rate
