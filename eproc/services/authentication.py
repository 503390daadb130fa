"""Authenticating FMS calls: the credential cache, the lockouts, ChangePassword's grace period.

This is the hot path (every FMS call carries the password), kept apart from account
administration in ``accounts.py``. Every failure raises the same :class:`AuthenticationFailed`;
why a call failed goes to the event log, never to the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc.services.errors import AuthenticationFailed
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.services.lockout import growing_lockout, is_locked
from eproc.services.passwords import generate_password
from eproc.services.throttle import network_key
from eproc.store.models import Account
from eproc.store.unit_of_work import UnitOfWork

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@\-]{1,100}")
MAX_PASSWORD_LENGTH = 1024
# How much of an unknown caller's username the event log keeps.
SHOWN_USERNAME_LENGTH = 100
# A login that finds its account changed between its password check and its write starts again;
# it takes a credential change racing every attempt to exhaust this.
CHANGED_UNDER_US_RETRIES = 3


@dataclass(frozen=True)
class Principal:
    """Who an authenticated call is from, and which stored password it used."""

    account_id: int
    username: str
    slot: str  # "current" or "previous"
    # The account's credential version when the password was verified; ChangePassword refuses to
    # act on a verification that a change made meanwhile (by any worker) has overtaken.
    credential_version: int


class _CredentialsChanged(Exception):
    """The account row changed between the password check and the write that depends on it."""


def authenticate(
    hub: Hub, username: str | None, password: str | None, client_address: str | None = None
) -> Principal:
    """Check an AuthHeader. Every failure raises the same :class:`AuthenticationFailed`.

    ``client_address`` is the caller's address as the transport saw it: failures are limited by it
    as well as by username.
    """
    address = network_key(client_address)
    username, password = username or "", password or ""
    if hub.throttle.is_blocked(address):
        # No verify: an address that is already refused must not keep the CPU busy with argon2.
        _record_refusal(hub, username, address, "client address refused after repeated failures")
        raise AuthenticationFailed()
    try:
        if not USERNAME_PATTERN.fullmatch(username):
            # Accounts are created with this pattern, so no account has this name: nothing to look up.
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
        _count_address_failure(hub, address)
        raise


def _authenticate_once(hub: Hub, username: str, password: str, address: str | None) -> Principal:
    now = hub.now()
    usable = bool(password) and len(password) <= MAX_PASSWORD_LENGTH
    if usable:
        remembered = _remembered_login(hub, username, password, now)
        if remembered is not None:
            return remembered
    principal: Principal | None = None
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_username(username)
        refusal = _refusal(account, now) or (None if usable else "empty or over-long password")
        if account is None or refusal is not None:
            # Cost the same as a real verify, so timing does not reveal which usernames exist.
            hub.crypt.verify(password if usable else "-", hub.dummy_hash)
        else:
            slot = hub.credentials.lookup(account.id, account.credential_version, username, password)
            if slot is not None and (slot == "current" or _previous_valid(account, now)):
                principal = Principal(account.id, username, slot, account.credential_version)
                if account.failed_logins:
                    account.failed_logins = 0
                    uow.commit()
                return principal
            principal = _verify(hub, uow, account, password, now)
            refusal = None if principal is not None else "wrong password"
        if principal is None:
            _record_failure(hub, uow, account, username, now, address, refusal or "refused")
        # The failure must outlive the fault; a success may have upgraded the hash.
        uow.commit()
    if principal is None:
        raise AuthenticationFailed()
    hub.credentials.remember(principal.account_id, principal.credential_version, username, password, principal.slot)
    return principal


def _remembered_login(hub: Hub, username: str, password: str, now: datetime) -> Principal | None:
    """The warm path: a verification this process remembers, checked against the account as it is
    in the database now (one narrow read, no transaction), so a change made by any worker counts.

    Anything unusual (disabled, locked, failures to reset, a lapsed previous password, no cache
    entry) returns None and the full path decides.
    """
    state = hub.store.credential_state(username)
    if state is None or not state.enabled or state.failed_logins or is_locked(state.locked_until, now):
        return None
    slot = hub.credentials.lookup(state.id, state.credential_version, username, password)
    if slot is None:
        return None
    if slot == "previous" and not _still_ahead(state.previous_password_expires_at, now):
        return None  # the previous password's grace period is over
    return Principal(state.id, username, slot, state.credential_version)


def _refusal(account: Account | None, now: datetime) -> str | None:
    """Why this account cannot log in whatever the password (for the event log only)."""
    if account is None:
        return "unknown username"
    if not account.enabled:
        return "account disabled"
    if is_locked(account.locked_until, now):
        return "account locked"
    return None


def _still_ahead(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def _previous_valid(account: Account, now: datetime) -> bool:
    """Whether the password before the last ChangePassword is still in its grace period.

    Checked on every call, cache hit or not: the row is read anyway, and so a remembered previous
    password ends exactly when its grace period does.
    """
    return account.previous_password_hash is not None and _still_ahead(account.previous_password_expires_at, now)


def _verify(hub: Hub, uow: UnitOfWork, account: Account, password: str, now: datetime) -> Principal | None:
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
        uow.accounts.hold_and_reload(account, now)
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


def _record_failure(
    hub: Hub,
    uow: UnitOfWork,
    account: Account | None,
    username: str,
    now: datetime,
    address: str | None,
    reason: str,
) -> None:
    account_id = account.id if account is not None else None
    emit(uow, EventType.LOGIN_FAILED, now, account_id=account_id, subject=_subject(username),
         detail=_origin(reason, address), data={"reason": reason, "address": address})
    if account is None:
        return
    failures = uow.accounts.count_failed_login(account)
    limit = hub.settings.login_failure_limit
    if limit and failures >= limit and not is_locked(account.locked_until, now):
        # From the limit on, every failure outside a lockout starts one, twice as long as the last.
        # Failures while locked are counted too, so hammering a locked account lengthens the next.
        settings = hub.settings
        seconds = growing_lockout(settings.login_lockout_seconds, settings.login_lockout_max_seconds, failures - limit)
        account.locked_until = now + timedelta(seconds=seconds)
        account.credential_version += 1
        detail = f"locked for {seconds}s after {failures} failed logins"
        emit(uow, EventType.ACCOUNT_LOCKED, now, account_id=account.id, subject=username, detail=detail,
             data={"seconds": seconds, "failures": failures})


def _record_refusal(hub: Hub, username: str, address: str | None, reason: str) -> None:
    """A failure that involves no account (its event only)."""
    with hub.unit_of_work() as uow:
        emit(uow, EventType.LOGIN_FAILED, hub.now(), subject=_subject(username), detail=_origin(reason, address),
             data={"reason": reason, "address": address})
        uow.commit()


def _count_address_failure(hub: Hub, address: str | None) -> None:
    throttle = hub.throttle
    seconds = throttle.record_failure(address)
    if seconds is None:
        return
    detail = (
        f"client address refused for {seconds}s after {throttle.limit} failed logins "
        f"within {int(throttle.window)}s"
    )
    with hub.unit_of_work() as uow:
        emit(uow, EventType.LOGIN_ADDRESS_LOCKED, hub.now(), subject=address, detail=detail,
             data={"seconds": seconds, "address": address})
        uow.commit()


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
    now = hub.now()
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_id(principal.account_id)
        if account is None:
            raise AuthenticationFailed()
        uow.accounts.hold_and_reload(account, now)
        # If another worker changed, reset, locked or disabled this login after the caller was
        # verified, which slot the caller's password is in is no longer known: refuse rather than
        # guess (FMS tries again with whatever password it holds).
        overtaken = account.credential_version != principal.credential_version
        if overtaken:
            emit(uow, EventType.LOGIN_FAILED, now, account_id=account.id, subject=account.username,
                 detail="ChangePassword refused: the credentials changed while the call was running")
        else:
            if principal.slot == "current":
                account.previous_password_hash = account.password_hash
                account.previous_password_expires_at = now + timedelta(hours=hub.settings.password_grace_hours)
            # When the caller used the previous password, it is the one FMS holds: keep it as it is.
            account.password_hash = new_hash
            account.password_changed_at = now
            account.credential_version += 1
            emit(uow, EventType.ACCOUNT_PASSWORD_CHANGED, now, account_id=account.id, subject=account.username,
                 detail="ChangePassword", data={"by": "ChangePassword"})
        uow.commit()
    if overtaken:
        raise AuthenticationFailed()
    return new_password
