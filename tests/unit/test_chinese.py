"""Chinese transcripts: Simplified characters (OpenCC t2s) and numbers as digits, words with
numerals left alone (callcenter/voicemail/chinese.py)."""

from __future__ import annotations

import pytest

from callcenter.voicemail.chinese import chinese_text, normalise, numerals_to_digits, place_value, to_simplified
from callcenter.voicemail.engine import Transcript, Word


@pytest.mark.parametrize("traditional, simplified", [
    ("訂單號", "订单号"), ("請儘快給我回電話", "请尽快给我回电话"), ("謝謝", "谢谢"), ("頭髮", "头发"),
    ("乾燥", "干燥"), ("退款", "退款"), ("著名", "著名"),  # phrase-aware: 著 of 著名 is not 着
])
def test_traditional_characters_become_simplified(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified


@pytest.mark.parametrize("spoken, written", [
    ("订单号是一二三四五", "订单号是12345"),  # a digit string: one numeral, one digit
    ("一三八零零一三八零零零", "13800138000"),  # its zeros kept
    ("零零七", "007"), ("幺三八", "138"), ("一九九八年", "1998年"), ("二零二四年", "2024年"),
    ("一千二百", "1200"), ("二十五", "25"), ("十五", "15"), ("一十五", "15"), ("一百二十", "120"),
    ("一千零五", "1005"), ("两万三千", "23000"), ("一亿二千万", "120000000"), ("一百万", "1000000"),
    ("一千二", "1200"), ("两万三", "23000"), ("一百二", "120"),  # spoken short: the place below the last unit
    ("他是十八岁", "他是18岁"), ("三十一号", "31号"), ("十一点", "11点"), ("三百块", "300块"), ("第三百", "第300"),
    ("百分之五十", "50%"),
])
def test_numbers_become_digits(spoken: str, written: str) -> None:
    assert numerals_to_digits(spoken) == written


@pytest.mark.parametrize("word", [
    "一起", "统一", "第一", "唯一", "一些", "一个", "一样", "一直", "一定", "一点", "一下", "一半", "星期一",
    "十分", "万一", "千万", "十", "两个", "三点",  # a lone numeral, or a unit alone, is a word
    "五六个", "三四个", "一一", "统一一下",  # two numerals side by side: "five or six", "one by one"
    "一五一十", "九九八十一", "两三百", "二十三百",  # not a well-formed number
    "三三两两", "七七八八",  # idioms
])
def test_words_with_numerals_stay_as_they_are(word: str) -> None:
    assert numerals_to_digits(word) == word
    assert chinese_text(word) == word


def test_place_value_refuses_what_is_not_a_number() -> None:
    assert place_value("一千零五") == 1005
    for run in ("十", "千万", "一五", "二十三百", "零五", "万一", "幺百"):
        assert place_value(run) is None, run


def test_a_chinese_transcript_is_simplified_without_spaces_and_with_digits() -> None:
    words = [Word("訂單號", 0.0, 0.8, 0.9), Word("一二三", 0.8, 1.5, 0.8)]
    transcript = Transcript("你好 我的訂單號是 一二三四五，請儘快 給我回電話。", "zh", 0.99, 7.1, "faster-whisper",
                            "whisper-base", 1.0, words)
    result = normalise(transcript)
    assert result.text == "你好我的订单号是12345，请尽快给我回电话。"
    # the timed words get Simplified characters; their numerals stay as the engine wrote them
    assert [w.text for w in result.words] == ["订单号", "一二三"] and result.words[0].start == 0.0
    assert result.language == "zh" and result.duration == 7.1


def test_other_languages_and_empty_transcripts_are_left_alone() -> None:
    english = Transcript("Order one two three, 一二三", "en", 0.9, 3.0, "faster-whisper", "whisper-base", 0.5, [])
    assert normalise(english) is english
    empty = Transcript("", "zh", None, 3.0, "faster-whisper", "whisper-base", 0.5, [])
    assert normalise(empty) is empty
    cantonese = Transcript("訂單一二三四", "yue", 0.9, 3.0, "faster-whisper", "whisper-base", 0.5, [])
    assert normalise(cantonese).text == "订单1234"
    # English words inside a Chinese transcript keep their spaces
    mixed = Transcript("我的 email 是 test at example", "zh", 0.9, 3.0, "vosk", "m", 0.5, [])
    assert normalise(mixed).text == "我的 email 是 test at example"
