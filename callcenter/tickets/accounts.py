"""Web users and their sessions, kept in the store (callcenter/web/ decides, this keeps).

A session row holds the sha256 of the cookie's random token (never the token), the user and the
CSRF token; `last_seen` is refreshed at most once a minute (an idle session expires). Errors:
NotFound `unknown-user`, `unknown-call`, `unknown-voicemail`; Conflict `user-exists`; Refused
`bad-user`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from sqlalchemy import delete, func, select, update

from callcenter.core.errors import Conflict, NotFound, Refused
from callcenter.tickets import db
from callcenter.tickets.inputs import is_id
from callcenter.tickets.schema import Chat, Interaction, Ticket, TicketChange, User, WebSession
from callcenter.tickets.rows import InteractionRow, interaction_row
from callcenter.tickets.store import Store
from callcenter.tickets.runner import on_store_loop

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # as agent names in callcenter.yaml
TOUCH_EVERY = 60.0  # seconds between writes of a session's last_seen


def token_hash(token: str) -> str:
    """The sha256 (hex) of a session token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user_dict(u: User) -> dict[str, Any]:
    return {"name": u.name, "role": u.role, "disabled": u.disabled, "created_at": u.created_at,
            "updated_at": u.updated_at}


@on_store_loop
class Accounts:
    """Web users and sessions of one store, and what agents record at the end of a contact."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- users --------------------------------------------------------------------------------

    async def users(self) -> list[dict[str, Any]]:
        """Every user (name, role, disabled, created_at, updated_at), by name; no password hash."""
        async with self.store.session() as s:
            return [_user_dict(u) for u in (await s.execute(select(User).order_by(User.name))).scalars()]

    async def user(self, name: str) -> dict[str, Any] | None:
        """The user with its password hash (for logging in), or None."""
        async with self.store.session() as s:
            u = await s.get(User, name) if isinstance(name, str) and NAME.fullmatch(name) else None
            return None if u is None else {**_user_dict(u), "password_hash": u.password_hash}

    async def add_user(self, name: str, role: str, password_hash: str) -> dict[str, Any]:
        """A new user. Errors: Refused `bad-user` (not a name), Conflict `user-exists`."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise Refused("bad-user", f"{str(name)[:40]!r} is not a user name (lower-case letters, digits, "
                          "'_', '.', '-'; up to 64)")
        now = self.store.clock()
        async with self.store.writing() as s:
            if await s.get(User, name) is not None:
                raise Conflict("user-exists", f"user {name!r} exists")
            user = User(name=name, role=role, password_hash=password_hash, disabled=False, created_at=now,
                        updated_at=now)
            s.add(user)
            await s.flush()
            return _user_dict(user)

    async def set_user(self, name: str, *, role: str | None = None, password_hash: str | None = None,
                       disabled: bool | None = None) -> dict[str, Any]:
        """Change a user; a new password or a disabled account ends their sessions. Errors: NotFound
        `unknown-user`."""
        async with self.store.writing() as s:
            user = await s.get(User, name) if NAME.fullmatch(name) else None
            if user is None:
                raise NotFound("unknown-user", f"no user {name[:64]!r}")
            if role is not None:
                user.role = role
            if password_hash is not None:
                user.password_hash = password_hash
            if disabled is not None:
                user.disabled = disabled
            user.updated_at = self.store.clock()
            if password_hash is not None or disabled:
                await s.execute(delete(WebSession).where(WebSession.user == name))
            return _user_dict(user)

    async def remove_user(self, name: str) -> None:
        """Delete a user and their sessions. Errors: NotFound `unknown-user`."""
        async with self.store.writing() as s:
            user = await s.get(User, name) if NAME.fullmatch(name) else None
            if user is None:
                raise NotFound("unknown-user", f"no user {name[:64]!r}")
            await s.execute(delete(WebSession).where(WebSession.user == name))
            await s.delete(user)

    # -- sessions -----------------------------------------------------------------------------

    async def new_session(self, user: str) -> tuple[str, str]:
        """(cookie token, CSRF token) of a new session."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.store.clock()
        async with self.store.writing() as s:
            s.add(WebSession(token_hash=token_hash(token), user=user, csrf_token=csrf, created_at=now, last_seen=now))
        return token, csrf

    async def session(self, token: str, idle_seconds: float) -> dict[str, Any] | None:
        """The session's user {name, role, csrf_token}, or None (unknown, expired, user disabled).
        An expired session is deleted."""
        if not token or len(token) > 100:
            return None
        now = self.store.clock()
        key = token_hash(token)
        async with self.store.session() as s:
            row = (await s.execute(select(WebSession, User).join(User, User.name == WebSession.user)
                                   .where(WebSession.token_hash == key))).first()
        if row is None:
            return None
        session, user = row
        if user.disabled or now - session.last_seen > idle_seconds:
            await self.end_session(token)
            return None
        if now - session.last_seen > TOUCH_EVERY:
            async with self.store.writing() as s:
                await s.execute(update(WebSession).where(WebSession.token_hash == key).values(last_seen=now))
        return {"name": user.name, "role": user.role, "csrf_token": session.csrf_token}

    async def end_session(self, token: str) -> None:
        """Log out: the session of `token` is deleted (nothing if there is none)."""
        async with self.store.writing() as s:
            await s.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))

    # -- what agents do at the end of a contact -----------------------------------------------

    async def wrapup(self, call_id: str, code: str, actor: str) -> InteractionRow:
        """The call's wrap-up code, also written to its ticket's history. Errors: `unknown-call`."""
        async with self.store.writing() as s:
            row = (await s.execute(select(Interaction).where(Interaction.channel == "voice",
                                                             Interaction.call_id == call_id))).scalars().first()
            if row is None:
                raise NotFound("unknown-call", f"no call {call_id[:64]!r} in the store")
            old, row.wrapup_code = row.wrapup_code, code
            s.add(TicketChange(ticket_id=row.ticket_id, at=self.store.clock(), actor=actor, field="wrapup",
                               old=old, new=code))
            await s.flush()
            return interaction_row(row)

    async def interaction(self, interaction_id: int) -> InteractionRow | None:
        """An interaction by id, or None."""
        async with self.store.session() as s:
            row = await s.get(Interaction, interaction_id) if is_id(interaction_id) else None
            return None if row is None else interaction_row(row)

    async def voicemail_handled(self, interaction_id: int, actor: str) -> InteractionRow:
        """Mark a voicemail handled (its ticket's call-back flag is cleared, in the history). Errors:
        `unknown-voicemail`."""
        return await db.retried(lambda: self._voicemail_handled(interaction_id, actor))

    async def _voicemail_handled(self, interaction_id: int, actor: str) -> InteractionRow:
        now = self.store.clock()
        async with self.store.writing() as s:
            vm = await s.get(Interaction, interaction_id) if is_id(interaction_id) else None
            if vm is None or vm.channel != "voicemail":
                raise NotFound("unknown-voicemail", f"no voicemail #{interaction_id}")
            vm.handled_at, vm.handled_by = now, actor
            ticket = await s.get(Ticket, vm.ticket_id)
            if ticket is not None and ticket.callback_requested:
                ticket.callback_requested, ticket.updated_at = False, now
                s.add(TicketChange(ticket_id=ticket.id, at=now, actor=actor, field="callback_requested",
                                   old="voicemail", new=f"voicemail #{vm.id} handled"))
            await s.flush()
            return interaction_row(vm)

    async def today(self, since: float) -> dict[str, int]:
        """Contacts per channel since `since` (epoch seconds): the wallboard's volume. A chat counts
        once (its chats row), not once per message."""
        async with self.store.session() as s:
            rows = (await s.execute(select(Interaction.channel, func.count()).where(
                Interaction.started_at >= since, Interaction.channel != "chat").group_by(Interaction.channel))).all()
            chats = (await s.execute(select(func.count()).select_from(Chat).where(Chat.started_at >= since))).scalar()
        counts = {"voice": 0, "voicemail": 0, "chat": int(chats or 0), "sms": 0, "email": 0}
        counts.update({channel: int(n) for channel, n in rows})
        return counts
