"""API tokens for the supplier portal: JWTs signed by the hub, revocable, with permissions and an
optional list of the accounts they are limited to (the das-events model, plus revocation).

A token is a JWT (HS256) whose ``jti`` names its row in the database. Its signature proves the hub
issued it; the row says whether it has been revoked since. The signing keys live in the database
(made on first use), so every worker and machine sharing it accepts every token without set-up;
``EPROC_API_SIGNING_KEY`` can supply them instead. Rotation adds a key that signs from then on,
while the older keys still verify the tokens they signed until they are dropped.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from eproc.services.authentication import USERNAME_PATTERN
from eproc.services.errors import AlreadyExists, EprocError, InvalidInput, NotFound
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.services.signing_keys import SigningKeys
from eproc.store.models import ApiToken

PERMISSIONS = ("StoreDocument", "ReadDocument", "ReadOrder", "ReadEvent", "ManageAccount", "ManageWebhook")
TOKEN_NAME_PATTERN = re.compile(r"[A-Za-z0-9._\-]{1,100}")
ALGORITHM = "HS256"
ISSUER = "eproc"
# A token's last use is written at most this often, so a busy portal costs no write per call.
LAST_USE_RESOLUTION = timedelta(minutes=5)


class InvalidToken(EprocError):
    """Missing, malformed, expired, revoked or not signed by this hub: all answered alike (401)."""


class MissingPermission(EprocError):
    """A valid token without the permission the call needs (403)."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"this token lacks the {permission} permission")
        self.permission = permission


@dataclass(frozen=True)
class Grant:
    """What a verified token allows: its permissions and, when limited, the accounts it may see."""

    token_id: str
    name: str
    permissions: frozenset[str]
    # None: every account; otherwise the account ids (and their usernames) the token is limited to.
    account_ids: frozenset[int] | None
    usernames: tuple[str, ...] = ()

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise MissingPermission(permission)

    def may_see(self, account_id: int) -> bool:
        return self.account_ids is None or account_id in self.account_ids


@dataclass(frozen=True)
class TokenView:
    name: str
    token_id: str
    permissions: tuple[str, ...]
    accounts: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(
            name=row.name,
            token_id=row.id,
            permissions=tuple(_split(row.permissions)),
            accounts=tuple(_split(row.accounts)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part]


def create_token(
    hub: Hub,
    name: str,
    permissions: list[str],
    usernames: list[str] | None = None,
    expires_days: int | None = None,
) -> tuple[TokenView, str]:
    """A new token; returns it with the JWT, which is shown once and never stored."""
    if not TOKEN_NAME_PATTERN.fullmatch(name or ""):
        raise InvalidInput(f"token name {name!r} is not allowed: use 1-100 letters, digits and . _ -")
    unknown = sorted(set(permissions) - set(PERMISSIONS))
    if unknown or not permissions:
        raise InvalidInput(
            f"unknown permission {', '.join(unknown)}; use one or more of {', '.join(PERMISSIONS)}"
            if unknown else f"a token needs at least one permission: {', '.join(PERMISSIONS)}"
        )
    if expires_days is not None and expires_days < 1:
        raise InvalidInput("--expires-days must be at least 1")
    usernames = sorted(set(usernames or []))
    now = hub.now()
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    token_id = str(uuid.uuid4())
    with hub.unit_of_work() as uow:
        if uow.tokens.by_name(name) is not None:
            raise AlreadyExists(f"a token named {name!r} already exists")
        for username in usernames:
            if not USERNAME_PATTERN.fullmatch(username) or uow.accounts.by_username(username) is None:
                raise NotFound(f"no account named {username!r}")
        row = ApiToken(
            id=token_id,
            name=name,
            permissions=",".join(p for p in PERMISSIONS if p in permissions),
            accounts=",".join(usernames) or None,
            created_at=now,
            expires_at=expires_at,
        )
        uow.tokens.add(row)
        emit(uow, EventType.TOKEN_CREATED, now, subject=name, data={"permissions": _split(row.permissions),
                                                                    "accounts": usernames})
        uow.commit()
        view = TokenView.of(row)
    kid, secret = hub.signing_keys.current()
    claims: dict[str, object] = {
        "jti": token_id,
        "sub": name,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "permissions": list(view.permissions),
    }
    if usernames:
        claims["accounts"] = usernames
    if expires_at is not None:
        claims["exp"] = int(expires_at.timestamp())
    return view, jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})


