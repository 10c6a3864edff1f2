"""The IVR's wiring: the callers' flow sessions (AsyncAGI), the flow library and its watcher,
`/api/flows`; the `flows` part of the status and the calls in the controller's hands."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.asterisk.install import AsteriskInstall
from callcenter.calls.tracker import CallTracker
from callcenter.core.feature import Feature, Route, Task
from callcenter.core.tasks import guarded
from callcenter.deps import Deps
from callcenter.ivr import sessions as ivr_sessions
from callcenter.asterisk.render import InstanceDirs
from callcenter.config import Config
from callcenter.ivr.flows import FlowLibrary, flow_context
from callcenter.ivr.prompts import PromptSynth
from callcenter.ivr.routes import FlowRoutes
from callcenter.ivr.runner import VoicemailBox
from callcenter.ivr.sessions import IvrSessions
from callcenter.routing.dialer import CallbackDialer


class IvrFeature(Feature):
    name = "ivr"

    def __init__(self, deps: Deps, tracker: CallTracker, dialer: CallbackDialer, *, flows: FlowLibrary | None = None,
                 mailbox: VoicemailBox | None = None, install: AsteriskInstall | None = None) -> None:
        """`flows`: the loaded flow library (None: every DID takes its greeting and queue);
        `mailbox`: where callers' voicemails go; `install`: the Asterisk whose sounds flows are
        checked against at a live reload."""
        config = deps.config()
        self.config, self.flows, self.install = deps.config, flows, install
        self.sessions = IvrSessions(config, deps.ami, deps.bus, tracker, flows=flows,
                                    mailbox=mailbox or VoicemailBox(config.runtime_dir / "voicemail", str),
                                    callbacks=dialer, clock=deps.clock,
                                    customer_facts=deps.tickets.phones.facts if deps.tickets is not None else None)
        deps.bus.subscribe("ivr", self.sessions.on_event, *ivr_sessions.EVENTS)

    def routes(self) -> list[Route]:
        return FlowRoutes(self.flows).table()

    def tasks(self) -> list[Task]:
        tasks: list[Task] = [(self.sessions.run(), "ivr sessions")]
        if self.flows is not None:
            tasks.append((guarded(self.flows.watch, "flow watcher"), "flows"))
        return tasks

    async def describe(self) -> dict[str, Any]:
        flows = self.flows
        return {"calls": {"in_controller": len(self.sessions.channels), "in_flows": len(self.sessions.sessions)},
                "controller": {"call_task_failures": self.sessions.failures},
                "flows": ({"version": flows.current.version, "names": sorted(flows.current.flows),
                           "errors": [str(p) for p in flows.errors]} if flows else None)}

    async def apply_config(self) -> None:
        config = self.config()
        self.sessions.apply_config(config)
        if self.flows is not None:
            self.flows.context, self.flows.required = flow_context(config, self.install)
            await asyncio.to_thread(self.flows.reload)


def flow_library(config: Config, install: AsteriskInstall, dirs: InstanceDirs) -> FlowLibrary:
    """The flows of config.ivr_flows, their prompts spoken into the instance's folder."""
    context, required = flow_context(config, install)
    return FlowLibrary(config.ivr_flows, context, required, PromptSynth(dirs.tts, install.inner, install.uid,
                                                                         install.gid))
