"""The configuration loader: YAML text → frozen dataclasses, with every error located.

Generic: it knows no section. Each feature declares its section as frozen dataclasses in its own
`settings.py` (field names are the YAML keys, defaults are the embedded demo defaults) with a
`check(...)` of its values; `callcenter/config.py` composes them into `Config`. Errors name the
file, the line, the column and the key, so an admin fixes them without guessing
(`callcenter.yaml:31:5: agents.agent1: duplicate agent ...`).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import ipaddress
import typing
from pathlib import Path
from typing import Any, Mapping

from callcenter.core import located_yaml
from callcenter.core.errors import Refused
from callcenter.core.located_yaml import KeyPath, Located, YamlProblem
from callcenter.core.text import first_control, one_line

MAX_STRING = 200  # characters, any string value
MAX_INT = 1_000_000  # any integer value (ports, seconds, counts): nothing sensible is larger


class ConfigError(Refused):
    """A configuration problem, located as precisely as we can: file, line, column and key."""

    def __init__(self, message: str, *, file: str = "", line: int = 0, column: int = 0, key: str = "",
                 error_id: str = "invalid-config") -> None:
        self.file, self.line, self.column, self.key = file, line, column, key
        super().__init__(error_id, message, {"file": file, "line": line, "column": column, "key": key})

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line:
            where += f":{self.line}:{self.column}"
        key = f" {self.key}:" if self.key else ""
        return one_line(f"{where}:{key} {self.message}")


class Locator(Located):
    """Where each key of one file was written: makes located ConfigErrors."""

    def error(self, path: KeyPath, message: str, error_id: str = "invalid-config") -> ConfigError:
        line, col = self.at(path)
        return ConfigError(message, file=self.file, line=line, column=col, key=".".join(path), error_id=error_id)

    def check_range(self, path: KeyPath, value: float, low: float, high: float, unit: str = "") -> None:
        """`value` (at `path`) must be within [low, high]; else `bad-value` naming the key."""
        if not low <= value <= high:
            unit = f" {unit}" if unit else ""
            raise self.error(path, f"{path[-1]} {_num(value)} must be {_num(low)} to {_num(high)}{unit}", "bad-value")

    def check_port(self, path: KeyPath, port: int) -> None:
        if not 1 <= port <= 65535:
            raise self.error(path, f"port {port} is out of range 1-65535", "bad-port")

    def check_ip(self, path: KeyPath, value: str, network: bool = False) -> None:
        if not is_ip(value, network):
            what = "an IP address or network" if network else "an IP address"
            raise self.error(path, f"'{value}' is not {what}", "bad-address")


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def is_ip(value: str, network: bool = False) -> bool:
    try:
        if network:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def load_yaml(text: str, file: str, duplicate_words: Mapping[KeyPath, str]) -> tuple[Any, Locator]:
    """Plain data and where each key was written. Errors: ConfigError (syntax, duplicates, size)."""
    try:
        data, loc = located_yaml.load(text, file, duplicate_words)
    except YamlProblem as p:
        raise ConfigError(p.message, file=p.file, line=p.line, column=p.column, key=p.key,
                          error_id=p.error_id) from None
    return data, Locator(loc.file, loc.marks)


def _type_name(tp: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if typing.get_origin(tp) is tuple:
        return "a list"
    if typing.get_origin(tp) in (collections.abc.Mapping, dict) or dataclasses.is_dataclass(tp):
        return "a mapping"
    return str(tp)


def _string(value: Any, path: KeyPath, loc: Locator) -> str:
    # Numbers are fine where a string is expected (an extension written as 1001).
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise loc.error(path, f"must be a string, not {type(value).__name__}", "wrong-type")
    text = str(value)
    # Strings end up in Asterisk's config files, one value per line: a line break would write a
    # section or dialplan line of its own.
    bad = first_control(text)
    if bad is not None:
        raise loc.error(path, f"control character U+{ord(bad):04X} in {text[:40]!r}: not allowed", "bad-value")
    if len(text) > MAX_STRING:
        raise loc.error(path, f"{len(text)} characters; at most {MAX_STRING}", "bad-value")
    return text


def _coerce(tp: Any, value: Any, path: KeyPath, loc: Locator) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path, loc)
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if isinstance(value, (str, int)):  # a single value where a list is expected
            value = [value]
        if not isinstance(value, list):
            raise loc.error(path, f"must be {_type_name(tp)}, not {type(value).__name__}", "wrong-type")
        return tuple(_coerce(item_tp, v, path + (str(i),), loc) for i, v in enumerate(value))
    if origin in (collections.abc.Mapping, dict):
        _, value_tp = typing.get_args(tp)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise loc.error(path, f"must be a mapping, not {type(value).__name__}", "wrong-type")
        return {str(k): _coerce(value_tp, v, path + (str(k),), loc) for k, v in value.items()}
    if tp is Path:
        if not isinstance(value, str):
            raise loc.error(path, "must be a path (a string)", "wrong-type")
        return Path(value)
    if tp is str:
        return _string(value, path, loc)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise loc.error(path, f"must be a number, not {type(value).__name__}", "wrong-type")
        return float(value)
    if tp is int or tp is bool:
        if type(value) is not tp:
            raise loc.error(path, f"must be {_type_name(tp)}, not {type(value).__name__} {value!r}", "wrong-type")
        if tp is int and abs(value) > MAX_INT:
            raise loc.error(path, f"{value} is out of range (at most {MAX_INT:,})", "bad-value")
        return value
    raise TypeError(f"unsupported config type {tp}")  # a programming error, not a user one


def build(cls: Any, data: Any, path: KeyPath, loc: Locator, skip: tuple[str, ...] = ()) -> Any:
    """An instance of dataclass `cls` from plain `data` at `path`: unknown keys, missing required
    keys and wrong types are ConfigErrors at their place. `skip`: fields not read from the file."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise loc.error(path, f"must be a mapping, not {type(data).__name__}", "wrong-type")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise loc.error(path + (key,), f"unknown key '{key}' (known keys: {known})", "unknown-key")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], path + (name,), loc)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise loc.error(path, f"missing required key '{name}'", "missing-key")
    return cls(**kwargs)


def env_overrides(data: dict[str, Any], env: Mapping[str, str], sections: Mapping[str, type]) -> dict[str, Any]:
    """Apply CALLCENTER_<SECTION>_<KEY> to the scalar keys of `sections` (name → settings class).
    Errors: ConfigError `wrong-type` naming the variable."""
    data = dict(data)
    for section, cls in sections.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] not in (str, int, float):
                continue  # only scalar keys come from the environment
            var = f"CALLCENTER_{section.upper()}_{f.name.upper()}"
            if var in env:
                raw = env[var]
                tp = hints[f.name]
                try:
                    value: Any = tp(raw) if tp in (int, float) else raw
                except ValueError:
                    raise ConfigError(f"{var}={raw!r} must be {_type_name(tp)}", key=f"{section}.{f.name}",
                                      file="environment", error_id="wrong-type") from None
                data[section] = {**(data.get(section) or {}), f.name: value}
    return data
