"""Chinese transcripts as people here read them: Simplified characters, numbers as digits.

Whisper writes Chinese in Traditional or Simplified characters as its training data happened to
(the same voice can come back as 訂單號 or 订单号), and now and then spells numbers as numerals
(订单号一二三四五, 一千二百). A transcript whose language is Chinese (`zh`, or Cantonese `yue`) is
therefore given:

- Simplified characters: OpenCC's `t2s` table (PyPI `opencc`, the OpenCC project's own binding,
  whose wheel carries its dictionaries: nothing is downloaded). Phrase-aware, e.g. 頭髮 → 头发,
  乾燥 → 干燥, while 著名 stays 著名.
- Digits for numbers (`numerals_to_digits`): a run of three or more digit numerals is a spoken
  digit string, each numeral one digit with its zeros kept (一三八零零 → 13800, 零零七 → 007); a
  number with place values that parses whole becomes its value (一千二百 → 1200, 二十五 → 25,
  两万三千 → 23000, the spoken shortening 一千二 → 1200; 百分之五十 → 50%). Words that merely
  contain a numeral stay as they are: 一起, 一些, 统一, 第一, 一个, 十分, 万一, 千万, and
  two-numeral runs such as 五六个 (five or six) or 一一 (one by one); so do runs that are not a
  well-formed number (一五一十, 九九八十一, 两三百) and the idioms 三三两两, 七七八八.

Spaces between Chinese characters, and between one and digits, are taken out (vosk's Chinese
models put one between words, Whisper one between segments).
The word list of a transcript (with timings) gets Simplified characters too; its numerals stay as
the engine wrote them (a number is often spread over several timed pieces there).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from callcenter.voicemail.engine import Transcript

LANGUAGES = frozenset({"zh", "yue"})  # Whisper's codes for Chinese: Mandarin (and written Chinese), Cantonese

DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
          "九": 9}
SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
BIG_UNITS = {"万": 10_000, "亿": 100_000_000}
_RUN = re.compile(f"[{''.join(DIGITS)}{''.join(SMALL_UNITS)}{''.join(BIG_UNITS)}]+")
_HAN = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"  # CJK punctuation, ideographs, full-width forms
# Spaces between Chinese characters, or between one and a number's digits (Whisper's segments are
# joined with a space: 订单号是12345 请); not between two numbers (123 456) nor around Latin words.
_SPACE_IN_HAN = re.compile(f"(?<=[{_HAN}])\\s+(?=[{_HAN}0-9])|(?<=[0-9])\\s+(?=[{_HAN}])")
_PERCENT = re.compile(r"百分之(\d+)")
IDIOMS = frozenset({"七七八八"})  # runs of three or more numerals that are words, not digit strings
MIN_DIGIT_STRING = 3  # numerals side by side, at least, to be read as a digit string


def normalise(transcript: Transcript) -> Transcript:
    """The transcript with Simplified characters and digits if its language is Chinese; else as it is."""
    if transcript.language not in LANGUAGES or not transcript.text:
        return transcript
    words = [dataclasses.replace(w, text=to_simplified(w.text)) for w in transcript.words]
    return dataclasses.replace(transcript, text=chinese_text(transcript.text), words=words)


def chinese_text(text: str) -> str:
    """Simplified characters, no spaces between Chinese characters or between one and digits
    (vosk puts one between words, Whisper one between segments: Chinese is written without),
    numbers as digits."""
    return numerals_to_digits(_SPACE_IN_HAN.sub("", to_simplified(text)))


def to_simplified(text: str) -> str:
    """Traditional (and Hong Kong, Taiwan variant) characters to Simplified, by OpenCC's t2s table."""
    return _t2s().convert(text) if text else text


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc  # only where a Chinese transcript is made
    return opencc.OpenCC("t2s")


def numerals_to_digits(text: str) -> str:
    """Chinese numbers written as numerals, as digits (see the module's docstring for which); a
    percentage as written with digits (百分之五十 → 50%)."""
    return _PERCENT.sub(r"\1%", _RUN.sub(_digits_of, text))


def _digits_of(match: re.Match[str]) -> str:
    run = match.group()
    if run in IDIOMS:
        return run
    if not any(c in SMALL_UNITS or c in BIG_UNITS for c in run):
        # 两 is never said for a digit of a digit string (二 is): it ends one (三三两两, 一三八两个).
        return "两".join(_digit_string(part) for part in run.split("两"))
    value = place_value(run)
    return run if value is None else str(value)


def _digit_string(run: str) -> str:
    return "".join(str(DIGITS[c]) for c in run) if len(run) >= MIN_DIGIT_STRING else run


def place_value(run: str) -> int | None:
    """The value of a number written with place values (一千零五 → 1005), or None where `run` is
    not one: it must have a numeral (十 alone is a word: 十分), begin with a numeral (or 十, as in
    十五), have no two numerals side by side (零 aside), and its units must fall (一百二十, not
    二十三百). A last numeral after 百, 千 or 万 with no 零 between is the next place down, as
    spoken (一千二 → 1200, 两万三 → 23000)."""
    if not any(c in DIGITS for c in run) or (run[0] not in DIGITS and run[0] != "十") or "幺" in run:
        return None
    total = 0  # of the sections closed by 亿, 万
    section = 0  # below the next 万
    digit: int | None = None  # a numeral not yet given its unit
    last_unit = 0  # the last small unit in this section (units must fall)
    big = 0  # the last big unit (must fall: 亿 then 万)
    zero = False  # a 零 since the last unit
    previous = ""
    for c in run:
        if c in DIGITS:
            if c in "零〇":
                if previous not in SMALL_UNITS and previous not in BIG_UNITS:
                    return None  # 零 stands for an empty place: after a unit only (一千零五)
                zero = True
                previous = c
                continue
            if digit is not None:
                return None  # two numerals side by side: 一五, 九九
            digit = DIGITS[c]
        elif c in SMALL_UNITS:
            unit = SMALL_UNITS[c]
            if last_unit and unit >= last_unit:
                return None
            if digit is None:
                if c != "十" or section or total or zero:  # 十 alone only at the start: 十五
                    return None
                digit = 1
            section += digit * unit
            digit, last_unit, zero = None, unit, False
        else:
            unit = BIG_UNITS[c]
            if big and unit >= big or (digit is None and section == 0):
                return None
            total += (section + (digit or 0)) * unit
            section, digit, last_unit, big, zero = 0, None, 0, unit, False
        previous = c
    if digit is not None:
        spoken_short = not zero and previous in DIGITS and (last_unit >= 100 or (last_unit == 0 and big))
        if spoken_short:  # 一千二: the numeral is the place below the last unit
            digit *= (last_unit or big) // 10
        section += digit
    return total + section
