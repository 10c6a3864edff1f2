"""Property tests of the AMI action builders (callcenter/ami/actions.py): no value can break a line.

AMI is a line protocol: a CR or LF inside a value would become an extra header, or a whole second
action run with the controller's rights. For every public builder that takes text, and for any
text at all (control characters, CR, LF, NUL, U+2028, U+0085, very long strings), the builder
either refuses with error id `invalid-text` or returns an action whose wire form -- rendered
exactly as the client renders it (`str(_Action(dict(action.fields), as_list=action.as_list))`,
inside a running loop like `AmiClient._send`) -- is one `Key: value` line per field (one per item
of a list value) plus ActionID, and nothing else: no extra header, no blank line, no second action.

Two further wire properties (found by these tests, then fixed):
- a lone surrogate (U+D800..U+DFFF, e.g. from JSON `"\\ud800"`) is refused with `invalid-text`
  instead of failing later in the client's `str(wire).encode("utf-8")`;
- every accepted value fits in one Asterisk line: manager.c refuses a whole action holding a line
  longer than 1,022 bytes ("Failed to parse message: line too long"), so bounds hold in bytes too.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from callcenter.ami import actions
from callcenter.ami.client import _Action
from callcenter.core.errors import CallcenterError

SETTINGS = settings(max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# The acceptance side and the all-builders sweep need fewer examples (the file stays at seconds).
FEWER = settings(SETTINGS, max_examples=50)

# What text() must refuse, besides length: C0 controls, DEL, and the Unicode line breaks.
FORBIDDEN = frozenset([chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\u2028", "\u2029"])
# Asterisk (main/manager.c get_input): a 1,024-byte input buffer; a line must reach its LF
# inside it, so a header line holds at most 1,022 bytes before its CR LF.
ASTERISK_MAX_LINE = 1022

# -- strategies ---------------------------------------------------------------------------------

_clean_char = st.characters(exclude_categories=["Cs"], exclude_characters=sorted(FORBIDDEN))
_injections = ["\r\n", "\r", "\n", "\x00", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x7f", "\x85",
               "\u2028", "\u2029", ": ", "\r\n\r\n", "\r\nAction: Command\r\nCommand: core stop now\r\n\r\n",
               "\nAction: Originate\nChannel: PJSIP/666@trunk\n\n", "ActionID: x", "Variable: A=B"]

# Arbitrary text: anything hypothesis makes, splices of line breaks and fake headers, long runs.
any_text = st.one_of(
    st.text(),
    st.text(st.sampled_from(sorted(FORBIDDEN) + ["a", " ", ":"]), max_size=30),
    st.lists(st.one_of(st.text(max_size=12), st.sampled_from(_injections)), max_size=8).map("".join),
    st.builds(lambda c, n: c * n, st.one_of(_clean_char, st.sampled_from(sorted(FORBIDDEN))),
              st.integers(0, 2_500)),
    st.builds(lambda s, n, tail: s * n + tail, st.text(_clean_char, min_size=1, max_size=4),
              st.integers(0, 300), st.sampled_from(_injections)),
)

# What a builder argument is drawn from: plain text (so that builders accept often enough for
# the wire to be checked), plain text with one line break or control character spliced in, or
# anything at all.
sneaky = st.builds(lambda a, bad, b: a + bad + b, st.text(_clean_char, min_size=1, max_size=20),
                   st.sampled_from(_injections + sorted(FORBIDDEN)), st.text(_clean_char, max_size=20))
_plain = st.text(_clean_char, min_size=1, max_size=40).filter(lambda s: s.strip() != "")
_KINDS = {"plain": _plain, "sneaky": sneaky, "any": any_text}
arg = st.sampled_from(["plain"] * 7 + ["sneaky"] * 2 + ["any"]).flatmap(_KINDS.__getitem__)


def fits(s: str) -> bool:
    return len(s.encode("utf-8")) <= actions.MAX_VALUE_BYTES


def clean(max_size: int, *, empty: bool = True) -> st.SearchStrategy[str]:
    """Text text() must accept: no forbidden character, within the bound in characters and in
    UTF-8 bytes (one AMI line), not blank if `empty` is False."""
    base = st.one_of(st.text(_clean_char, max_size=max_size),
                     st.builds(lambda c, n: c * n, _clean_char, st.integers(0, max_size))).filter(fits)
    return base if empty else base.filter(lambda s: s.strip() != "")


# -- rendering like the client ------------------------------------------------------------------

_LOOP: list[asyncio.AbstractEventLoop] = []  # this module's own loop (the tests are not async)


@pytest.fixture(scope="module", autouse=True)
def _own_loop() -> Iterator[None]:
    _LOOP.append(asyncio.new_event_loop())
    yield
    _LOOP.pop().close()


def render(action: actions.Action[Any]) -> str:
    """The exact text `AmiClient._send` writes for `action` (built in a running loop, as there)."""

    async def build() -> str:
        return str(_Action(dict(action.fields), as_list=action.as_list))

    return _LOOP[-1].run_until_complete(build())


def expected_lines(action: actions.Action[Any]) -> list[tuple[str, str]]:
    """(key, value) per header line: one per field, one per item of a list value, plus ActionID."""
    out: list[tuple[str, str]] = []
    for key, value in action.fields.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            out.append((key, str(item)))
    if not any(k.lower() == "actionid" for k in action.fields):
        out.append(("ActionID", "<generated>"))
    return out


def check_wire(action: actions.Action[Any]) -> list[str]:
    """Assert the wire form is exactly the expected header lines; return them."""
    wire = render(action)
    assert wire.endswith("\r\n\r\n"), repr(wire[-10:])
    body = wire[: -len("\r\n\r\n")]
    lines = body.split("\r\n")
    want = expected_lines(action)
    # No line break of any kind inside a line: neither AMI's (Asterisk splits on LF, with or
    # without CR) nor any Python knows (U+2028, U+0085, VT, FF, FS, ...).
    for line in lines:
        assert "\r" not in line and "\n" not in line, repr(line)
        assert line.splitlines() == [line], repr(line)
        assert not holds_forbidden(line), repr(line)  # no NUL (C strings), no control character at all
    assert body.splitlines() == lines
    # No blank line (it would end the action and start a second one), and exactly the headers.
    assert "" not in lines
    assert len(lines) == len(want), (lines, want)
    got = []
    for line in lines:
        key, sep, value = line.partition(": ")
        assert sep and key and ":" not in key, repr(line)
        got.append((key, value))
    generated = [v for k, v in got if k == "ActionID" and ("ActionID", v) not in want]
    assert len(generated) == (1 if ("ActionID", "<generated>") in want else 0)
    assert sorted((k, "<generated>" if v in generated else v) for k, v in got) == sorted(want)
    assert sum(1 for k, _ in got if k.lower() == "action") == 1  # one action, never two
    return lines


def build_or_refuse(make: Callable[[], actions.Action[Any]]) -> actions.Action[Any] | None:
    """The action, or None when the builder refused with `invalid-text` (any other error fails)."""
    try:
        return make()
    except CallcenterError as exc:
        assert exc.error_id == "invalid-text", (exc.error_id, str(exc))
        return None


def holds_forbidden(*values: str) -> bool:
    return any(c in FORBIDDEN for v in values for c in v)


# -- every text-taking builder: refused, or well-formed on the wire -------------------------------

BUILDERS: dict[str, Any] = {
    "login": (st.tuples(arg, arg), lambda a: actions.login(*a)),
    "db_put": (st.tuples(arg, arg, arg), lambda a: actions.db_put(*a)),
    "db_del": (st.tuples(arg, arg), lambda a: actions.db_del(*a)),
    "setvar": (st.tuples(arg, arg, arg), lambda a: actions.setvar(*a)),
    "agi": (st.tuples(arg, arg, arg), lambda a: actions.agi(*a)),
    "originate": (st.tuples(arg, arg, arg, arg, arg,
                            st.dictionaries(arg, arg, max_size=4), st.integers(0, 10**7)),
                  lambda a: actions.originate(action_id=a[0], channel=a[1], context=a[2], exten=a[3],
                                              caller_id=a[4], variables=a[5], timeout_ms=a[6])),
    "channel_variables": (st.lists(arg, max_size=5), lambda a: actions.channel_variables(*a)),
    "queue_add": (st.tuples(arg, arg, arg, st.integers(-5, 100), st.booleans(), arg),
                  lambda a: actions.queue_add(a[0], a[1], member_name=a[2], penalty=a[3], paused=a[4],
                                              reason=a[5])),
    "queue_remove": (st.tuples(arg, arg), lambda a: actions.queue_remove(*a)),
    "queue_penalty": (st.tuples(arg, arg, st.integers(-5, 100)), lambda a: actions.queue_penalty(*a)),
    "queue_pause": (st.tuples(arg, st.booleans(), arg, arg), lambda a: actions.queue_pause(*a)),
    "command": (st.tuples(st.one_of(arg, st.sampled_from(sorted(actions.COMMANDS))),
                          st.one_of(st.none(), st.floats(0.1, 60))),
                lambda a: actions.command(*a)),
}


INJ = "x\r\n\r\nAction: Command\r\nCommand: core stop now\r\n\r\n"
# One hand-written injection per builder, always tried first.
INJECTION_EXAMPLES: dict[str, Any] = {
    "login": ("controller", INJ), "db_put": ("cc", "heartbeat", INJ), "db_del": ("cc", INJ),
    "setvar": ("PJSIP/a-1", "CC_X", INJ), "agi": ("PJSIP/a-1", "EXEC Playback " + INJ, "cc-agi-1"),
    "originate": ("cb-1", "PJSIP/1@trunk", "cc-callback", "s", '"q" <1>', {"CC_CB_ID": INJ}, 30000),
    "channel_variables": ["CC_DID", INJ],
    "queue_add": ("support", "PJSIP/agent1", "agent1", 0, True, INJ),
    "queue_remove": ("support", "PJSIP/agent1\nAction: Logoff"),
    "queue_penalty": ("support\u2028", "PJSIP/agent1", 1), "queue_pause": ("PJSIP/agent1", True, INJ, ""),
    "command": ("core waitfullybooted\r\n\r\nAction: Command\r\nCommand: core stop now", None),
}


def _texts_of(args: Any) -> list[str]:
    """Every string among a builder's arguments (dict keys and values included)."""
    out: list[str] = []
    for a in args if isinstance(args, (tuple, list)) else [args]:
        if isinstance(a, str):
            out.append(a)
        elif isinstance(a, dict):
            out += [*a.keys(), *a.values()]
    return out


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_any_text_is_refused_or_stays_on_its_own_line(name: str) -> None:
    strategy, make = BUILDERS[name]

    seen = {"accepted": 0, "refused": 0}

    @SETTINGS
    @given(strategy)
    @example(INJECTION_EXAMPLES[name])
    def prop(args: Any) -> None:
        action = build_or_refuse(lambda: make(args))
        texts = _texts_of(args)
        seen["refused" if action is None else "accepted"] += 1
        if action is None:
            return
        # Accepted: nothing forbidden went in, and the wire is exactly the expected headers.
        assert not holds_forbidden(*texts), texts
        check_wire(action)
        if name == "command":
            assert action.fields["Command"] in actions.COMMANDS

    prop()
    # Not vacuous: both sides were exercised (well over 10 of 200 each, by construction).
    assert seen["accepted"] > 0 and seen["refused"] > 0, seen


