"""What every feature's routes share to read a request: the JSON body (bounded), ids in paths,
`?limit=`, typed fields. Bad input is a `Refused` (400) or, for an id that cannot exist, a
`NotFound` (404) with the error id the feature names."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callcenter.core.errors import NotFound, Refused

MAX_JSON_DEPTH = 64
MAX_BODY = 64 * 1024  # bytes; every request body here is a few fields
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the store (PostgreSQL)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's body: a JSON object, at most MAX_JSON_DEPTH deep (aiohttp refuses bodies over
    the app's client_max_size with 413). Errors: Refused `bad-request`."""
    raw = await request.read()
    try:
        body = json.loads(raw, parse_constant=_no_constant)  # NaN / Infinity are not JSON
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise Refused("bad-request", "the body must be JSON (at most 64 levels deep)") from None
    if _depth(body) > MAX_JSON_DEPTH:
        raise Refused("bad-request", f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(body, dict):
        raise Refused("bad-request", "the body must be a JSON object")
    return body


def path_id(value: str, what: str) -> int:
    """A path id (`12` or `#12`) as an integer. Errors: NotFound `unknown-<what>` for anything else."""
    text = value.removeprefix("#")
    # At most 10 digits before int(): Python refuses to convert 4,300 digits and more (a 500).
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"unknown-{what}", f"no {what} #{value.removeprefix('#')[:20]}")
    return int(text)


def limit(request: web.Request, default: int = 50, high: int = 1000) -> int:
    """`?limit=` (1 to `high`). Errors: Refused `bad-limit`."""
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise Refused("bad-limit", f"limit must be 1 to {high}")
    return int(raw)


def text_field(body: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """A string field of a body, or `default` when absent. Errors: Refused `bad-request`."""
    value = body.get(key, default)
    if value is not None and not isinstance(value, str):
        raise Refused("bad-request", f"{key} must be a string, not {type(value).__name__}")
    return value


def int_field(body: dict[str, Any], key: str) -> int | None:
    """An integer field (not a boolean), or None when absent. Errors: Refused `bad-request`."""
    value = body.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise Refused("bad-request", f"{key} must be an integer")
    return value


def strings_field(body: dict[str, Any], key: str, most: int = 50) -> list[str]:
    """A list of at most `most` strings (default empty). Errors: Refused `bad-request`."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > most:
        raise Refused("bad-request", f"{key} must be a list of at most {most} strings")
    return value
