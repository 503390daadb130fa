"""The composition root of the use cases: every component built from the settings it is given.

Nothing below the entry points (``cli/``, ``web.py``, ``wsgi.py``) reads the environment: they load
the settings once and hand them to :func:`build_hub`. Tests build a hub with their own settings
and, where time must pass, a :class:`~eproc.services.clock.ManualClock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

from passlib.context import CryptContext

from eproc.config import Settings
from eproc.ebis.schemas import SchemaRegistry
from eproc.services.clock import Clock, SystemClock
from eproc.services.credential_cache import CredentialCache
from eproc.services.passwords import crypt_context
from eproc.services.signing_keys import SigningKeys
from eproc.services.smart_lockout import FamiliarTouches
from eproc.services.throttle import AddressThrottle
from eproc.store.db import Store
from eproc.store.guards import DatabaseTimeouts
from eproc.store.unit_of_work import UnitOfWork


@dataclass
class Hub:
    settings: Settings
    store: Store
    crypt: CryptContext
    credentials: CredentialCache
    throttle: AddressThrottle
    schemas: SchemaRegistry
    clock: Clock
    signing_keys: SigningKeys
    familiar: FamiliarTouches

    def unit_of_work(self, *, one_statement: bool = False) -> UnitOfWork:
        return self.store.unit_of_work(one_statement=one_statement)

    def now(self) -> datetime:
        return self.clock.now()

    def warm(self) -> None:
        """Do at start-up what would otherwise slow the first call: compile the schemas."""
        self.schemas.warm()

    @cached_property
    def dummy_hash(self) -> str:
        """A throwaway hash verified for unknown usernames, so they cost as much as a wrong password.

        Made on first use, not at start-up: an argon2 hash costs ~150 ms, which every admin command
        would otherwise pay for nothing.
        """
        return str(self.crypt.hash("eproc-timing-equaliser"))

    @cached_property
    def failure_key(self) -> bytes:
        """The key of the hashes that recognise a repeated wrong password (never stored as is).

        ``EPROC_LOGIN_FAILURE_KEY`` when set, else derived from the API signing key every worker
        shares through the database (made on first use: only a failed login needs it).
        """
        import hashlib
        import hmac

        configured = self.settings.login_failure_key
        secret = configured or self.signing_keys.current()[1]
        return hmac.new(secret.encode(), b"eproc login failure digests", hashlib.sha256).digest()


def build_hub(settings: Settings, *, clock: Clock | None = None) -> Hub:
    timeouts = DatabaseTimeouts(settings.database_connect_timeout_seconds, settings.database_statement_timeout_seconds)
    store = Store.at(settings.database_url, timeouts)
    clock = clock or SystemClock()
    return Hub(
        settings=settings,
        store=store,
        crypt=crypt_context(settings),
        credentials=CredentialCache(settings.credential_cache_seconds),
        throttle=AddressThrottle(
            store,
            settings.login_address_failure_limit,
            settings.login_address_window_seconds,
            settings.login_lockout_seconds,
            settings.login_lockout_max_seconds,
        ),
        schemas=SchemaRegistry(Path(settings.schema_dir) / "ebis"),
        clock=clock,
        signing_keys=SigningKeys(settings.api_signing_key, store, clock),
        familiar=FamiliarTouches(settings.login_familiar_touch_seconds),
    )
