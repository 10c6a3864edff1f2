"""Routing's durable state at start: the callback requests and the memberships and pauses the
store keeps (one time, the JSON files kept before the store existed are imported and renamed
*.imported; a broken one is set aside as *.broken and said, never dropped silently)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from callcenter.routing.callbacks import CallbackRequest
from callcenter.routing.callbacks import read_file as read_callbacks_file
from callcenter.routing.queues import DOCUMENT as ROUTING_DOCUMENT
from callcenter.tickets.core import TicketCore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRouting:
    """What the store holds for routing: open and settled callback requests, and the routing
    state's text (None: the store has none yet; QueueControl checks it)."""

    callback_requests: tuple[CallbackRequest, ...] = ()
    document: str | None = None


async def stored_state(core: TicketCore, runtime_dir: Path) -> StoredRouting:
    """Read routing's state from the store, importing the old files of `runtime_dir` first."""
    await import_callbacks(core, runtime_dir / "callbacks.json")
    requests = tuple(CallbackRequest(**row) for row in await core.routing_state.callback_requests())
    document = await import_routing(core, runtime_dir / "routing.json")
    return StoredRouting(requests, document)


async def import_callbacks(core: TicketCore, path: Path) -> int:
    """One time: the requests of a callbacks.json go into the store, and the file is renamed
    *.imported. Returns how many."""
    if not path.exists():
        return 0
    try:
        requests = read_callbacks_file(path)
    except (ValueError, TypeError) as exc:  # never dropped silently: set aside, said
        path.rename(path.with_name(path.name + ".broken"))
        log.error("%s is not a list of callback requests (%s); kept as %s.broken, nothing imported", path, exc,
                  path.name)
        return 0
    for request in requests:
        await core.routing_state.save_callback(dataclasses.asdict(request))
    path.rename(path.with_name(path.name + ".imported"))
    log.info("imported %d callback requests from %s into the store", len(requests), path)
    return len(requests)


async def import_routing(core: TicketCore, path: Path) -> str | None:
    """The routing state's text from the store; one time, a routing.json goes into it and the file
    is renamed *.imported."""
    text = await core.routing_state.document(ROUTING_DOCUMENT)
    if text is None and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        await core.routing_state.save_document({"id": ROUTING_DOCUMENT, "body": text})
        path.rename(path.with_name(path.name + ".imported"))
        log.info("imported the routing state from %s into the store", path)
    return text
