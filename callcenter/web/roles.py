"""Who may do what on the web (docs/web.md): agent < supervisor < admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")


def at_least(role: str, needed: Role) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a logged-in user (`via` "session") or the CLI's API token (`via`
    "token", an admin). `agent`: the agent this user is (their name, when it is an agent of the
    config), else None."""

    name: str
    role: Role
    agent: str | None
    via: Literal["session", "token"]
    csrf_token: str = ""

    def may(self, needed: Role) -> bool:
        return at_least(self.role, needed)

    def is_agent(self, name: str | None) -> bool:
        return self.agent is not None and self.agent == name
