"""Account administration: create school logins, look at them, reset, disable, unlock.

The login path FMS calls on every request lives in ``authentication.py``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc.services.authentication import MAX_PASSWORD_LENGTH, USERNAME_PATTERN
from eproc.services.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.services.lockout import is_locked
from eproc.services.passwords import generate_password
from eproc.services.smart_lockout import BUCKETS, HOUR
from eproc.store.models import Account, LoginBucket
from eproc.store.unit_of_work import UnitOfWork

DUNS_PATTERN = re.compile(r"\d{9}")
MIN_CHOSEN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class FamiliarAddressView:
    address: str
    first_seen_at: datetime
    last_seen_at: datetime
    familiar: bool  # False: not seen within EPROC_LOGIN_FAMILIAR_DAYS, kept until the next success or purge


@dataclass(frozen=True)
class BucketView:
    """Failed logins against an account from its familiar or from its unfamiliar addresses."""

    bucket: str
    failures: int
    failures_this_hour: int
    locked: bool
    locked_until: datetime | None
    lock_reason: str | None
    last_failure_at: datetime | None

    @classmethod
    def of(cls, name: str, row: LoginBucket | None, now: datetime) -> BucketView:
        if row is None:
            return cls(name, 0, 0, False, None, None, None)
        in_window = row.window_started_at is not None and now - row.window_started_at < HOUR
        locked = is_locked(row.locked_until, now)
        return cls(name, row.failures, row.window_failures if in_window else 0, locked,
                   row.locked_until if locked else None, row.lock_reason if locked else None, row.last_failure_at)


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
    # Filled in by show_account only (listing every account's addresses would cost a query each).
    familiar_addresses: tuple[FamiliarAddressView, ...] = ()
    buckets: tuple[BucketView, ...] = ()

    def is_locked(self, now: datetime) -> bool:
        """Locked for its own (familiar) addresses or for the others."""
        return is_locked(self.locked_until, now) or any(b.locked for b in self.buckets)

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
        raise InvalidInput(f"{what} DUNS must be exactly 9 digits, not {value!r}")
    return value


def check_text(value: str | None, what: str) -> None:
    """Names and numbers are shown to people and stored as text: no control characters (PostgreSQL
    refuses a NUL outright, and a line break would forge lines in a listing)."""
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{what} must not contain control characters")


def check_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username or ""):
        raise InvalidInput(
            f"username {username!r} is not allowed: use 1-100 letters, digits and . _ @ - (no spaces)"
        )
    return username


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
    check_username(username)
    if not establishment_name or not establishment_name.strip():
        raise InvalidInput("establishment name must not be empty")
    check_text(establishment_name, "the establishment name")
    check_text(account_number, "the account number")
    check_duns(buyer_duns, "buyer (school)")
    check_duns(supplier_duns, "supplier")
    if not re.fullmatch(r"[A-Za-z]{3}", currency or ""):
        raise InvalidInput(f"currency must be a 3-letter ISO 4217 code, not {currency!r}")
    if not re.fullmatch(r"[a-z]{2}([_\-][A-Z]{2})?", language or ""):
        raise InvalidInput(f"language must be a code such as 'en' or 'en-GB', not {language!r}")
    if password is not None:
        _check_chosen_password(password)
    password = password or generate_password()
    now = hub.now()
    taken = AlreadyExists(f"an account named {username!r} already exists")
    try:
        with hub.unit_of_work() as uow:
            if uow.accounts.by_username(username) is not None:
                raise taken
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
            uow.accounts.add(account)
            emit(uow, EventType.ACCOUNT_CREATED, now, account_id=account.id, subject=username)
            uow.commit()
            view = AccountView.of(account)
    except Conflict:
        raise taken from None  # another admin created the same name at the same moment
    return view, password


def _check_chosen_password(password: str) -> None:
    if len(password) < MIN_CHOSEN_PASSWORD_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a chosen password must be {MIN_CHOSEN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )
    if any(ord(c) < 32 for c in password):
        raise InvalidInput("a password must not contain control characters")


def _no_such_account(username: str) -> NotFound:
    return NotFound(f"no account named {username!r}")


AdminChange = Callable[[Account, datetime], str | None]


def _admin_update(
    hub: Hub, username: str, event: EventType, change: AdminChange, *, clear_lockouts: bool = False
) -> AccountView:
    """Apply an admin's change under the row lock, and bump the credential version so that every
    worker's credential cache forgets the account at once. ``clear_lockouts``: forget every failed
    login counted against the account, familiar and unfamiliar, ending any lockout."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_username(username)
        if account is None:
            raise _no_such_account(username)
        uow.accounts.hold_and_reload(account, now)
        detail = change(account, now)
        if clear_lockouts:
            _clear_lockouts(uow, account, now, "lifted by an admin" if event is EventType.ACCOUNT_UNLOCKED
                            else "password reset by an admin")
        account.credential_version += 1
        emit(uow, event, now, account_id=account.id, subject=username, detail=detail)
        uow.commit()
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

    _admin_update(hub, username, EventType.ACCOUNT_PASSWORD_CHANGED, change, clear_lockouts=True)
    return new_password


