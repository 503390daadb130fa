"""Password hashing (argon2id via libpass's CryptContext) and generation."""

from __future__ import annotations

import secrets
import string

from passlib.context import CryptContext

from eproc.config import Settings

# Letters and digits only: a school's bursar types this into FMS by hand.
PASSWORD_ALPHABET = string.ascii_letters + string.digits
GENERATED_PASSWORD_LENGTH = 24


def crypt_context(settings: Settings) -> CryptContext:
    """argon2id with the configured cost; hashes made with other parameters verify and are upgraded."""
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__rounds=settings.argon2_time_cost,
        argon2__memory_cost=settings.argon2_memory_cost,
        argon2__parallelism=settings.argon2_parallelism,
    )


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    # Draw until the password has a digit and both cases, so no client-side rule can reject it.
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if (
            any(c.isdigit() for c in password)
            and any(c.islower() for c in password)
            and any(c.isupper() for c in password)
        ):
            return password