def test_a_forbidden_character_anywhere_is_refused_by_every_builder() -> None:
    """Not a vacuous 'or refused': a CR LF in any one text argument makes every builder refuse."""
    ok = "x"

    @FEWER
    @given(st.sampled_from(sorted(FORBIDDEN)), st.text(_clean_char, max_size=20), st.integers(0, 20))
    def prop(bad: str, around: str, where: int) -> None:
        value = around[:where] + bad + around[where:]
        calls: list[Callable[[], Any]] = [
            lambda: actions.login(value, ok), lambda: actions.login(ok, value),
            lambda: actions.db_put(value, ok, ok), lambda: actions.db_put(ok, value, ok),
            lambda: actions.db_put(ok, ok, value), lambda: actions.db_del(value, ok), lambda: actions.db_del(ok, value),
            lambda: actions.setvar(value, ok, ok), lambda: actions.setvar(ok, value, ok),
            lambda: actions.setvar(ok, ok, value), lambda: actions.agi(value, ok, ok),
            lambda: actions.agi(ok, value, ok), lambda: actions.agi(ok, ok, value),
            lambda: actions.channel_variables(ok, value),
            lambda: actions.queue_add(value, ok, member_name=ok, penalty=0, paused=False, reason=ok),
            lambda: actions.queue_add(ok, value, member_name=ok, penalty=0, paused=False, reason=ok),
            lambda: actions.queue_add(ok, ok, member_name=value, penalty=0, paused=False, reason=ok),
            lambda: actions.queue_add(ok, ok, member_name=ok, penalty=0, paused=True, reason=value),
            lambda: actions.queue_remove(value, ok), lambda: actions.queue_remove(ok, value),
            lambda: actions.queue_penalty(value, ok, 1), lambda: actions.queue_penalty(ok, value, 1),
            lambda: actions.queue_pause(value, True, ok, ok), lambda: actions.queue_pause(ok, True, value, ok),
            lambda: actions.queue_pause(ok, True, ok, value), lambda: actions.command(value),
        ]
        def originate_with(field: str) -> Callable[[], Any]:
            texts: dict[str, Any] = {"action_id": ok, "channel": ok, "context": ok, "exten": ok, "caller_id": ok,
                                     field: value, "variables": {}}
            return lambda: actions.originate(**texts)

        calls += [originate_with(f) for f in ("action_id", "channel", "context", "exten", "caller_id")]
        calls.append(lambda: actions.originate(action_id=ok, channel=ok, context=ok, exten=ok, caller_id=ok,
                                               variables={value: ok}))
        calls.append(lambda: actions.originate(action_id=ok, channel=ok, context=ok, exten=ok, caller_id=ok,
                                               variables={ok: value}))
        for i, call in enumerate(calls):
            with pytest.raises(CallcenterError) as info:
                call()
            assert info.value.error_id == "invalid-text", (i, info.value.error_id)

    prop()


