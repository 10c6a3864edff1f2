"""YAML that remembers where each key and value was written (line, column), for exact errors.

Used by the config loader and the IVR flow loader: both report problems as `file:line:col`.
Duplicate keys, which plain YAML loaders silently resolve to the last one, are an error here.

Hostile files are refused before they cost anything: more than MAX_BYTES (`too-large`), bytes
that are not UTF-8 text, a UTF-16 byte order mark or a NUL byte (`bad-encoding`, located at the
byte), and documents that expand to more than MAX_NODES values through aliases (a "billion
laughs" alias bomb: `too-large`). The expanded size is counted on the composed node graph with
one visit per distinct node, so the check itself stays cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

KeyPath = tuple[str, ...]

MAX_BYTES = 1_000_000  # a callcenter.yaml of 1,000 agents is ~100 kB
MAX_NODES = 100_000  # values after alias expansion


@dataclass(frozen=True)
class YamlProblem(Exception):
    """A syntax error or a duplicate key, located."""

    file: str
    line: int
    column: int
    key: str
    error_id: str
    message: str


@dataclass
class Located:
    """Positions of keys and values in one YAML document, by path of keys (list indexes as str)."""

    file: str
    marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: KeyPath) -> tuple[int, int]:
        """Where `path` was written; its nearest written ancestor if it was not (a missing key)."""
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path, (0, 0))


_LEADING_ZERO = re.compile(r"^[+-]?0[0-9_]+$")


def _scalar(node: yaml.Node, file: str = "") -> Any:
    # YAML 1.1 reads an unquoted 0612 as octal 394: a phone number or a prefix written with a
    # leading zero must stay what was written.
    if isinstance(node, yaml.ScalarNode) and node.style is None and _LEADING_ZERO.match(node.value):
        return node.value
    try:
        return yaml.safe_load(yaml.serialize(node))
    except (ValueError, yaml.YAMLError) as exc:  # e.g. a date 2026-02-30, an unknown !tag
        mark = node.start_mark
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlProblem(file, mark.line + 1, mark.column + 1, "", "bad-value",
                          f"cannot read {node.value!r}: {problem}") from None


DuplicateWord = Callable[[KeyPath], str]


def _to_python(node: yaml.Node, path: KeyPath, loc: Located, duplicate_word: DuplicateWord) -> Any:
    loc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_scalar(key_node, loc.file))
            if key in out:
                first, _ = loc.marks[path + (key,)]
                what = duplicate_word(path)
                raise YamlProblem(loc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                  ".".join(path + (key,)), f"duplicate-{what.lower().replace(' ', '-')}",
                                  f"duplicate {what} '{key}' (first written at line {first})")
            out[key] = _to_python(value_node, path + (key,), loc, duplicate_word)
            # An error about a key points at the key, not at its value.
            loc.marks[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, path + (str(i),), loc, duplicate_word) for i, item in enumerate(node.value)]
    return _scalar(node, loc.file)


def read_text(path: Path) -> str:
    """A YAML file's text, or YamlProblem: `too-large`, `bad-encoding` (with the line and column
    of the first bad byte), or `unreadable`. Only UTF-8 is accepted (YAML 1.2 allows UTF-16: we
    do not; an editor's UTF-16 save is refused with that said)."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(file, 0, 0, "", "unreadable", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise YamlProblem(file, 0, 0, "", "too-large", f"the file is larger than {MAX_BYTES:,} bytes")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlProblem(file, 1, 1, "", "bad-encoding", "the file is UTF-16 text; save it as UTF-8")

    def at(offset: int) -> tuple[int, int]:
        line_start = raw.rfind(b"\n", 0, offset) + 1
        return raw.count(b"\n", 0, offset) + 1, len(raw[line_start:offset].decode("utf-8", "replace")) + 1

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = at(exc.start)
        raise YamlProblem(file, line, col, "", "bad-encoding",
                          f"byte 0x{raw[exc.start]:02x} is not UTF-8 text ({exc.reason})") from None
    if "\x00" in text:
        line, col = at(raw.index(b"\x00"))
        raise YamlProblem(file, line, col, "", "bad-encoding", "a NUL byte: this is not a text file")
    return text


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    """How many values the node stands for once aliases are expanded (stops counting past limit)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = limit + 1  # a node that contains itself (a recursive alias) counts as too big
    size = 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo, limit) + _expanded_size(value, memo, limit)
            if size > limit:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, memo, limit)
            if size > limit:
                break
    memo[id(node)] = size
    return size


def load(text: str, file: str, duplicate_words: Mapping[KeyPath, str] | DuplicateWord | None = None
         ) -> tuple[Any, Located]:
    """Parse one YAML document. `duplicate_words` names what a duplicate key under a path is
    (("agents",) → "agent" gives "duplicate agent 'x'" and error id duplicate-agent); a mapping
    of paths, or a function of the path."""
    if duplicate_words is None or isinstance(duplicate_words, Mapping):
        words = duplicate_words or {}
        duplicate_word: DuplicateWord = lambda path: words.get(path, "key")  # noqa: E731
    else:
        duplicate_word = duplicate_words
    loc = Located(file)
    try:
        return _load(text, file, loc, duplicate_word)
    except RecursionError:  # thousands of nested brackets or blocks: PyYAML recurses per level
        raise YamlProblem(file, 0, 0, "", "too-large", "the document is nested too deeply") from None


def _load(text: str, file: str, loc: Located, duplicate_word: DuplicateWord) -> tuple[Any, Located]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise YamlProblem(file, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0, "", "yaml-syntax",
                          f"YAML syntax: {exc.problem}") from None
    except yaml.YAMLError as exc:  # the reader's own complaints (unprintable characters, ...)
        raise YamlProblem(file, 0, 0, "", "yaml-syntax", f"YAML: {exc}") from None
    if node is None:
        return {}, loc
    if _expanded_size(node, {}, MAX_NODES) > MAX_NODES:
        raise YamlProblem(file, node.start_mark.line + 1, node.start_mark.column + 1, "", "too-large",
                          f"the document stands for more than {MAX_NODES:,} values (YAML aliases expanding?)")
    return _to_python(node, (), loc, duplicate_word), loc
