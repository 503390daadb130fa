"""A process-local cache of successful password verifications.

FMS sends the password with every call (1 + 2 x documents per import), and one argon2id verify
costs ~150 ms of CPU. A verified (account, credential version, password) triple is remembered for a
short TTL. The key carries the account's credential version, which every password change, reset,
disable and lockout bumps in the database; the account row is read on every call, so a change made
by any worker or machine makes old entries unreachable at once. Failures are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

# Only a keyed digest of the password is held, never the password: a memory dump of the cache
# does not give an offline-guessable hash either, because the key lives only in this process.
_PROCESS_KEY = secrets.token_bytes(32)


class CredentialCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 50_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[tuple[int, int, bytes], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(username: str, password: str) -> bytes:
        return hmac.new(_PROCESS_KEY, f"{username}\x00{password}".encode(), hashlib.sha256).digest()

    def lookup(self, account_id: int, version: int, username: str, password: str) -> str | None:
        """The slot ('current' or 'previous') this password verified against, if remembered."""
        if self._ttl <= 0:
            return None
        key = (account_id, version, self._digest(username, password))
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, slot = entry
            if expires <= now:
                del self._entries[key]
                return None
            return slot

    def remember(self, account_id: int, version: int, username: str, password: str, slot: str) -> None:
        if self._ttl <= 0:
            return
        key = (account_id, version, self._digest(username, password))
        with self._lock:
            self._entries[key] = (time.monotonic() + self._ttl, slot)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
