"""What every use case needs: settings, a unit of work, the password context, the credential cache."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # A throwaway hash verified for unknown usernames so that they cost as much as a wrong password.
    dummy_hash: str = field(default="")


def build_hub(settings: Settings | None = None) -> Hub:
    settings = settings or get_settings()
    crypt = crypt_context(settings)
    return Hub(
        settings=settings,
        uow=UnitOfWork(engine_for(settings.database_url)),
        crypt=crypt,
        credentials=CredentialCache(settings.credential_cache_seconds),
        dummy_hash=crypt.hash("eproc-timing-equaliser"),
    )
