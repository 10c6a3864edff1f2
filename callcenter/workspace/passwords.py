"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106's second recommended option,
64 MiB memory, 3 passes; ~50 ms here). Generated passwords come from `secrets`."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MAX_PASSWORD = 1024  # characters: a longer one is refused before hashing (hashing cost is bounded)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """True when `password` matches; never raises for a wrong or damaged hash."""
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate() -> str:
    """A new password: 16 URL-safe characters (96 bits), easy to paste."""
    return secrets.token_urlsafe(12)


DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # verified against for unknown names: same cost, same answer
