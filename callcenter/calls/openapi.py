"""The OpenAPI description of live call control (docs/call-control.md), merged into
/api/openapi.json by web/openapi.py."""

from __future__ import annotations

from typing import Any

from callcenter.web.openapi_parts import ok as _ok, op as _op

# An agent acts on their own leg; supervisors and admins
# name `agent` (default: the agent who has the customer). Each is CSRF-checked from the page.
_ACT = {"type": "object", "properties": {"agent": {"type": "string"}}}
_CTRL_ERRORS = ("400", "401", "403", "404", "409", "502")


def _control(summary: str, description: str, body: dict[str, Any] = _ACT) -> dict[str, Any]:
    return {"post": _op(summary, description, _ok("the call's parties, or what was done"), errors=_CTRL_ERRORS,
                        params=("call_id",), body=body)}


CALL_CONTROL_PATHS: dict[str, Any] = {
    "/api/calls/{call_id}/parties": {"get": _op(
        "Who is on a live call", "Each party (agent, supervisor, customer) with its channel, bridge, hold and mute; "
        "a consultation going on.", _ok("`{call_id, parties, held, consultation}`"), errors=("401", "403", "404"),
        params=("call_id",))},
    "/api/calls/{call_id}/hold": _control("Hold", "The customer hears music on hold; 409 `on-hold`, `in-conference`."),
    "/api/calls/{call_id}/resume": _control("Resume", "Back to talking; 409 `not-on-hold`."),
    "/api/calls/{call_id}/mute": _control("Mute the agent's microphone", "`muted` false unmutes.", {
        "type": "object", "properties": {"agent": {"type": "string"}, "muted": {"type": "boolean"}}}),
    "/api/calls/{call_id}/hangup": _control("Leave the call", "A two-party call ends; a conference goes on."),
    "/api/calls/{call_id}/transfer": _control(
        "Transfer", "`to`: an agent (name or extension), `queue:NAME` (the caller keeps their priority) or a +E.164 "
        "number through the trunk. Blind by default (an agent who does not answer: back to the queue); `attended` "
        "consults first (the caller hears music), then `action` complete | cancel | conference. `note` is shown to "
        "the receiving agent. Errors: unknown-agent, agent-unavailable (logged out), unknown-queue, bad-number, "
        "no-outbound-trunk, no-consultation, in-consultation.", {
            "type": "object", "properties": {
                "agent": {"type": "string"}, "to": {"type": "string", "maxLength": 64},
                "attended": {"type": "boolean"}, "note": {"type": "string", "maxLength": 2000},
                "action": {"enum": ["complete", "cancel", "conference"]}}}),
    "/api/calls/{call_id}/conference": _control(
        "Three-way call / conference", "`add`: an agent or a +E.164 number is rung into the call (answers when they "
        "answered; 409 `no-answer`); `drop`: a party (name, number or uniqueid from `parties`).", {
            "type": "object", "properties": {"agent": {"type": "string"}, "add": {"type": "string"},
                                             "drop": {"type": "string"}}}),
    "/api/calls/{call_id}/monitor": _control(
        "Monitor a call (supervisors)", "Rings `phone` (a supervisor's or an agent phone); answered, it listens (hears "
        "both sides), whispers (only the agent hears) or barges (everyone hears). Returns `monitor`, the session id. "
        "409 `no-answer` / `phone-unavailable`; 403 for agents.", {
            "type": "object", "required": ["phone"], "properties": {
                "phone": {"type": "string"}, "mode": {"enum": ["listen", "whisper", "barge"]}}}),
    "/api/calls/{call_id}/monitor/{monitor}": {"post": _op(
        "Switch a monitor session's mode (supervisors)", "listen | whisper | barge.", _ok("the session"),
        errors=_CTRL_ERRORS, params=("call_id", "monitor"),
        body={"type": "object", "required": ["mode"], "properties": {"mode": {"enum": ["listen", "whisper", "barge"]}}})},
}
