"""AsyncAGI over the AMI connection: send a command to a parked channel, get its result.

Asterisk >= 12 answers `Action: AGI` at once ("Added AGI command to queue") and reports the
command's real result later as an `AsyncAGIExec` event whose `CommandId` echoes ours. panoramisk's
`send_agi_command()` waits for the Asterisk 11 format and never resolves, so we match results
ourselves. A caller who hangs up mid-command gets `result=-1` for the running command and nothing
at all for the queued ones: those are failed when `AsyncAGIEnd` / `Hangup` arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass
from typing import Mapping

from callcenter.ami import actions
from callcenter.ami.client import AmiError
from callcenter.ami.port import AmiPort
from callcenter.core.errors import CallcenterError

_ids = itertools.count(1)
_RESULT = re.compile(r"^(?P<code>\d{3})[ -](?:result=(?P<result>\S*))?\s*(?P<rest>.*)$")


class AgiHangup(CallcenterError):
    def __init__(self, channel: str) -> None:
        super().__init__("caller-hung-up", f"the caller on {channel} hung up", {"channel": channel})


class AgiCommandFailed(CallcenterError):
    def __init__(self, command: str, line: str) -> None:
        super().__init__("agi-command-failed", f"AGI command '{command}' failed: {line}",
                         {"command": command, "result": line})


@dataclass(frozen=True)
class AgiResult:
    """A parsed AGI result line: '200 result=1 (timeout)' → code 200, result '1', data '(timeout)'."""

    code: int
    result: str
    data: str

    @property
    def timed_out(self) -> bool:
        return "(timeout)" in self.data


def parse_agi_result(line: str) -> AgiResult:
    m = _RESULT.match(line.strip())
    if not m:
        return AgiResult(0, "", line.strip())
    return AgiResult(int(m["code"]), m["result"] or "", m["rest"].strip())


def quote_arg(value: str) -> str:
    """Quote one AGI argument (AGI splits on spaces; quotes and backslashes are escaped).
    Control characters are refused (InvalidText, `invalid-text`): the command travels in one AMI header."""
    actions.text(value, "AGI argument", actions.MAX_AGI_COMMAND)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """One channel parked in AGI(agi:async), driven by the controller."""

    def __init__(self, client: AmiPort, channel: str, uniqueid: str, linkedid: str,
                 env: Mapping[str, str]) -> None:
        self.client = client
        self.channel, self.uniqueid, self.linkedid = channel, uniqueid, linkedid
        self.env = dict(env)
        self.ended = False
        self.released = False  # handed back to the dialplan (or about to be)
        self._pending: dict[str, tuple[str, asyncio.Future[AgiResult]]] = {}

    async def command(self, command: str, *, timeout: float = 30.0, check: bool = True) -> AgiResult:
        """Run one AGI command and return its result.

        AgiHangup if the caller is gone. With `check`, a failed command (code other than 200, or
        result -1: a missing file, or the caller hanging up under it) raises AgiCommandFailed;
        without, the result comes back as it is (RECORD FILE keeps the message on a hangup)."""
        if self.ended:
            raise AgiHangup(self.channel)
        command_id = f"cc-agi-{next(_ids)}"
        action = actions.agi(self.channel, command, command_id)  # checked before anything waits
        future: asyncio.Future[AgiResult] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = (command, future)
        try:
            await self.client.send(action)
            async with asyncio.timeout(timeout):  # (not wait_for: see AmiClient._send)
                result = await future
        except AmiError:
            if self.ended:
                raise AgiHangup(self.channel) from None
            raise
        finally:
            self._pending.pop(command_id, None)
        if check and (result.code != 200 or result.result == "-1"):
            raise AgiCommandFailed(command, f"{result.code} result={result.result} {result.data}".strip())
        return result

    async def release(self) -> None:
        """Return the channel to the dialplan (ASYNCAGI BREAK). No result comes back for it."""
        if self.ended:
            return
        self.released = True
        await self.client.send(actions.agi(self.channel, "ASYNCAGI BREAK", f"cc-agi-{next(_ids)}"))

    def on_executed(self, command_id: str, line: str) -> None:
        entry = self._pending.get(command_id)
        if entry and not entry[1].done():
            entry[1].set_result(parse_agi_result(line))

    def end(self) -> None:
        """The channel left AGI (hung up, or went back to the dialplan): fail what is pending."""
        self.ended = True
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(AgiHangup(self.channel))