def set_enabled(hub: Hub, username: str, enabled: bool) -> AccountView:
    def change(account: Account, now: datetime) -> None:
        account.enabled = enabled

    return _admin_update(hub, username, EventType.ACCOUNT_ENABLED if enabled else EventType.ACCOUNT_DISABLED, change)


def unlock(hub: Hub, username: str) -> AccountView:
    """End every lockout of the account and forget its failed logins (its familiar addresses stay)."""

    def change(account: Account, now: datetime) -> None:
        account.failed_logins = 0
        account.locked_until = None

    return _admin_update(hub, username, EventType.ACCOUNT_UNLOCKED, change, clear_lockouts=True)


def _clear_lockouts(uow: UnitOfWork, account: Account, now: datetime, why: str) -> None:
    for row in uow.login_buckets.of_account(account.id):
        if is_locked(row.locked_until, now):
            emit(uow, EventType.ACCOUNT_LOCK_ENDED, now, account_id=account.id, subject=account.username,
                 detail=f"lockout of {row.bucket} addresses {why} ({row.lock_reason})",
                 data={"bucket": row.bucket, "reason": row.lock_reason, "by": "admin"})
    uow.login_buckets.clear(account.id)
    account.failed_logins = 0
    account.locked_until = None


def update_account(
    hub: Hub,
    username: str,
    *,
    establishment_name: str | None = None,
    buyer_duns: str | None = None,
    supplier_duns: str | None = None,
    account_number: str | None = None,
    clear_account_number: bool = False,
    language: str | None = None,
    currency: str | None = None,
    enabled: bool | None = None,
) -> AccountView:
    """Change an account's details; only what is given changes."""
    if establishment_name is not None and not establishment_name.strip():
        raise InvalidInput("establishment name must not be empty")
    check_text(establishment_name, "the establishment name")
    check_text(account_number, "the account number")
    if buyer_duns is not None:
        check_duns(buyer_duns, "buyer (school)")
    if supplier_duns is not None:
        check_duns(supplier_duns, "supplier")
    if currency is not None and not re.fullmatch(r"[A-Za-z]{3}", currency):
        raise InvalidInput(f"currency must be a 3-letter ISO 4217 code, not {currency!r}")
    if language is not None and not re.fullmatch(r"[a-z]{2}([_\-][A-Z]{2})?", language):
        raise InvalidInput(f"language must be a code such as 'en' or 'en-GB', not {language!r}")

    def change(account: Account, now: datetime) -> str:
        changed = []
        for field, value in (
            ("establishment_name", establishment_name.strip() if establishment_name else None),
            ("buyer_duns", buyer_duns),
            ("supplier_duns", supplier_duns),
            ("account_number", account_number),
            ("language", language),
            ("currency", currency.upper() if currency else None),
            ("enabled", enabled),
        ):
            if value is not None and getattr(account, field) != value:
                setattr(account, field, value)
                changed.append(field)
        if clear_account_number and account.account_number is not None:
            account.account_number = None
            changed.append("account_number")
        return "changed " + ", ".join(changed) if changed else "nothing changed"

    details = (establishment_name, buyer_duns, supplier_duns, account_number, language, currency)
    event = EventType.ACCOUNT_UPDATED
    if enabled is not None and all(value is None for value in details) and not clear_account_number:
        event = EventType.ACCOUNT_ENABLED if enabled else EventType.ACCOUNT_DISABLED
    return _admin_update(hub, username, event, change)


def show_account(hub: Hub, username: str) -> AccountView:
    """The account with its login picture: familiar addresses, failures per bucket, lockouts."""
    now = hub.now()
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_username(username) if USERNAME_PATTERN.fullmatch(username or "") else None
        if account is None:
            raise _no_such_account(username)
        familiar_since = now - timedelta(days=hub.settings.login_familiar_days)
        addresses = tuple(
            FamiliarAddressView(row.address, row.first_seen_at, row.last_seen_at, row.last_seen_at >= familiar_since)
            for row in uow.familiar_addresses.of_account(account.id)
        )
        rows = {row.bucket: row for row in uow.login_buckets.of_account(account.id)}
        buckets = tuple(BucketView.of(name, rows.get(name), now) for name in BUCKETS)
        locks = [b.locked_until for b in buckets if b.locked_until is not None]
        # Both buckets together, so that the totals agree with the buckets shown beside them.
        return dataclasses.replace(
            AccountView.of(account), familiar_addresses=addresses, buckets=buckets,
            failed_logins=sum(b.failures for b in buckets), locked_until=max(locks, default=None),
        )


def find_account(hub: Hub, username: str) -> AccountView | None:
    try:
        return show_account(hub, username)
    except NotFound:
        return None


def list_accounts(hub: Hub) -> list[AccountView]:
    with hub.unit_of_work() as uow:
        return [AccountView.of(a) for a in uow.accounts.all()]
