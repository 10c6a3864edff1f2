"""Calls' wiring: the call tracker (fed by the pump), recordings, live call control,
`/api/calls`; the `calls` part of the status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.ami.events import ChannelHungUp, OriginateFinished
from callcenter.calls.control import CallControl
from callcenter.calls.recording import Recordings
from callcenter.calls.routes import CallsRoutes
from callcenter.calls.service import Calls
from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route
from callcenter.deps import Deps


class CallsFeature(Feature):
    name = "calls"

    def __init__(self, deps: Deps, recordings_dir: Path | None = None) -> None:
        """`recordings_dir`: where Asterisk's MixMonitor writes queue calls (None: no files)."""
        self.config = deps.config
        self.tracker = CallTracker()
        self.tracker.set_agents(deps.config().agents)
        self.recordings = Recordings(deps.ami, self.tracker, deps.config, recordings_dir)
        self.service = Calls(self.tracker, deps.tickets)
        self.control = CallControl(deps.ami, self.tracker, deps.config, deps.clock)
        deps.bus.subscribe("call control", self.control.on_event, OriginateFinished, ChannelHungUp)

    def routes(self) -> list[Route]:
        return CallsRoutes(self.service, self.recordings, self.control).table()

    async def apply_config(self) -> None:
        self.tracker.set_agents(self.config().agents)

    async def describe(self) -> dict[str, Any]:
        return {"calls": {"active": len(self.tracker.active())}}
