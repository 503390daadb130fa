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
from eproc.services.throttle import AddressThrottle, address_throttle, network_key
from eproc.store import repositories as repo
from eproc.store.models import Account

DUNS_PATTERN = re.compile(r"\d{9}")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@\-]{1,100}")
MAX_PASSWORD_LENGTH = 1024
# How much of an unknown caller's username the event log keeps.
SHOWN_USERNAME_LENGTH = 100
# Past this the doubling of a lockout stops (the configured maximum caps it long before).
MAX_LOCKOUT_DOUBLINGS = 16


@dataclass(frozen=True)
class Principal:
    """Who an authenticated call is from, and which stored password it used."""

    account_id: int
    username: str
    slot: str  # "current" or "previous"
    # The account's credential version when the password was verified; ChangePassword refuses to
    # act on a verification that a change made meanwhile (by any worker) has overtaken.
    credential_version: int


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


# A login that finds its account changed between its password check and its write starts again;
# it takes a credential change racing every attempt to exhaust this.
CHANGED_UNDER_US_RETRIES = 3


class _CredentialsChanged(Exception):
    """The account row changed between the password check and the write that depends on it."""


def authenticate(
    hub: Hub, username: str | None, password: str | None, client_address: str | None = None
) -> Principal:
    """Check an AuthHeader. Every failure raises the same :class:`AuthenticationFailed`.

    ``client_address`` is the caller's address as the transport saw it: failures are limited by it
    as well as by username. Why a call failed goes to the event log, never to the caller.
    """
    throttle = address_throttle(hub.settings)
    address = network_key(client_address)
    username, password = username or "", password or ""
    if throttle.is_blocked(address):
        # No verify: an address that is already refused must not keep the CPU busy with argon2.
        _record_refusal(hub, username, address, "client address refused after repeated failures")
        raise AuthenticationFailed()
    try:
        if not USERNAME_PATTERN.fullmatch(username):
            # create_account enforces the pattern, so no account has this name: nothing to look up.
            _record_refusal(hub, username, address, "malformed username")
            raise AuthenticationFailed()
        for _ in range(CHANGED_UNDER_US_RETRIES):
            try:
                return _authenticate_once(hub, username, password, address)
            except _CredentialsChanged:
                continue
        _record_refusal(hub, username, address, "the account's credentials kept changing during the login")
        raise AuthenticationFailed()
    except AuthenticationFailed:
        _count_address_failure(hub, throttle, address)
        raise


def _authenticate_once(hub: Hub, username: str, password: str, address: str | None) -> Principal:
    now = utcnow()
    principal: Principal | None = None
    usable = bool(password) and len(password) <= MAX_PASSWORD_LENGTH
    if usable:
        remembered = _remembered_login(hub, username, password, now)
        if remembered is not None:
            return remembered
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username)
        refusal = _refusal(account, now) or (None if usable else "empty or over-long password")
        if account is None or refusal is not None:
            # Cost the same as a real verify, so timing does not reveal which usernames exist.
            hub.crypt.verify(password if usable else "-", hub.dummy_hash)
        else:
            slot = hub.credentials.lookup(account.id, account.credential_version, username, password)
            if slot is not None and (slot == "current" or _previous_valid(account, now)):
                if account.failed_logins:
                    account.failed_logins = 0
                return Principal(account.id, username, slot, account.credential_version)
            principal = _verify(hub, session, account, password, now)
            refusal = None if principal is not None else "wrong password"
        if principal is None:
            # In this unit of work, which commits: the failure must outlive the fault.
            _record_failure(hub, session, account, username, now, address, refusal or "refused")
    if principal is None:
        raise AuthenticationFailed()
    hub.credentials.remember(principal.account_id, principal.credential_version, username, password, principal.slot)
    return principal


def _remembered_login(hub: Hub, username: str, password: str, now: datetime) -> Principal | None:
    """The warm path: a verification this process remembers, checked against the account as it is
    in the database now (one narrow read, no transaction), so a change made by any worker counts.

    Anything unusual (disabled, locked, failures to reset, a lapsed previous password, no cache
    entry) returns None and the full path below decides.
    """
    with hub.uow.reading() as connection:
        state = repo.credential_state(connection, username)
    if state is None or not state.enabled or state.failed_logins:
        return None
    if state.locked_until is not None and state.locked_until > now:
        return None
    slot = hub.credentials.lookup(state.id, state.credential_version, username, password)
    if slot is None:
        return None
    if slot == "previous" and not (
        state.previous_password_expires_at is not None and state.previous_password_expires_at > now
    ):
        return None
    return Principal(state.id, username, slot, state.credential_version)


def _refusal(account: Account | None, now: datetime) -> str | None:
    """Why this account cannot log in whatever the password (for the event log only)."""
    if account is None:
        return "unknown username"
    if not account.enabled:
        return "account disabled"
    if _is_locked(account, now):
        return "account locked"
    return None


def _is_locked(account: Account, now: datetime) -> bool:
    return account.locked_until is not None and account.locked_until > now


def _previous_valid(account: Account, now: datetime) -> bool:
    """Whether the password before the last ChangePassword is still in its grace period.

    Checked on every call, cache hit or not: the row is read anyway, and so a remembered previous
    password ends exactly when its grace period does.
    """
    return (
        account.previous_password_hash is not None
        and account.previous_password_expires_at is not None
        and account.previous_password_expires_at > now
    )


