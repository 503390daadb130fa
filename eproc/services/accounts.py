"""Accounts: create and administer school logins, authenticate FMS calls, change passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eproc.services.clock import utcnow
from eproc.services.errors import AccountError, AuthenticationFailed
from eproc.services.hub import Hub
from eproc.services.passwords import generate_password
from eproc.store import repositories as repo
from eproc.store.models import Account

DUNS_PATTERN = re.compile(r"\d{9}")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@\-]{1,100}")
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class Principal:
    """Who an authenticated call is from, and which stored password it used."""

    account_id: int
    username: str
    slot: str  # "current" or "previous"


@dataclass(frozen=True)
class AccountView:
    """An account as an admin sees it: everything but secrets."""

    id: int
    username: str
    establishment_name: str
    buyer_duns: str
    supplier_duns: str
    account_number: str | None
    language: str
    currency: str
    enabled: bool
    failed_logins: int
    locked_until: datetime | None
    password_changed_at: datetime
    previous_password_valid_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            id=account.id,
            username=account.username,
            establishment_name=account.establishment_name,
            buyer_duns=account.buyer_duns,
            supplier_duns=account.supplier_duns,
            account_number=account.account_number,
            language=account.language,
            currency=account.currency,
            enabled=account.enabled,
            failed_logins=account.failed_logins,
            locked_until=account.locked_until,
            password_changed_at=account.password_changed_at,
            previous_password_valid_until=(
                account.previous_password_expires_at if account.previous_password_hash else None
            ),
            created_at=account.created_at,
        )


def check_duns(value: str, what: str) -> str:
    if not DUNS_PATTERN.fullmatch(value or ""):
        raise AccountError(f"{what} DUNS must be exactly 9 digits, not {value!r}")
    return value


def create_account(
    hub: Hub,
    username: str,
    *,
    establishment_name: str,
    buyer_duns: str,
    supplier_duns: str,
    account_number: str | None = None,
    password: str | None = None,
    language: str = "en",
    currency: str = "GBP",
) -> tuple[AccountView, str]:
    """Create a school account; returns it with its password (generated when none is given)."""
    if not USERNAME_PATTERN.fullmatch(username or ""):
        raise AccountError(
            f"username {username!r} is not allowed: use 1-100 letters, digits and . _ @ - (no spaces)"
        )
    if not establishment_name or not establishment_name.strip():
        raise AccountError("establishment name must not be empty")
    check_duns(buyer_duns, "buyer (school)")
    check_duns(supplier_duns, "supplier")
    if not re.fullmatch(r"[A-Za-z]{3}", currency or ""):
        raise AccountError(f"currency must be a 3-letter ISO 4217 code, not {currency!r}")
    if not re.fullmatch(r"[a-z]{2}([_\-][A-Z]{2})?", language or ""):
        raise AccountError(f"language must be a code such as 'en' or 'en-GB', not {language!r}")
    if password is not None:
        _check_chosen_password(password)
    password = password or generate_password()
    now = utcnow()
    try:
        with hub.uow.begin() as session:
            if repo.account_by_username(session, username) is not None:
                raise AccountError(f"an account named {username!r} already exists")
            account = Account(
                username=username,
                password_hash=hub.crypt.hash(password),
                credential_version=1,
                password_changed_at=now,
                establishment_name=establishment_name.strip(),
                buyer_duns=buyer_duns,
                supplier_duns=supplier_duns,
                account_number=account_number,
                language=language,
                currency=currency.upper(),
                enabled=True,
                failed_logins=0,
                created_at=now,
                updated_at=now,
            )
            repo.add(session, account)
            repo.record_event(session, "account_created", now, account.id, username)
            view = AccountView.of(account)
    except IntegrityError:
        raise AccountError(f"an account named {username!r} already exists") from None
    return view, password


def _check_chosen_password(password: str) -> None:
    if len(password) < 12 or len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError("a chosen password must be 12 to 1024 characters long")
    if any(ord(c) < 32 for c in password):
        raise AccountError("a password must not contain control characters")


def authenticate(hub: Hub, username: str | None, password: str | None) -> Principal:
    """Check an AuthHeader. Every failure raises the same :class:`AuthenticationFailed`."""
    if not username or not password or len(username) > 100 or len(password) > MAX_PASSWORD_LENGTH:
        raise AuthenticationFailed()
    now = utcnow()
    principal: Principal | None = None
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username)
        if account is None or not account.enabled or _is_locked(account, now):
            # Cost the same as a real verify, so timing does not reveal which usernames exist.
            hub.crypt.verify(password, hub.dummy_hash)
        else:
            slot = hub.credentials.lookup(account.id, account.credential_version, username, password)
            if slot is not None:
                return Principal(account.id, username, slot)
            slot = _verify(hub, account, password, now)
            if slot is not None:
                if account.failed_logins:
                    account.failed_logins = 0
                principal = Principal(account.id, username, slot)
                version = account.credential_version
        if principal is None:
            # Recorded in this unit of work, which commits: the failure must outlive the fault.
            _record_failure(session, account, username, now, hub)
    if principal is None:
        raise AuthenticationFailed()
    hub.credentials.remember(principal.account_id, version, username, password, principal.slot)
    return principal


def _is_locked(account: Account, now: datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now


def _verify(hub: Hub, account: Account, password: str, now: datetime) -> str | None:
    ok, new_hash = hub.crypt.verify_and_update(password, account.password_hash)
    if ok:
        if new_hash:  # the configured argon2 parameters changed: upgrade on this successful login
            account.password_hash = new_hash
        if account.previous_password_hash is not None:
            # The new password has now been used once, so FMS has it: retire the old one everywhere.
            account.previous_password_hash = None
            account.previous_password_expires_at = None
            account.credential_version += 1
        account.updated_at = now
        return "current"
    if (
        account.previous_password_hash is not None
        and account.previous_password_expires_at is not None
        and account.previous_password_expires_at > now
        and hub.crypt.verify(password, account.previous_password_hash)
    ):
        return "previous"
    return None


def _record_failure(session: Session, account: Account | None, username: str, now: datetime, hub: Hub) -> None:
    account_id = account.id if account is not None else None
    repo.record_event(session, "login_failed", now, account_id, username[:200])
    if account is None:
        return
    account.failed_logins += 1
    limit = hub.settings.login_failure_limit
    if limit and account.failed_logins >= limit and not _is_locked(account, now):
        # The lockout doubles with every further batch of failures, up to the configured maximum.
        exponent = min(account.failed_logins // limit - 1, 16)
        seconds = min(hub.settings.login_lockout_seconds * (2**exponent), hub.settings.login_lockout_max_seconds)
        account.locked_until = now + timedelta(seconds=seconds)
        account.credential_version += 1
        repo.record_event(session, "login_locked", now, account.id, username, f"locked for {seconds}s")


def change_password(hub: Hub, principal: Principal) -> str:
    """FMS's ChangePassword: a new password; the one the caller used stays valid for a grace period."""
    new_password = generate_password()
    new_hash = hub.crypt.hash(new_password)
    now = utcnow()
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, principal.username, for_update=True)
        if account is None or account.id != principal.account_id:
            raise AuthenticationFailed()
        if principal.slot == "current":
            account.previous_password_hash = account.password_hash
            account.previous_password_expires_at = now + timedelta(hours=hub.settings.password_grace_hours)
        # When the caller used the previous password, it is the one FMS holds: keep it as it is.
        account.password_hash = new_hash
        account.password_changed_at = now
        account.credential_version += 1
        account.updated_at = now
        repo.record_event(session, "password_changed", now, account.id, account.username, "ChangePassword")
    return new_password


