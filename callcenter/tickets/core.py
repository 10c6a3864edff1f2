"""The ticket core: one store and its aggregates, built together so they share one database, one
writer queue (Store.writing) and one merge lock (Customers).

    core = TicketCore.build(url, policy)
    await core.open()
    await core.customers.file(12)
    await core.calls.step("1700000000.1", step="started", caller_id="+14155552671")
    await core.close()
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from callcenter.tickets.accounts import Accounts
from callcenter.tickets.call_writes import CallWrites
from callcenter.tickets.chat_messages import ChatMessages
from callcenter.tickets.chats import Chats
from callcenter.tickets.customers import Customers
from callcenter.tickets.interactions import Calls
from callcenter.tickets.jobs import TranscriptionJobs
from callcenter.tickets.messages import Messages
from callcenter.tickets.retention import Retention
from callcenter.tickets.routing_state import RoutingState
from callcenter.tickets.rows import StoreDescription
from callcenter.tickets.search import Search
from callcenter.tickets.store import Store, StorePolicy
from callcenter.tickets.known_phones import KnownPhones
from callcenter.tickets.tickets import Tickets
from callcenter.tickets.work import WorkItems


@dataclass(frozen=True)
class TicketCore:
    """The store (database and unit of work) and one object per aggregate, all on that store."""

    store: Store
    customers: Customers  # customers, their file (screen pop), the IVR's facts, merges
    tickets: Tickets  # tickets: read, list, change, the call-back flag
    calls: Calls  # calls written step by step, and read back
    call_writes: CallWrites  # calls written in batches (the call log's)
    jobs: TranscriptionJobs  # voicemail transcription jobs
    retention: Retention  # purging old recordings, transcripts and message bodies
    routing_state: RoutingState  # queue callback requests and the routing state's document
    messages: Messages  # SMS and email
    chats: Chats  # web chats
    accounts: Accounts  # web users and sessions, wrap-up codes, handled voicemails
    phones: KnownPhones  # the phone numbers it holds, in memory: the IVR's caller lookup
    work: WorkItems  # the tickets that need a person (the inbox's items)
    search: Search  # finding tickets by number, phone, email, name, words (the agents' inbox)

    @classmethod
    def build(cls, url: str, policy: StorePolicy = StorePolicy(),
              clock: Callable[[], float] = time.time) -> TicketCore:
        """The core of the store at `url` (not connected yet: `open()` checks it). `clock` gives
        epoch seconds. Errors: StoreError `bad-store-url`, `store-unavailable` (a SQLite file's
        folder that does not exist)."""
        return cls.of(Store(url, policy, clock))

    @classmethod
    def of(cls, store: Store) -> TicketCore:
        """The aggregates of `store`."""
        customers, tickets = Customers(store), Tickets(store)
        return cls(store=store, customers=customers, tickets=tickets, calls=Calls(store), call_writes=CallWrites(store),
                   jobs=TranscriptionJobs(store), retention=Retention(store), routing_state=RoutingState(store),
                   messages=Messages(store, tickets), chats=Chats(store, customers, ChatMessages(store)),
                   accounts=Accounts(store),
                   phones=KnownPhones(customers, lambda: store.policy.default_region), work=WorkItems(store),
                   search=Search(store))

    async def open(self) -> None:
        """Check the store is reachable and migrated. Errors: StoreError `store-unavailable`,
        `store-not-migrated`."""
        await self.store.open()

    async def close(self) -> None:
        """Close the store's connections."""
        await self.store.close()

    def describe(self) -> StoreDescription:
        """For `status`: the store's URL (password hidden), writes, and a problem seen from outside."""
        return self.store.describe()