# -- valid values are accepted, unchanged, and well-formed ----------------------------------------

N, V, R = actions.MAX_NAME, actions.MAX_VALUE, actions.MAX_REASON


def reason() -> st.SearchStrategy[str]:
    """A pause reason app_queue keeps whole: at most MAX_REASON characters and UTF-8 bytes."""
    return clean(R).filter(lambda s: len(s.encode("utf-8")) <= R)


VALID: dict[str, Any] = {
    "login": (st.tuples(clean(N), clean(N)), lambda a: actions.login(*a),
              lambda a: {"Username": a[0], "Secret": a[1]}),
    "db_put": (st.tuples(clean(N, empty=False), clean(N, empty=False), clean(V)), lambda a: actions.db_put(*a),
               lambda a: {"Family": a[0], "Key": a[1], "Val": a[2]}),
    "db_del": (st.tuples(clean(N), clean(N)), lambda a: actions.db_del(*a), lambda a: {"Family": a[0], "Key": a[1]}),
    "setvar": (st.tuples(clean(N, empty=False), clean(N, empty=False), clean(V)), lambda a: actions.setvar(*a),
               lambda a: {"Channel": a[0], "Variable": a[1], "Value": a[2]}),
    "agi": (st.tuples(clean(N, empty=False), clean(actions.MAX_AGI_COMMAND, empty=False), clean(N)),
            lambda a: actions.agi(*a), lambda a: {"Channel": a[0], "Command": a[1], "CommandID": a[2]}),
    "originate": (st.tuples(*[clean(N, empty=False)] * 4, clean(N),
                            st.dictionaries(clean(N, empty=False), clean(V), max_size=4)),
                  lambda a: actions.originate(action_id=a[0], channel=a[1], context=a[2], exten=a[3],
                                              caller_id=a[4], variables=a[5]),
                  lambda a: {"ActionID": a[0], "ChannelId": a[0], "Channel": a[1], "Context": a[2], "Exten": a[3],
                             "CallerID": a[4], "Variable": [f"{k}={v}" for k, v in a[5].items()]}),
    # Valid means the joined names fit one AMI line (MAX_VALUE_BYTES): five names of 80 characters
    # of 4 UTF-8 bytes each do not, and are refused (tested with the bounds below).
    "channel_variables": (st.lists(clean(N), max_size=5).filter(
                              lambda a: len(",".join(a).encode()) <= actions.MAX_VALUE_BYTES),
                          lambda a: actions.channel_variables(*a),
                          lambda a: {"Variables": ",".join(a)}),
    "queue_add": (st.tuples(clean(N, empty=False), clean(N, empty=False), clean(N), reason()),
                  lambda a: actions.queue_add(a[0], a[1], member_name=a[2], penalty=3, paused=True, reason=a[3]),
                  lambda a: {"Queue": a[0], "Interface": a[1], "StateInterface": a[1], "MemberName": a[2],
                             "Reason": a[3], "Penalty": "3", "Paused": "true"}),
    "queue_remove": (st.tuples(clean(N, empty=False), clean(N, empty=False)), lambda a: actions.queue_remove(*a),
                     lambda a: {"Queue": a[0], "Interface": a[1]}),
    "queue_penalty": (st.tuples(clean(N, empty=False), clean(N, empty=False)),
                      lambda a: actions.queue_penalty(a[0], a[1], 7),
                      lambda a: {"Queue": a[0], "Interface": a[1], "Penalty": "7"}),
    "queue_pause": (st.tuples(clean(N, empty=False), reason(), clean(N)),
                    lambda a: actions.queue_pause(a[0], False, a[1], a[2]),
                    lambda a: {"Interface": a[0], "Reason": a[1], "Paused": "false", **({"Queue": a[2]} if a[2] else {})}),
    "command": (st.tuples(st.sampled_from(sorted(actions.COMMANDS))), lambda a: actions.command(*a),
                lambda a: {"Command": a[0]}),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_text_is_accepted_unchanged_and_well_formed(name: str) -> None:
    strategy, make, fields = VALID[name]

    @FEWER
    @given(strategy)
    def prop(args: Any) -> None:
        action = make(args)  # must not raise
        for key, value in fields(args).items():
            assert action.fields[key] == value, (key, action.fields[key], value)
        check_wire(action)

    prop()


# -- text() itself --------------------------------------------------------------------------------

BOUNDS = [actions.MAX_NAME, actions.MAX_REASON, actions.MAX_VALUE, actions.MAX_AGI_COMMAND, 1, 0]


@SETTINGS
@given(st.sampled_from(BOUNDS).flatmap(lambda m: st.tuples(st.just(m), clean(m))))
@example((actions.MAX_VALUE, "\U0001F600" * (actions.MAX_VALUE_BYTES // 4)))
@example((actions.MAX_NAME, "\xa0\u3000 \x80\x9f\ufeff\U0010FFFF"))
def test_text_accepts_every_clean_string_up_to_the_bound_unchanged(case: tuple[int, str]) -> None:
    max_length, value = case
    assert actions.text(value, "field", max_length) is value
    if value.strip():
        assert actions.text(value, "field", max_length, empty=False) is value


@SETTINGS
@given(st.text(_clean_char, max_size=40), st.sampled_from(sorted(FORBIDDEN)), st.text(max_size=40),
       st.sampled_from(BOUNDS[:4]))
def test_text_refuses_any_control_character_at_any_place(before: str, bad: str, after: str, bound: int) -> None:
    value = before + bad + after
    with pytest.raises(CallcenterError) as info:
        actions.text(value, "field", max(bound, len(value)))
    assert info.value.error_id == "invalid-text"
    assert info.value.details["field"] == "field"


@SETTINGS
@given(st.integers(0, actions.MAX_AGI_COMMAND), st.integers(1, 300), _clean_char)
def test_text_refuses_anything_longer_than_the_bound(bound: int, extra: int, char: str) -> None:
    with pytest.raises(CallcenterError) as info:
        actions.text(char * (bound + extra), "field", bound)
    assert info.value.error_id == "invalid-text"


@SETTINGS
@given(st.text(st.sampled_from(" \xa0\u3000\u2000\u205f"), max_size=10), st.sampled_from(BOUNDS[:4]))
def test_text_refuses_a_blank_value_when_it_must_not_be_empty(blank: str, bound: int) -> None:
    assert actions.text(blank, "field", bound) == blank
    with pytest.raises(CallcenterError) as info:
        actions.text(blank, "field", bound, empty=False)
    assert info.value.error_id == "invalid-text"


@SETTINGS
@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.binary(max_size=10),
                 st.lists(st.text(max_size=3), max_size=3)))
def test_text_refuses_what_is_not_a_string(value: Any) -> None:
    with pytest.raises(CallcenterError) as info:
        actions.text(value, "field")
    assert info.value.error_id == "invalid-text"


# -- encodable, and within Asterisk's line length ------------------------------------------------

NO_SHRINK = settings(SETTINGS, phases=(Phase.explicit, Phase.generate))
_surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])


