"""The pure flow stepper: fake results and an injected `now` in, actions and `path` out."""

import datetime as dt
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.ivr import model as m
from callcenter.ivr.flows import FlowLibrary
from callcenter.ivr.loader import parse_flow, read_flow_file
from callcenter.ivr.stepper import (ALL_DIGITS, Dial, Done, Finished, FlowRun, Hangup, Play, Pressed, Recorded,
                                    RecordMessage, Returned, ToQueue, WaitDigit)
from callcenter.ivr.validate import Context

REPO = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 12, 22, 10, 0, tzinfo=PARIS).timestamp()  # a Tuesday morning in Paris


def flow_set(*texts: str, say_files: dict | None = None) -> m.FlowSet:
    """Flows from YAML text (each must load without a problem)."""
    flows = {}
    for i, text in enumerate(texts):
        flow, problems = parse_flow(textwrap.dedent(text), f"flow{i}.yaml", f"flow{i}")
        assert flow is not None and problems == [], [str(p) for p in problems]
        flows[flow.name] = flow
    return m.FlowSet(flows, version=1, say_files=say_files or {})


def run_of(text: str, **kwargs) -> FlowRun:
    fs = flow_set(text)
    return FlowRun(fs, next(iter(fs.flows)), **kwargs)


def file(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple(("file", n) for n in names)


MENU = """\
    name: t
    entry: top
    nodes:
      top:
        menu:
          prompt: hello-world
          options: {1: sales, 2: support, 0: operator}
          timeout: 3
          retries: 2
          no_input: silence/1
          invalid: beep
        failure: operator
      sales:
        queue: {name: sales, priority: 3, max_wait: 60}
        next: message
      support:
        queue: support
      operator:
        transfer: {agent: agent1, timeout: 20}
        failure: message
      message:
        voicemail: {greeting: vm-goodbye, max_length: 90, beep: false}
"""


# -- menus ---------------------------------------------------------------------------------------

def test_menu_digit_after_the_prompt_goes_to_the_queue():
    run = run_of(MENU)
    assert run.start(NOW) == Play(file("hello-world"), escape=ALL_DIGITS)
    assert run.send(Pressed(""), NOW) == WaitDigit(3.0)
    assert run.send(Pressed("1"), NOW) == ToQueue("sales", priority=3, max_wait=60, resume="t/message")
    assert run.path == ["t/top", "pressed:1", "t/sales"]


def test_a_queue_without_max_wait_is_the_end_of_the_flow():
    run = run_of(MENU)
    run.start(NOW)
    run.send(Pressed(""), NOW)
    assert run.send(Pressed("2"), NOW) == ToQueue("support", priority=0, max_wait=0, resume="")
    assert run.send(Done(), NOW) == Finished("queue support")
    assert run.path == ["t/top", "pressed:2", "t/support"]


def test_no_input_plays_the_no_input_prompt_retries_then_goes_to_failure():
    run = run_of(MENU)
    assert run.start(NOW) == Play(file("hello-world"), escape=ALL_DIGITS)
    for _ in range(2):  # retries: 2 → three tries, the explanation before each retry
        assert run.send(Pressed(""), NOW) == WaitDigit(3.0)
        assert run.send(Pressed(""), NOW) == Play(file("silence/1"))
        assert run.send(Pressed(""), NOW) == Play(file("hello-world"), escape=ALL_DIGITS)
    assert run.send(Pressed(""), NOW) == WaitDigit(3.0)
    assert run.send(Pressed(""), NOW) == Dial("agent", "agent1", 20, resume="t/message")  # the failure node
    assert run.path == ["t/top", "no-input", "no-input", "no-input", "menu-failed", "t/operator"]


def test_an_invalid_digit_plays_the_invalid_prompt_then_the_menu_again():
    run = run_of(MENU)
    run.start(NOW)
    assert run.send(Pressed("7"), NOW) == Play(file("beep"))
    assert run.send(Pressed(""), NOW) == Play(file("hello-world"), escape=ALL_DIGITS)
    assert run.send(Pressed("2"), NOW) == ToQueue("support", 0, 0, "")
    assert run.path == ["t/top", "invalid:7", "pressed:2", "t/support"]


def test_no_explanation_after_the_last_try():
    run = run_of(MENU.replace("retries: 2", "retries: 0"))
    run.start(NOW)
    assert run.send(Pressed("5"), NOW) == Dial("agent", "agent1", 20, "t/message")
    assert run.path == ["t/top", "invalid:5", "menu-failed", "t/operator"]


def test_a_menu_without_explanations_just_asks_again():
    run = run_of(MENU.replace("no_input: silence/1", "").replace("invalid: beep", ""))
    run.start(NOW)
    assert run.send(Pressed("8"), NOW) == Play(file("hello-world"), escape=ALL_DIGITS)


def test_barge_in_a_key_during_the_prompt_counts_without_waiting():
    run = run_of(MENU)
    action = run.start(NOW)
    assert isinstance(action, Play) and action.escape == ALL_DIGITS == "0123456789*#"
    assert run.send(Pressed("0"), NOW) == Dial("agent", "agent1", 20, "t/message")  # no WaitDigit
    assert run.path == ["t/top", "pressed:0", "t/operator"]


def test_without_barge_in_the_prompt_cannot_be_interrupted():
    run = run_of(MENU.replace("retries: 2", "retries: 2\n          barge_in: false"))
    assert run.start(NOW) == Play(file("hello-world"), escape="")
    assert run.send(Pressed(""), NOW) == WaitDigit(3.0)


def test_a_prompt_played_to_its_end_may_report_done_instead_of_no_key():
    run = run_of(MENU)
    run.start(NOW)
    assert run.send(Done(), NOW) == WaitDigit(3.0)


# -- collect -------------------------------------------------------------------------------------

COLLECT = """\
    name: c
    entry: ask
    nodes:
      ask:
        collect:
          prompt: {say: "Your order number, then hash."}
          variable: order_number
          min_digits: 3
          max_digits: 6
          pattern: "^9"
          timeout: 4
          retries: 1
          invalid: beep
        next: thanks
        failure: support
      thanks:
        play: [{say: "You entered"}, {say_digits: order_number}]
        next: support
      support:
        queue: support
"""
SAYS = {("en", "", "Your order number, then hash."): "tts/ask", ("en", "", "You entered"): "tts/entered"}


def collect_run(text: str = COLLECT) -> FlowRun:
    fs = flow_set(text, say_files=SAYS)
    return FlowRun(fs, "c")


def test_collect_hash_ends_the_input():
    run = collect_run()
    assert run.start(NOW) == Play(file("tts/ask"), escape=ALL_DIGITS)  # keys during the prompt count
    assert run.send(Pressed("9"), NOW) == WaitDigit(4.0)
    assert run.send(Pressed("1"), NOW) == WaitDigit(4.0)
    assert run.send(Pressed("2"), NOW) == WaitDigit(4.0)
    assert run.send(Pressed("#"), NOW) == Play((("file", "tts/entered"), ("digits", "912")))
    assert run.variables == {"order_number": "912"}
    assert run.send(Pressed(""), NOW) == ToQueue("support", 0, 0, "")
    assert run.path == ["c/ask", "collected:order_number=912", "c/thanks", "c/support"]


def test_collect_max_digits_ends_the_input_without_hash():
    run = collect_run()
    run.start(NOW)
    action = run.send(Pressed("9"), NOW)
    for d in "12345":
        assert action == WaitDigit(4.0)
        action = run.send(Pressed(d), NOW)
    assert action == Play((("file", "tts/entered"), ("digits", "912345")))  # 6 digits: no wait for '#'
    assert run.variables["order_number"] == "912345"


def test_collect_a_timeout_between_digits_ends_the_input():
    run = collect_run()
    run.start(NOW)
    for d in "987":
        run.send(Pressed(d), NOW)
    assert run.send(Pressed(""), NOW) == Play((("file", "tts/entered"), ("digits", "987")))


def test_collect_too_few_digits_retries_then_failure():
    run = collect_run()
    run.start(NOW)
    run.send(Pressed("9"), NOW)
    assert run.send(Pressed("#"), NOW) == Play(file("beep"))  # 1 digit < min_digits 3
    assert run.send(Pressed(""), NOW) == Play(file("tts/ask"), escape=ALL_DIGITS)
    run.send(Pressed("9"), NOW)
    run.send(Pressed("1"), NOW)
    assert run.send(Pressed("#"), NOW) == ToQueue("support", 0, 0, "")  # the failure node, no explanation
    assert run.path == ["c/ask", "invalid-input:9", "invalid-input:91", "collect-failed", "c/support"]
    assert run.variables == {}


def test_collect_input_not_matching_the_pattern_retries_then_failure():
    run = collect_run()
    run.start(NOW)
    for d in "1234":
        run.send(Pressed(d), NOW)
    assert run.send(Pressed("#"), NOW) == Play(file("beep"))
    run.send(Pressed(""), NOW)
    for d in "5555":
        run.send(Pressed(d), NOW)
    assert run.send(Pressed("#"), NOW) == ToQueue("support", 0, 0, "")
    assert run.path == ["c/ask", "invalid-input:1234", "invalid-input:5555", "collect-failed", "c/support"]


def test_collect_hash_during_the_prompt_is_no_input():
    run = collect_run()
    run.start(NOW)
    assert run.send(Pressed("#"), NOW) == Play(file("beep"))
    assert run.path == ["c/ask", "no-input"]


def test_collect_nothing_at_all_is_no_input():
    run = collect_run()
    run.start(NOW)
    assert run.send(Pressed(""), NOW) == WaitDigit(4.0)
    assert run.send(Pressed(""), NOW) == Play(file("beep"))
    assert run.path == ["c/ask", "no-input"]


def test_collect_without_an_end_key_takes_hash_as_a_digit():
    run = collect_run(COLLECT.replace('pattern: "^9"', 'finish_on: ""'))
    run.start(NOW)
    run.send(Pressed("1"), NOW)
    run.send(Pressed("#"), NOW)
    run.send(Pressed("2"), NOW)
    assert run.send(Pressed(""), NOW) == Play((("file", "tts/entered"), ("digits", "1#2")))


def test_say_digits_of_an_unset_variable_says_nothing():
    fs = flow_set("""\
        name: d
        entry: a
        nodes:
          a:
            play: [beep, {say_digits: order_number}]
            next: b
          b:
            hangup: ~
    """)
    run = FlowRun(fs, "d")
    assert run.start(NOW) == Play(file("beep"))


# -- hours ---------------------------------------------------------------------------------------

HOURS = """\
    name: h
    entry: check
    nodes:
      check:
        hours:
          timezone: Europe/Paris
          weekly:
            mon-fri: "09:00-18:00"
          holidays: [2026-12-25]
        open: support
        closed: message
      support:
        queue: support
      message:
        voicemail: {greeting: beep}
"""


def hours_at(now: float) -> tuple:
    run = run_of(HOURS)
    action = run.start(now)
    return type(action).__name__, run.path


def paris(*args: int) -> float:
    return dt.datetime(*args, tzinfo=PARIS).timestamp()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def test_hours_open_on_a_weekday_morning_in_paris():
    assert hours_at(paris(2026, 12, 22, 10, 0)) == ("ToQueue", ["h/check", "open", "h/support"])


def test_hours_closed_the_same_time_on_a_holiday():
    assert hours_at(paris(2026, 12, 25, 10, 0)) == ("RecordMessage", ["h/check", "closed", "h/message"])


def test_hours_closed_on_sunday():
    assert hours_at(paris(2026, 12, 27, 10, 0)) == ("RecordMessage", ["h/check", "closed", "h/message"])


@pytest.mark.parametrize("now, state", [
    (utc(2026, 12, 16, 7, 30), "closed"),  # 08:30 in Paris in winter (UTC+1)
    (utc(2026, 7, 15, 7, 30), "open"),     # 09:30 in Paris in summer (UTC+2)
    (utc(2026, 7, 15, 16, 30), "closed"),  # 18:30 in Paris in summer
    (utc(2026, 12, 16, 16, 30), "open"),   # 17:30 in Paris in winter
    (utc(2026, 12, 24, 23, 30), "closed"), # Thursday in UTC, but already Christmas in Paris
])
def test_hours_follow_the_schedule_time_zone_and_dst(now, state):
    assert hours_at(now)[1][1] == state


def test_hours_are_decided_with_the_now_of_the_step():
    """A caller who waited in a menu past closing time is routed by the time they pressed."""
    fs = flow_set("""\
        name: late
        entry: menu
        nodes:
          menu:
            menu: {prompt: beep, options: {1: check}}
            failure: check
          check:
            hours: {timezone: Europe/Paris, weekly: {daily: "09:00-18:00"}}
            open: support
            closed: bye
          support:
            queue: support
          bye:
            hangup: vm-goodbye
    """)
    run = FlowRun(fs, "late")
    run.start(paris(2026, 12, 22, 17, 59))
    assert run.send(Pressed("1"), paris(2026, 12, 22, 18, 0)) == Hangup(file("vm-goodbye"))
    assert run.path[-2:] == ["closed", "late/bye"]


# -- branch --------------------------------------------------------------------------------------

BRANCH = """\
    name: b
    entry: route
    nodes:
      route:
        branch:
          - {if: caller_id, prefix: "+3361", goto: vip}
          - {if: did, equals: "8005550199", goto: office}
          - {if: did, in: ["8005550100", 8005550101], goto: hotline}
        else: support
      vip:
        queue: {name: support, priority: 9}
      office:
        queue: sales
      hotline:
        transfer: {extension: "1001"}
      support:
        queue: support
"""


@pytest.mark.parametrize("caller_id, did, action", [
    ("+33612345678", "8005550100", ToQueue("support", 9, 0, "")),  # the first rule that matches wins
    ("+33712345678", "8005550199", ToQueue("sales", 0, 0, "")),
    ("5551230001", "8005550101", Dial("extension", "1001", 30, "")),
    ("5551230001", "80055501", ToQueue("support", 0, 0, "")),  # not a prefix for `in` / `equals`
    ("", "", ToQueue("support", 0, 0, "")),
])
def test_branch_on_caller_id_and_did(caller_id, did, action):
    run = run_of(BRANCH, caller_id=caller_id, did=did)
    assert run.start(NOW) == action
    assert run.path[0] == "b/route" and len(run.path) == 2


BRANCH_ON_VARIABLE = """\
    name: v
    entry: ask
    nodes:
      ask:
        collect: {prompt: beep, variable: account, max_digits: 4}
        next: route
        failure: support
      route:
        branch:
          - {if: account, equals: "0000", goto: test_line}
          - {if: account, matches: "^9[0-9]{3}$", goto: vip}
          - {if: account, in: ["1234", "4321"], goto: sales}
        else: support
      test_line:
        hangup: beep
      vip:
        queue: {name: support, priority: 9}
      sales:
        queue: sales
      support:
        queue: support
"""


@pytest.mark.parametrize("keys, action", [
    ("0000", Hangup(file("beep"))),
    ("9876", ToQueue("support", 9, 0, "")),
    ("4321", ToQueue("sales", 0, 0, "")),
    ("987", ToQueue("support", 0, 0, "")),  # matches needs 4 digits
    ("1235", ToQueue("support", 0, 0, "")),
])
def test_branch_on_a_collected_variable(keys, action):
    run = run_of(BRANCH_ON_VARIABLE)
    run.start(NOW)
    for k in keys:
        last = run.send(Pressed(k), NOW)
    if len(keys) < 4:
        last = run.send(Pressed("#"), NOW)
    assert last == action
    assert run.variables == {"account": keys}


def test_branch_on_a_variable_never_set_takes_else():
    fs = flow_set("""\
        name: u
        entry: route
        nodes:
          route:
            branch: [{if: account, prefix: "9", goto: vip}]
            else: support
          vip:
            queue: sales
          support:
            queue: support
    """)
    assert FlowRun(fs, "u").start(NOW) == ToQueue("support", 0, 0, "")


# -- queue, transfer, voicemail ------------------------------------------------------------------

def test_queue_overflow_continues_at_next():
    run = run_of(MENU)
    run.start(NOW)
    assert run.send(Pressed("1"), NOW) == ToQueue("sales", 3, 60, "t/message")
    assert run.send(Returned("TIMEOUT"), NOW) == RecordMessage(file("vm-goodbye"), max_length=90, beep=False)
    assert run.path == ["t/top", "pressed:1", "t/sales", "overflow:timeout", "t/message"]


def test_a_queue_with_next_that_is_answered_finishes():
    run = run_of(MENU)
    run.start(NOW)
    run.send(Pressed("1"), NOW)
    assert run.send(Done(), NOW) == Finished("queue sales")


def test_transfer_failure_goes_to_the_failure_node():
    run = run_of(MENU)
    run.start(NOW)
    assert run.send(Pressed("0"), NOW) == Dial("agent", "agent1", 20, "t/message")
    assert run.send(Returned("NOANSWER"), NOW) == RecordMessage(file("vm-goodbye"), 90, False)
    assert run.path == ["t/top", "pressed:0", "t/operator", "transfer-failed:noanswer", "t/message"]


def test_a_transfer_without_failure_node_finishes():
    fs = flow_set("""\
        name: x
        entry: out
        nodes:
          out:
            transfer: {number: "+15551234567", timeout: 25}
    """)
    run = FlowRun(fs, "x")
    assert run.start(NOW) == Dial("number", "+15551234567", 25, resume="")
    assert run.send(Returned("BUSY"), NOW) == Finished("transfer number +15551234567")


def test_voicemail_records_then_says_goodbye_and_hangs_up():
    run = run_of(MENU)
    run.start(NOW)
    run.send(Pressed("1"), NOW)
    assert run.send(Returned("TIMEOUT"), NOW) == RecordMessage(file("vm-goodbye"), 90, False)
    assert run.send(Recorded("/var/spool/msg.wav", 12.4), NOW) == Hangup(file("vm-goodbye"))
    assert run.send(Done(), NOW) == Finished("voicemail")
    assert run.path[-2:] == ["t/message", "message:12s"]
    assert run.send(Done(), NOW) == Finished("done")  # nothing after the end


def test_voicemail_with_next_goes_on():
    fs = flow_set("""\
        name: vm
        entry: message
        nodes:
          message:
            voicemail: ~
            next: bye
          bye:
            hangup: {say: "Thank you."}
    """, say_files={("en", "", "Thank you."): "tts/thanks"})
    run = FlowRun(fs, "vm")
    assert run.start(NOW) == RecordMessage((), max_length=120, beep=True)
    assert run.send(Recorded("/m.wav", 3.0), NOW) == Hangup(file("tts/thanks"))
    assert run.send(Done(), NOW) == Finished("hangup")
    assert run.path == ["vm/message", "message:3s", "vm/bye"]


def test_voicemail_silence_and_minimum_length_reach_the_recording_and_an_empty_message_is_said_so():
    fs = flow_set("""\
        name: vm
        entry: message
        nodes:
          message:
            voicemail: {max_length: 60, silence: 3, min_length: 2.5}
    """)
    run = FlowRun(fs, "vm")
    assert run.start(NOW) == RecordMessage((), max_length=60, beep=True, silence=3, min_length=2.5)
    run.send(Recorded("/m.wav", 1.0, "shorter than 2.5 s"), NOW)
    assert run.path == ["vm/message", "message:1s (empty)"]


@pytest.mark.parametrize("body, problem", [
    ("{silence: 61}", "0 (off) to 60"), ("{silence: -1}", "0 (off) to 60"), ("{silence: 2.5}", "must be an integer"),
    ("{max_length: 10, min_length: 11}", "max_length (10)"), ("{min_length: .nan}", "max_length"),
    ("{min_length: -1}", "max_length"), ("{min_length: yes}", "must be a number")])
def test_voicemail_silence_and_minimum_length_are_checked(body: str, problem: str) -> None:
    text = f"name: vm\nentry: message\nnodes:\n  message:\n    voicemail: {body}\n"
    flow, problems = parse_flow(text, "vm.yaml", "vm")
    assert len(problems) == 1 and problem in str(problems[0]), [str(p) for p in problems]
    assert flow is None or "message" in flow.broken_nodes
    assert "vm.yaml" in str(problems[0]) and ":5:" in str(problems[0])  # the file and the line


# -- goto, path, resume --------------------------------------------------------------------------

MAIN = """\
    name: main
    entry: welcome
    nodes:
      welcome:
        play: hello-world
        next: to_sales
      to_sales:
        goto: sales-line
"""
SALES = """\
    name: sales-line
    entry: menu
    nodes:
      menu:
        menu: {prompt: beep, options: {1: wait}}
        failure: wait
      wait:
        queue: {name: sales, max_wait: 30}
        next: bye
      bye:
        hangup: ~
"""


def test_goto_runs_the_other_flow_from_its_entry():
    fs = flow_set(MAIN, SALES)
    run = FlowRun(fs, "main")
    assert run.start(NOW) == Play(file("hello-world"))
    assert run.send(Pressed(""), NOW) == Play(file("beep"), escape=ALL_DIGITS)
    assert run.send(Pressed("1"), NOW) == ToQueue("sales", 0, 30, resume="sales-line/bye")  # the new flow's name
    assert run.current_flow == "sales-line" and run.flow_name == "main"
    assert run.path == ["main/welcome", "main/to_sales", "sales-line/menu", "pressed:1", "sales-line/wait"]


def test_start_node_resumes_a_flow_where_it_was():
    run = FlowRun(flow_set(MAIN, SALES), "sales-line", start_node="bye")
    assert run.start(NOW) == Hangup()
    assert run.send(Done(), NOW) == Finished("hangup")
    assert run.path == ["sales-line/bye"]


def test_path_of_the_levels_fixture_is_as_documented():
    flow, problems = read_flow_file(REPO / "tests" / "fixtures" / "flows" / "levels.yaml")
    assert problems == []
    run = FlowRun(m.FlowSet({"levels": flow}), "levels")
    run.start(NOW)
    run.send(Pressed("1"), NOW)
    assert run.send(Pressed("2"), NOW) == ToQueue("sales", 0, 0, "")
    assert run.path == ["levels/top", "pressed:1", "levels/second", "pressed:2", "levels/sales"]


def test_path_of_the_hotline_is_as_documented():
    """docs/ivr-flows.md: ["hotline/welcome", "hotline/hours", "open", "hotline/vip_check", "hotline/main_menu", ...]."""
    flow, problems = read_flow_file(REPO / "ivr_flows" / "hotline.yaml")
    assert problems == []
    run = FlowRun(m.FlowSet({"hotline": flow}), "hotline", caller_id="5551230001", did="8005550100")
    assert isinstance(run.start(NOW), Play)
    assert isinstance(run.send(Pressed(""), NOW), Play)  # the menu prompt (hours: always open)
    action = run.send(Pressed("2"), NOW)
    assert isinstance(action, ToQueue) and action.queue == "support"
    assert run.path == ["hotline/welcome", "hotline/hours", "open", "hotline/vip_check", "hotline/main_menu",
                        "pressed:2", "hotline/support"]


def test_a_vip_customer_skips_the_menu_and_queues_with_priority():
    flow, _ = read_flow_file(REPO / "ivr_flows" / "hotline.yaml")
    run = FlowRun(m.FlowSet({"hotline": flow}), "hotline", caller_id="5551230001", did="8005550100",
                  customer={"known": True, "tags": ["VIP"], "open_tickets": 1})
    assert isinstance(run.start(NOW), Play)
    action = run.send(Pressed(""), NOW)
    assert action == ToQueue("support", 10, 300, "hotline/voicemail")


def test_customer_facts_in_branch_rules():
    flows = flow_set("""\
name: c
entry: route
nodes:
  route:
    branch:
      - {if: customer.known, equals: false, goto: stranger}
      - {if: customer.open_tickets, above: 0, goto: follow_up}
      - {if: customer.tags, contains: gold, goto: gold}
    else: plain
  stranger: {hangup: beep}
  follow_up: {hangup: beep}
  gold: {hangup: beep}
  plain: {hangup: beep}
""")
    for customer, node in (({}, "plain"), ({"known": False, "tags": [], "open_tickets": 0}, "stranger"),
                           ({"known": True, "tags": [], "open_tickets": 2}, "follow_up"),
                           ({"known": True, "tags": ["Gold"], "open_tickets": 0}, "gold"),
                           ({"known": True, "tags": ["silver"], "open_tickets": 0}, "plain")):
        run = FlowRun(flows, "c", customer=customer)
        run.start(NOW)
        assert run.path[-1] == f"c/{node}", (customer, run.path)


def test_an_unsynthesized_say_prompt_plays_an_empty_name():
    """Without FlowSet.say_files (no synth) a say: item becomes ("file", "") - the runner's problem."""
    run = FlowRun(flow_set('name: s\nentry: a\nnodes:\n  a:\n    hangup: {say: "Bye."}\n'), "s")
    assert run.start(NOW) == Hangup((("file", ""),))


def test_a_loop_without_input_stops_after_max_steps():
    """The validator refuses such flows; the stepper still does not spin forever."""
    fs = flow_set("""\
        name: spin
        entry: a
        nodes:
          a:
            branch: [{if: caller_id, equals: "x", goto: a}]
            else: b
          b:
            hours: {always: true}
            open: a
            closed: a
    """)
    run = FlowRun(fs, "spin")
    assert run.start(NOW) == Hangup()
    assert run.send(Done(), NOW) == Finished("too many steps")


def test_send_before_start_is_a_programming_error():
    with pytest.raises(AssertionError):
        run_of(MENU).send(Pressed("1"), NOW)


# -- snapshot ------------------------------------------------------------------------------------

def test_a_run_keeps_its_flow_set_when_a_new_one_is_loaded(tmp_path):
    (tmp_path / "t.yaml").write_text(textwrap.dedent(MENU))
    ctx = Context(queues=frozenset({"support", "sales"}), agents=frozenset({"agent1"}))
    library = FlowLibrary(tmp_path, ctx)
    assert library.reload()
    old = library.current
    run = FlowRun(old, "t")
    run.start(NOW)

    (tmp_path / "t.yaml").write_text(textwrap.dedent(MENU).replace("{1: sales,", "{1: support,"))
    assert library.reload() and library.current is not old
    assert library.current.version == old.version + 1

    assert run.send(Pressed("1"), NOW) == ToQueue("sales", 3, 60, "t/message")  # still the old version
    assert run.flows is old
    new_run = FlowRun(library.current, "t")
    new_run.start(NOW)
    assert new_run.send(Pressed("1"), NOW) == ToQueue("support", 0, 0, "")


def test_a_refused_reload_keeps_the_running_version(tmp_path):
    (tmp_path / "t.yaml").write_text(textwrap.dedent(MENU))
    library = FlowLibrary(tmp_path, Context(queues=frozenset({"support", "sales"}), agents=frozenset({"agent1"})))
    library.reload()
    good = library.current
    (tmp_path / "t.yaml").write_text(textwrap.dedent(MENU).replace("queue: support", "queue: billing"))
    assert not library.reload()
    assert library.current is good and [e.error_id for e in library.errors] == ["unknown-queue"]
    assert library.describe()["errors"][0].startswith(f"{tmp_path / 't.yaml'}:")


def test_unknown_customer_facts_and_non_numbers_for_above_are_refused():
    for rule, words in (("{if: customer.balance, equals: '1', goto: a}", "no customer fact 'customer.balance'"),
                        ("{if: customer.open_tickets, above: many, goto: a}", "'above' needs a whole number")):
        text = f"name: c\nentry: r\nnodes:\n  r:\n    branch:\n      - {rule}\n    else: a\n  a: {{hangup: beep}}\n"
        flow, problems = parse_flow(text, "c.yaml", "c")
        assert [p.error_id for p in problems] == ["bad-value"], problems  # the node is broken, the flow refused
        assert words in str(problems[0]) and problems[0].line == 6
