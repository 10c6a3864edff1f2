"""IVR: flows written in YAML, run node by node for each caller over AsyncAGI.

model.py (the flow language as frozen dataclasses) · loader.py (YAML → model, located problems) ·
validate.py (graph checks: reachability, exits, loops without input) · schedule.py (business
hours, holidays) · stepper.py (pure: a caller's run, result in → next action out) · prompts.py
(`say:` text → audio at load) · flows.py (the live, hot-reloaded set) · runner.py (actions on a
real channel) · sessions.py (the bus subscriber that drives every parked caller) · graph.py
(drawings for admins). docs/ivr-flows.md is the language.
"""