@NO_SHRINK
@given(st.text(_clean_char, max_size=10), _surrogate)
@example("lunch", "\ud800")
def test_every_accepted_value_can_be_written_to_the_socket(before: str, surrogate: str) -> None:
    action = build_or_refuse(lambda: actions.queue_pause("PJSIP/agent1", True, before + surrogate))
    if action is not None:
        render(action).encode("utf-8")  # what AmiClient._send writes


def _max_line_bytes(action: actions.Action[Any]) -> int:
    return max(len(line.encode("utf-8")) for line in check_wire(action))


@NO_SHRINK
@given(st.sampled_from(["x", "é", "€", "\U0001F600"]), st.sampled_from(["reason", "value", "agi", "variable", "names"]))
@example("\U0001F600", "reason")
@example("x", "names")
def test_every_accepted_value_fits_in_one_asterisk_line(char: str, where: str) -> None:
    builders: dict[str, Callable[[], actions.Action[Any]]] = {
        "reason": lambda: actions.queue_pause("PJSIP/agent1", True, char * actions.MAX_REASON),
        "value": lambda: actions.setvar("PJSIP/agent1-00000001", "CC_X", char * actions.MAX_VALUE),
        "agi": lambda: actions.agi("PJSIP/agent1-00000001", "SET VARIABLE X " + char * 880, "cc-agi-1"),
        "variable": lambda: actions.originate(action_id="cb-1", channel="PJSIP/1@trunk", context="cc-callback",
                                              exten="s", caller_id="", variables={"V": char * actions.MAX_VALUE}),
        "names": lambda: actions.channel_variables(*[char * actions.MAX_NAME] * 13),
    }
    action = build_or_refuse(builders[where])  # refused with invalid-text, or it fits
    if action is not None:
        assert _max_line_bytes(action) <= ASTERISK_MAX_LINE
