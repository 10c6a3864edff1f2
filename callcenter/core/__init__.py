"""The kernel every feature imports and that imports no feature: domain events, the bus, the
event pump, errors with their kinds, the one untrusted-text policy, the config loader, located
YAML, credentials and timers."""
