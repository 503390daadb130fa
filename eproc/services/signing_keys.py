"""The keys API tokens are signed and verified with: configured, or kept in the database.

Kept in the database (made on first use) so that every worker and machine sharing it accepts every
token with no set-up. ``EPROC_API_SIGNING_KEY`` (comma-separated secrets, the first signs) replaces
them. Rotation adds a key that signs from then on; older keys still verify until dropped.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from eproc.services.clock import Clock
from eproc.services.errors import InvalidInput
from eproc.store.db import Store
from eproc.store.models import SigningKey

# How long a worker trusts its copy of the keys; an unknown key id reloads at once.
KEY_CACHE_SECONDS = 60.0


class SigningKeys:
    """The keys tokens are signed and verified with: configured, or kept in the database."""

    def __init__(self, configured: str, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._configured = [secret.strip() for secret in configured.split(",") if secret.strip()]
        self._configured_by_kid = {self.kid_of(secret): secret for secret in self._configured}
        self._lock = threading.Lock()
        self._cached: dict[str, str] = {}
        self._current: str | None = None
        self._loaded_at = float("-inf")

    @staticmethod
    def kid_of(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()[:16]

    def current(self) -> tuple[str, str]:
        """(kid, secret) of the key new tokens are signed with; made and stored on first use."""
        if self._configured:
            secret = self._configured[0]
            return self.kid_of(secret), secret
        self._load(force=self._current is None)
        if self._current is None:
            self.rotate()
        assert self._current is not None
        return self._current, self._cached[self._current]

    def secret_for(self, kid: str) -> str | None:
        if self._configured:
            return self._configured_by_kid.get(kid)
        self._load()
        if kid not in self._cached:
            self._load(force=True)  # a key made by another worker or machine since
        return self._cached.get(kid)

    def rotate(self) -> str:
        """Add a new key that signs from now on; the older ones still verify. Returns its kid."""
        if self._configured:
            raise InvalidInput("the signing keys come from EPROC_API_SIGNING_KEY: rotate them there")
        secret = secrets.token_urlsafe(48)
        kid = self.kid_of(secret)
        with self._store.unit_of_work() as uow:
            uow.signing_keys.add(SigningKey(kid=kid, secret=secret, created_at=self._clock.now()))
            uow.commit()
        self._load(force=True)
        return kid

    def drop_old(self) -> int:
        """Remove every key but the current one: tokens they signed stop working."""
        kid, _secret = self.current()
        with self._store.unit_of_work() as uow:
            removed = uow.signing_keys.delete_all_but(kid)
            uow.commit()
        self._load(force=True)
        return removed

    def _load(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < KEY_CACHE_SECONDS:
                return
            with self._store.unit_of_work() as uow:
                rows = uow.signing_keys.all_newest_first()
                self._cached = {row.kid: row.secret for row in rows}
                self._current = rows[0].kid if rows else None
            self._loaded_at = time.monotonic()

