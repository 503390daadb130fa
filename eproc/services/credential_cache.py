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
from collections.abc import Callable

# Only a keyed digest of the password is held, never the password, and the key never leaves this
# process's memory, so a digest is worthless anywhere else. Someone who can read the worker's memory
# gets key and digests together, i.e. a fast hash of recently used passwords (weaker than argon2):
# that is the price of the cache, and why entries live only for the TTL.
_PROCESS_KEY = secrets.token_bytes(32)


class CredentialCache:
    def __init__(
        self, ttl_seconds: float, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[int, int, bytes], tuple[float, str]] = OrderedDict()
        # The account and credential version each (username, password) digest was last verified
        # for: what recall() starts from, having no account row read (see authentication.remembered).
        self._latest: dict[bytes, tuple[int, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(username: str, password: str) -> bytes:
        return hmac.new(_PROCESS_KEY, f"{username}\x00{password}".encode(), hashlib.sha256).digest()

    def lookup(self, account_id: int, version: int, username: str, password: str) -> str | None:
        """The slot ('current' or 'previous') this password verified against, if remembered."""
        if self._ttl <= 0:
            return None
        return self._slot((account_id, version, self._digest(username, password)))

    def _slot(self, key: tuple[int, int, bytes]) -> str | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, slot = entry
            if expires <= now:
                del self._entries[key]
                return None
            return slot

    def recall(self, username: str, password: str) -> tuple[int, int, str] | None:
        """(account id, credential version, slot) of the last verification of this username and
        password, if still remembered: a claim about the account as it was, to be checked against
        it as it is now by whoever acts on it."""
        if self._ttl <= 0:
            return None
        digest = self._digest(username, password)
        with self._lock:
            latest = self._latest.get(digest)
        if latest is None:
            return None
        account_id, version = latest
        slot = self._slot((account_id, version, digest))  # the digest once per call: it is an HMAC
        return None if slot is None else (account_id, version, slot)

    def remember(self, account_id: int, version: int, username: str, password: str, slot: str) -> None:
        if self._ttl <= 0:
            return
        digest = self._digest(username, password)
        key = (account_id, version, digest)
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, slot)
            self._entries.move_to_end(key)
            self._latest[digest] = (account_id, version)
            while len(self._entries) > self._max:
                _account, _version, gone = self._entries.popitem(last=False)[0]
                if self._latest.get(gone) == (_account, _version):
                    del self._latest[gone]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._latest.clear()
