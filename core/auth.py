"""Admin access: one shared admin password, kept only as a salted PBKDF2 hash.

`DOCENT_ADMIN_PASSWORD_HASH` holds a hash made by `python -m core hash-password`; for a
quick start `DOCENT_ADMIN_PASSWORD` may hold the password itself, which is hashed on
first use and never kept, logged or shown. Comparison is constant-time, and every failed
try makes the next one wait longer (counted per server process, so opening new browser
sessions does not reset it). With neither variable set, Docent runs in single-user local
mode: everyone is admin, and the admin pages say so.

A signed-in browser session holds a random token that only this process issued: a
client cannot forge it by setting session state, and it dies with the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from functools import lru_cache

ITERATIONS = 200_000
MAX_DELAY_S = 8.0
SCHEME = "pbkdf2_sha256"


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`pbkdf2_sha256$iterations$salt$digest` (base64), the shape Django uses."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "$".join([SCHEME, str(iterations), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, iterations, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(candidate, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


class AdminGate:
    """Checks the admin password and issues session tokens."""

    def __init__(self, password_hash: str | None, base_delay_s: float = 0.5) -> None:
        self.password_hash = password_hash
        self.base_delay_s = base_delay_s
        self.failures = 0
        self._tokens: set[str] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False in single-user local mode (no password configured)."""
        return self.password_hash is not None

    def failure_delay(self) -> float:
        """Seconds a failed try waits after `failures` failures in a row: 0.5, 1, 2, 4, 8, 8 ..."""
        return min(self.base_delay_s * 2 ** max(self.failures - 1, 0), MAX_DELAY_S) if self.failures else 0.0

    def sign_in(self, password: str) -> str | None:
        """A session token for the right password; None (after a growing delay) otherwise."""
        if not self.enabled:
            return self._issue()
        if verify_password(password, self.password_hash or ""):
            with self._lock:
                self.failures = 0
            return self._issue()
        with self._lock:
            self.failures += 1
            delay = self.failure_delay()
        time.sleep(delay)
        return None

    def is_admin(self, token: object) -> bool:
        if not self.enabled:
            return True
        return isinstance(token, str) and token in self._tokens

    def sign_out(self, token: object) -> None:
        with self._lock:
            self._tokens.discard(token)  # type: ignore[arg-type]

    def _issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.add(token)
        return token


@lru_cache(maxsize=4)
def _gate(password_hash: str | None, password_digest: str | None) -> AdminGate:
    return AdminGate(password_hash)


def admin_gate() -> AdminGate:
    """The process-wide gate for the configured password (one per distinct setting)."""
    password_hash = os.environ.get("DOCENT_ADMIN_PASSWORD_HASH") or None
    password = os.environ.get("DOCENT_ADMIN_PASSWORD") or None
    if password_hash is None and password is not None:
        # Cache key: a digest, so the plain password is not held by the cache; the gate
        # itself keeps a salted PBKDF2 hash made once.
        key = hashlib.sha256(password.encode("utf-8")).hexdigest()
        gate = _gate(None, key)
        if gate.password_hash is None:
            gate.password_hash = hash_password(password)
        return gate
    return _gate(password_hash, None)
