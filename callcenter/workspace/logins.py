"""Web logins from the configuration: every agent of callcenter.yaml has one (role agent), with the
password secrets.yaml gives; agents removed from the file lose theirs; the first admin is made
once from `web_admin_password`."""

from __future__ import annotations

import asyncio

from callcenter.config import Config
from callcenter.core.credentials import Credentials
from callcenter.tickets.accounts import Accounts
from callcenter.workspace import passwords


async def sync_logins(accounts: Accounts, config: Config, creds: Credentials) -> dict[str, int]:
    """At start: every agent of the config has a login (role agent) whose password is the one in
    secrets.yaml (the hash is renewed when that file says otherwise); agents no longer in the
    config are disabled; `admin` is created once, from `web_admin_password`."""
    changed = {"created": 0, "updated": 0, "disabled": 0}
    users = {u["name"]: u for u in await accounts.users()}
    for name in config.agents:
        password = creds.web_passwords.get(name, "")
        if not password:
            continue
        existing = await accounts.user(name)
        if existing is None:
            await accounts.add_user(name, "agent", await asyncio.to_thread(passwords.hash_password, password))
            changed["created"] += 1
        elif existing["disabled"] or not await asyncio.to_thread(passwords.verify, existing["password_hash"],
                                                                 password):
            await accounts.set_user(name, password_hash=await asyncio.to_thread(passwords.hash_password, password),
                                    disabled=False)
            changed["updated"] += 1
    for name, user in users.items():
        if user["role"] == "agent" and name not in config.agents and not user["disabled"]:
            await accounts.set_user(name, disabled=True)
            changed["disabled"] += 1
    if "admin" not in users and creds.web_admin_password:
        await accounts.add_user("admin", "admin", await asyncio.to_thread(passwords.hash_password,
                                                                           creds.web_admin_password))
        changed["created"] += 1
    return changed
