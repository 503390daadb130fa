"""What every use case needs: settings, a unit of work, the password context, the credential cache."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from passlib.context import CryptContext

from eproc.config import Settings, get_settings
from eproc.services.credential_cache import CredentialCache
from eproc.services.passwords import crypt_context
from eproc.store.db import UnitOfWork, engine_for


@dataclass
class Hub:
    settings: Settings
    uow: UnitOfWork
    crypt: CryptContext
    credentials: CredentialCache

    @cached_property
    def dummy_hash(self) -> str:
        """A throwaway hash verified for unknown usernames, so they cost as much as a wrong password.

        Made on first use, not at start-up: an argon2 hash costs ~150 ms, which every admin command
        would otherwise pay for nothing.
        """
        return self.crypt.hash("eproc-timing-equaliser")


def build_hub(settings: Settings | None = None) -> Hub:
    settings = settings or get_settings()
    return Hub(
        settings=settings,
        uow=UnitOfWork(engine_for(settings.database_url)),
        crypt=crypt_context(settings),
        credentials=CredentialCache(settings.credential_cache_seconds),
    )