def list_tokens(hub: Hub) -> list[TokenView]:
    with hub.unit_of_work() as uow:
        return [TokenView.of(row) for row in uow.tokens.all()]


def revoke_token(hub: Hub, name: str) -> TokenView:
    now = hub.now()
    with hub.unit_of_work() as uow:
        row = uow.tokens.by_name(name)
        if row is None:
            raise NotFound(f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = now
            emit(uow, EventType.TOKEN_REVOKED, now, subject=name)
        uow.commit()
        return TokenView.of(row)


def rotate_signing_key(hub: Hub) -> str:
    return hub.signing_keys.rotate()


def drop_old_signing_keys(hub: Hub) -> int:
    return hub.signing_keys.drop_old()


class _VerifiedTokens:
    """The claims of tokens whose signature has been checked, by the token's exact text and the
    key that verified it, so that a portal's every call does not decode and check its JWT again.

    Only what the signature settles is kept: a hit still needs its key to be one the hub verifies
    with now (a dropped key ends its tokens at once), the ``exp`` claim is checked against the
    clock on every call, and revocation is read from the database on every call. Only verified
    tokens enter, so the cache cannot be filled by guessing; it is emptied when full.
    """

    SIZE = 1024

    def __init__(self) -> None:
        self._claims: dict[str, tuple[str, str, dict[str, Any]]] = {}

    def get(self, raw: str, signing_keys: SigningKeys) -> dict[str, Any] | None:
        entry = self._claims.get(raw)
        if entry is None:
            return None
        kid, secret, claims = entry
        if signing_keys.secret_for(kid) != secret:
            self._claims.pop(raw, None)
            return None
        return claims

    def put(self, raw: str, kid: str, secret: str, claims: dict[str, Any]) -> None:
        if len(self._claims) >= self.SIZE:
            self._claims.clear()
        self._claims[raw] = (kid, secret, claims)


_VERIFIED = _VerifiedTokens()


def _claims_of(hub: Hub, raw: str) -> dict[str, Any]:
    """The token's claims once its signature, issuer and required claims check (InvalidToken
    otherwise); the expiry claim is checked on every call, cached or not."""
    claims = _VERIFIED.get(raw, hub.signing_keys)
    if claims is not None:
        exp = claims.get("exp")
        # As PyJWT checks it (leeway 0): expired from the second it names.
        if exp is not None and exp <= datetime.now(UTC).timestamp():
            raise InvalidToken("the token has expired")
        return claims
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise InvalidToken("the token is not a JWT") from None
    kid = header.get("kid")
    secret = hub.signing_keys.secret_for(kid) if isinstance(kid, str) else None
    if kid is None or secret is None:
        raise InvalidToken("the token was not signed by this hub")
    try:
        claims = jwt.decode(
            raw, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["jti", "iss", "iat"]}, leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is not valid") from None
    _VERIFIED.put(raw, kid, secret, claims)
    return claims


def verify_token(hub: Hub, raw: str | None) -> Grant:
    """The grant of a bearer token, or :class:`InvalidToken` (never saying which check failed)."""
    if not raw or len(raw) > 4096:
        raise InvalidToken("no bearer token" if not raw else "the token is too long")
    claims = _claims_of(hub, raw)
    now = hub.now()
    # Read on every call, so a revocation counts at once in every worker and on every machine.
    row, ids = hub.store.token_state(str(claims["jti"]))
    if row is None or row.revoked_at is not None:
        raise InvalidToken("the token has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidToken("the token has expired")
    usernames = tuple(_split(row.accounts))
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        with hub.unit_of_work() as uow:
            uow.tokens.touch(row.id, now)
            uow.commit()
    return Grant(row.id, row.name, frozenset(_split(row.permissions)), frozenset(ids) if usernames else None,
                 usernames)