def _verify(hub: Hub, session: Session, account: Account, password: str, now: datetime) -> Principal | None:
    """The principal if the password matches the current or the (still valid) previous password."""
    ok, upgraded_hash = hub.crypt.verify_and_update(password, account.password_hash)
    if ok:
        slot = "current"
        # The new password has now been used once, so FMS has it: retire the old one everywhere.
        retire_previous = account.previous_password_hash is not None
    elif _previous_valid(account, now) and hub.crypt.verify(password, account.previous_password_hash):
        slot, retire_previous, upgraded_hash = "previous", False, None
    else:
        return None
    if upgraded_hash or retire_previous or account.failed_logins:
        verified = (account.credential_version, account.password_hash, account.previous_password_hash)
        _lock_row(session, account, now)
        if (account.credential_version, account.password_hash, account.previous_password_hash) != verified:
            raise _CredentialsChanged()
        if upgraded_hash:
            # The configured argon2 parameters changed: re-hash now, while we hold the password.
            account.password_hash = upgraded_hash
        if retire_previous:
            account.previous_password_hash = None
            account.previous_password_expires_at = None
            account.credential_version += 1
        account.failed_logins = 0
    return Principal(account.id, account.username, slot, account.credential_version)


def _lock_row(session: Session, account: Account, now: datetime) -> None:
    """Hold the account row until this unit of work ends, and re-read it.

    The write comes first because that is what takes the lock on both backends: PostgreSQL locks
    the row, SQLite the database (it has no SELECT ... FOR UPDATE). What is read afterwards is the
    latest committed state, and no other worker can change it before we commit.
    """
    account.updated_at = now
    session.flush()
    session.refresh(account)


def _record_failure(
    hub: Hub,
    session: Session,
    account: Account | None,
    username: str,
    now: datetime,
    address: str | None,
    reason: str,
) -> None:
    account_id = account.id if account is not None else None
    repo.record_event(session, "login_failed", now, account_id, _subject(username), _origin(reason, address))
    if account is None:
        return
    # UPDATE ... SET failed_logins = failed_logins + 1: failures counted at the same moment by other
    # workers are not lost, and the row stays locked until commit, so the lockout decision below
    # sees every failure before this one.
    account.failed_logins = Account.failed_logins + 1
    session.flush()
    session.refresh(account)
    limit = hub.settings.login_failure_limit
    if limit and account.failed_logins >= limit and not _is_locked(account, now):
        # From the limit on, every failure outside a lockout starts one, twice as long as the last:
        # a patient guesser gets one try per period, and the periods double up to the maximum.
        # Failures while locked are counted too, so hammering a locked account lengthens the next.
        exponent = min(account.failed_logins - limit, MAX_LOCKOUT_DOUBLINGS)
        seconds = min(hub.settings.login_lockout_seconds * (2**exponent), hub.settings.login_lockout_max_seconds)
        account.locked_until = now + timedelta(seconds=seconds)
        account.credential_version += 1
        detail = f"locked for {seconds}s after {account.failed_logins} failed logins"
        repo.record_event(session, "login_locked", now, account.id, username, detail)


def _record_refusal(hub: Hub, username: str, address: str | None, reason: str) -> None:
    """A failure that involves no account (its event only)."""
    with hub.uow.begin() as session:
        repo.record_event(session, "login_failed", utcnow(), None, _subject(username), _origin(reason, address))


def _count_address_failure(hub: Hub, throttle: AddressThrottle, address: str | None) -> None:
    seconds = throttle.record_failure(address)
    if seconds is None:
        return
    detail = (
        f"client address refused for {seconds}s after {throttle.limit} failed logins "
        f"within {int(throttle.window)}s"
    )
    with hub.uow.begin() as session:
        repo.record_event(session, "login_locked", utcnow(), None, address, detail)


def _subject(username: str) -> str:
    """A username as the event log may hold it: printable, bounded (it came from anyone)."""
    shown = "".join(c if c.isprintable() else "\ufffd" for c in username[:SHOWN_USERNAME_LENGTH])
    if len(username) > SHOWN_USERNAME_LENGTH:
        shown += f"... ({len(username)} characters)"
    return shown or "(none)"


def _origin(reason: str, address: str | None) -> str:
    return f"{reason}; from {address}" if address else reason


def change_password(hub: Hub, principal: Principal) -> str:
    """FMS's ChangePassword: a new password; the one the caller used stays valid for a grace period."""
    new_password = generate_password()
    new_hash = hub.crypt.hash(new_password)
    now = utcnow()
    with hub.uow.begin() as session:
        account = repo.account_by_id(session, principal.account_id)
        if account is None:
            raise AuthenticationFailed()
        _lock_row(session, account, now)
        # If another worker changed, reset, locked or disabled this login after the caller was
        # verified, which slot the caller's password is in is no longer known: refuse rather than
        # guess (FMS tries again with whatever password it holds).
        overtaken = account.credential_version != principal.credential_version
        if overtaken:
            repo.record_event(
                session, "login_failed", now, account.id, account.username,
                "ChangePassword refused: the credentials changed while the call was running",
            )
        else:
            if principal.slot == "current":
                account.previous_password_hash = account.password_hash
                account.previous_password_expires_at = now + timedelta(hours=hub.settings.password_grace_hours)
            # When the caller used the previous password, it is the one FMS holds: keep it as it is.
            account.password_hash = new_hash
            account.password_changed_at = now
            account.credential_version += 1
            repo.record_event(session, "password_changed", now, account.id, account.username, "ChangePassword")
    if overtaken:
        raise AuthenticationFailed()
    return new_password


def _admin_update(hub: Hub, username: str, event: str, change) -> AccountView:  # type: ignore[no-untyped-def]
    now = utcnow()
    with hub.uow.begin() as session:
        account = repo.account_by_username(session, username)
        if account is None:
            raise AccountError(f"no account named {username!r}")
        _lock_row(session, account, now)
        detail = change(account, now)
        account.credential_version += 1
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
