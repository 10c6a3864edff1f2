"""The pieces every OpenAPI path is written with (web/openapi.py assembles them; a feature may
describe its own paths with them, e.g. calls/openapi.py)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/responses/Error"}
OBJ: dict[str, Any] = {"type": "object"}
LIST: dict[str, Any] = {"type": "array", "items": {"type": "object"}}


def ok(description: str, schema: dict[str, Any] = OBJ) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def op(summary: str, description: str, ok: dict[str, Any], *, errors: tuple[str, ...] = ("401",),
       body: dict[str, Any] | None = None, params: tuple[str, ...] = ()) -> dict[str, Any]:
    built: dict[str, Any] = {"summary": summary, "description": description,
                             "responses": {"200": ok, **{code: ERROR for code in errors}}}
    if params:
        built["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                               for p in params]
    if body is not None:
        built["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return built
