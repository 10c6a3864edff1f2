"""The words of a text as the search index keeps them, what a search asks for, and the snippet
shown around a hit (pure: no I/O but jieba's dictionary, loaded once).

A text's terms are its words, case-folded (NFKC, then `str.casefold`: `ＲＥＦＵＮＤ` and `Refund`
are `refund`), split at anything that is not a letter or a digit. Chinese has no spaces: a run
holding Han characters is segmented by jieba (`cut_for_search`, which also gives the shorter words
inside a long one: `中华人民共和国` → 中华, 人民, 共和国, ...), so `物流` finds `我想查询物流状态`.
The query goes through the same function, so a search finds a word exactly when the text had it.

jieba loads its dictionary (about 1 s) the first time it segments: `initialize()` does it ahead,
off the event loop (tickets/feature.py), so no write waits for it.

Errors: Refused `bad-query`.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass

import jieba

from callcenter.core.errors import Refused
from callcenter.core.text import first_control
from callcenter.tickets import identity
from callcenter.tickets.inputs import is_id

MAX_QUERY = 200  # characters of a search
MAX_TERM = 64  # a longer "word" (a base64 blob, a hash) is nobody's search: not indexed
MAX_INDEXED = 20_000  # characters of one field indexed (a long email's first 20,000)
SNIPPET = 160  # characters of a snippet at most, its "…" included

_WORD = re.compile(r"[^\W_]+")  # letters and digits (any script); `_` and punctuation split words
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_DIGITS = re.compile(r"#?\d+")
_PHONE_CHARS = re.compile(r"[\d\s()+.\-/]+")
_SPACE = re.compile(r"\s+")

# jieba logs its loading (DEBUG) to a stderr handler of its own: our logging decides what is shown.
_jieba_log = logging.getLogger("jieba")
_jieba_log.setLevel(logging.WARNING)
for _handler in list(_jieba_log.handlers):
    _jieba_log.removeHandler(_handler)
_loading = threading.Lock()


def initialize() -> None:
    """Load jieba's dictionary now (about 1 s; blocking: call it in a thread from async code).
    Idempotent; segmenting before it loads the dictionary on first use."""
    with _loading:
        jieba.initialize()


def terms(text: str, limit: int = MAX_INDEXED) -> list[str]:
    """The distinct terms of `text` (its first `limit` characters), in order of first
    appearance: case-folded words; Han runs segmented by jieba. Terms longer than MAX_TERM are
    left out."""
    folded = unicodedata.normalize("NFKC", text[:limit]).casefold()
    seen: dict[str, None] = {}
    han: list[str] = []  # runs with Han characters in a row: one call of jieba for them all

    def segment() -> None:
        # jieba cuts at the spaces as it would have between the calls, and splits a mixed run too
        # (`iphone15手机` → iphone15, 手机). Its dictionary only (HMM off): a word it does not know
        # is cut into the same characters wherever it stands, in a message as in a query (the
        # HMM guesses new words from their context, so a name could be one word in the query and
        # two in the text).
        for piece in jieba.cut_for_search(" ".join(han), HMM=False):
            for word in _WORD.findall(piece):
                if len(word) <= MAX_TERM:
                    seen.setdefault(word, None)
        han.clear()

    for run in _WORD.findall(folded):
        if _HAN.search(run) is not None:
            han.append(run)
            continue
        if han:
            segment()
        if len(run) <= MAX_TERM:
            seen.setdefault(run, None)
    if han:
        segment()
    return list(seen)


def doc_terms(subject: str, body: str) -> list[str]:
    """The terms an interaction is found by: its subject's and its body's."""
    return terms(f"{subject}\n{body[:MAX_INDEXED]}", MAX_INDEXED + len(subject) + 1) if subject else terms(body)


@dataclass(frozen=True)
class Query:
    """What a search asks for, each None (or empty) when the text cannot be it: a ticket
    `number`, a `phone` (E.164), an `email` (lower-cased), a customer `name` (a substring), the
    `words` of messages (index terms, all of them in one message)."""

    text: str
    number: int | None = None
    phone: str | None = None
    email: str | None = None
    name: str | None = None
    words: tuple[str, ...] = ()


def query(text: object, region: str) -> Query:
    """What `text` (what an agent typed) can be: `#123` a ticket number only; `123` a number, and
    words (an order number in a message); a phone number in any format (`(415) 555-2671`, `+1
    415 555 2671`; `region` for those without a country code) a phone; an address with `@` an
    email; anything else a name and words. Errors: Refused `bad-query` (not text, empty, longer
    than MAX_QUERY, a control character)."""
    if not isinstance(text, str):
        raise Refused("bad-query", f"a search is text, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise Refused("bad-query", "the search is empty: type a ticket number, a phone, an email, a name or words")
    if len(text) > MAX_QUERY:
        raise Refused("bad-query", f"the search is {len(text)} characters; at most {MAX_QUERY}")
    bad = first_control(text)
    if bad is not None:
        raise Refused("bad-query", f"control character U+{ord(bad):04X} in the search")
    if _DIGITS.fullmatch(text):
        value = int(text.lstrip("#")) if len(text.lstrip("#")) <= 10 else 0
        number = value if is_id(value) else None
        if text.startswith("#"):
            return Query(text, number=number)
        return Query(text, number=number, phone=_phone(text, region), words=tuple(terms(text)))
    if "@" in text:
        try:
            return Query(text, email=identity.email(text).value)
        except identity.IdentityError:
            pass  # not an address: words
    if _PHONE_CHARS.fullmatch(text):
        found = _phone(text, region)
        if found is not None:
            return Query(text, phone=found)
    return Query(text, name=text, words=tuple(terms(text)))


def _phone(text: str, region: str) -> str | None:
    """The E.164 number `text` is, if it is a possible one."""
    ident = identity.caller(text, region)
    return ident.value if ident is not None and ident.valid else None


def snippet(subject: str, body: str, words: tuple[str, ...], width: int = SNIPPET) -> str:
    """At most `width` characters of the body around the first of `words` in it (whitespace
    folded; `…` where it is cut), else of its start; the subject when the words are only there
    (or there is no body)."""
    text = _SPACE.sub(" ", body).strip()
    at, hit = _first(text, words)
    if at < 0:
        subject_text = _SPACE.sub(" ", subject).strip()
        if subject_text and (_first(subject_text, words)[0] >= 0 or not text):
            text, at, hit = subject_text, *_first(subject_text, words)
    if len(text) <= width:
        return text
    at = max(at, 0)
    # The hit a third in: what comes before it tells what it is about.
    start = max(0, min(at - (width - hit) // 3, len(text) - width))
    end = start + width
    head, tail = start > 0, end < len(text)
    start += head  # room for the ellipses within `width`
    end -= tail
    return ("…" if head else "") + text[start:end] + ("…" if tail else "")


def _first(text: str, words: tuple[str, ...]) -> tuple[int, int]:
    """(where the first of `words` is in `text`, ignoring case; its length), (-1, 0) if none is."""
    best, length = -1, 0
    for word in words:
        found = re.search(re.escape(word), text, re.IGNORECASE)
        if found is not None and (best < 0 or found.start() < best):
            best, length = found.start(), len(found.group())
    return best, length
