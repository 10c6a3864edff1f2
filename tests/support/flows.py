"""What the flow tests validate against: a fixed context (queues, agents, extensions, the sounds
that exist) and every problem id the loader, validator and load_flows can report."""

from callcenter.ivr.validate import Context

KNOWN_SOUNDS = {"hello-world", "beep", "silence/1", "vm-goodbye", "digits/1", "demo-congrats"}


def fake_sound_exists(name: str, language: str) -> bool:
    return name in KNOWN_SOUNDS


CTX = Context(queues=frozenset({"support", "sales"}), agents=frozenset({"agent1"}), extensions=frozenset({"1001"}),
              sound_exists=fake_sound_exists, can_dial_out=False)

# Every id the loader (with located_yaml and schedule), the validator and load_flows can report.
ERROR_IDS = {
    "yaml-syntax", "duplicate-node", "duplicate-digit", "duplicate-key", "unknown-key", "wrong-type", "missing-key",
    "unknown-kind", "bad-digit", "bad-value", "bad-range", "bad-pattern", "missing-exit", "unknown-target",
    "unknown-flow", "unknown-queue", "unknown-agent", "unknown-extension", "unknown-sound", "no-outbound-trunk",
    "no-way-out", "input-free-loop", "duplicate-flow", "impossible-schedule", "bad-time", "bad-day", "bad-date",
    "unknown-timezone", "missing-flow", "bad-encoding", "too-large", "slow-pattern",
}
WARNING_IDS = {"unreachable-node", "never-open", "unset-variable"}
# Reported outside the fixtures' reach: tested on their own below.
OTHER_IDS = {"unreadable", "tts-failed"}