def _admin_update(hub: Hub, username: str, event: str, change) -> AccountView:  # type: ignore[no-untyped-def]
    now = utcnow()
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username, for_update=True)
        if account is None:
            raise AccountError(f"no account named {username!r}")
        detail = change(account, now)
        account.credential_version += 1
        account.updated_at = now
        repo.record_event(session, event, now, account.id, username, detail)
        return AccountView.of(account)


def reset_password(hub: Hub, username: str) -> str:
    """Admin reset: a new password at once; the old one stops working immediately."""
    new_password = generate_password()
    new_hash = hub.crypt.hash(new_password)

    def change(account: Account, now: datetime) -> str:
        account.password_hash = new_hash
        account.previous_password_hash = None
        account.previous_password_expires_at = None
        account.password_changed_at = now
        account.failed_logins = 0
        account.locked_until = None
        return "reset by admin"

    _admin_update(hub, username, "password_changed", change)
    return new_password


def set_enabled(hub: Hub, username: str, enabled: bool) -> AccountView:
    def change(account: Account, now: datetime) -> None:
        account.enabled = enabled

    return _admin_update(hub, username, "account_enabled" if enabled else "account_disabled", change)


def unlock(hub: Hub, username: str) -> AccountView:
    def change(account: Account, now: datetime) -> None:
        account.failed_logins = 0
        account.locked_until = None

    return _admin_update(hub, username, "account_unlocked", change)


def show_account(hub: Hub, username: str) -> AccountView:
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username)
        if account is None:
            raise AccountError(f"no account named {username!r}")
        return AccountView.of(account)


def list_accounts(hub: Hub) -> list[AccountView]:
    with hub.uow.begin() as session:
        return [AccountView.of(a) for a in repo.all_accounts(session)]
