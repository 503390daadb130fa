"""Authenticating FMS calls: the credential cache, the lockouts, ChangePassword's grace period.

This is the hot path (every FMS call carries the password), kept apart from account
administration in ``accounts.py``. Every failure raises the same :class:`AuthenticationFailed`;
why a call failed goes to the event log, never to the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eproc.services.errors import AuthenticationFailed, CredentialsChanged
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.services.lockout import is_locked
from eproc.services.passwords import generate_password
from eproc.services.smart_lockout import (
    FAMILIAR,
    UNFAMILIAR,
    UNKNOWN_ADDRESS,
    BucketState,
    Policy,
    end_if_over,
    password_digest,
    record_failure,
    record_success,
)
from eproc.services.throttle import network_key
from eproc.store.models import Account, LoginBucket
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
    # False for a login taken from this process's memory alone (remembered()): not yet checked
    # against the account as it is now. Only a use case that checks it in the statement that acts
    # on it accepts one (collection's FetchDoc and UpdateDocumentStatus); any other use raises
    # CredentialsChanged.
    confirmed: bool = True


class _CredentialsChanged(Exception):
    """The account row changed between the password check and the write that depends on it."""


class _Refused(Exception):
    """A failed login; ``count_address``: whether it counts against the caller's address."""

    def __init__(self, count_address: bool) -> None:
        super().__init__()
        self.count_address = count_address


# Called after each failed login and lockout is recorded, with (kind, data): kinds "login.failed"
# (data: reason, bucket, counted), "account.locked" (bucket, reason, seconds) and
# "login.address_locked" (seconds). For metrics; a listener must be quick and must not raise.
LoginListener = Callable[[str, dict[str, Any]], None]
LOGIN_LISTENERS: list[LoginListener] = []


def _tell(kind: str, data: dict[str, Any]) -> None:
    for listener in LOGIN_LISTENERS:
        listener(kind, data)


def authenticate(
    hub: Hub, username: str | None, password: str | None, client_address: str | None = None
) -> Principal:
    """Check an AuthHeader. Every failure raises the same :class:`AuthenticationFailed`.

    ``client_address`` is the caller's address as the transport saw it: failures are counted by it
    (see ``throttle.py``) and by account, apart for the account's familiar and unfamiliar addresses
    (see ``smart_lockout.py``).
    """
    address = network_key(client_address)
    username, password = username or "", password or ""
    try:
        if not USERNAME_PATTERN.fullmatch(username):
            # Accounts are created with this pattern, so no account has this name: nothing to look up.
            if hub.throttle.is_blocked(address, hub.now()):
                _record_refusal(hub, username, address, "client address refused after repeated failures")
                raise _Refused(count_address=False)
            _record_refusal(hub, username, address, "malformed username")
            raise _Refused(count_address=True)
        for _ in range(CHANGED_UNDER_US_RETRIES):
            try:
                return _authenticate_once(hub, username, password, address)
            except _CredentialsChanged:
                continue
        _record_refusal(hub, username, address, "the account's credentials kept changing during the login")
        raise _Refused(count_address=False)
    except _Refused as refused:
        if refused.count_address:
            _count_address_failure(hub, address)
        raise AuthenticationFailed() from None


def _authenticate_once(hub: Hub, username: str, password: str, address: str | None) -> Principal:
    now = hub.now()
    place = address or UNKNOWN_ADDRESS
    usable = bool(password) and len(password) <= MAX_PASSWORD_LENGTH
    if usable:
        remembered = _remembered_login(hub, username, password, place, now)
        if remembered is not None:
            return remembered
    principal: Principal | None = None
    with hub.unit_of_work() as uow:
        account = uow.accounts.by_username(username)
        familiar = account is not None and uow.familiar_addresses.is_familiar(
            account.id, place, now - timedelta(days=hub.settings.login_familiar_days)
        )
        if not familiar and hub.throttle.is_blocked(address, now):
            # No verify: an address that is already refused must not keep the CPU busy with argon2.
            _failed_event(uow, account, username, now, address, "client address refused after repeated failures")
            uow.commit()
            raise _Refused(count_address=False)
        bucket = FAMILIAR if familiar else UNFAMILIAR
        row = uow.login_buckets.get(account.id, bucket) if account is not None else None
        refusal = _refusal(account, row, bucket, now) or (None if usable else "empty or over-long password")
        if account is None or refusal is not None:
            # Cost the same as a real verify, so timing does not reveal which usernames exist.
            hub.crypt.verify(password if usable else "-", hub.dummy_hash)
        else:
            slot = hub.credentials.lookup(account.id, account.credential_version, username, password)
            if slot is not None and (slot == "current" or _previous_valid(account, now)):
                principal = Principal(account.id, username, slot, account.credential_version)
            else:
                principal = _verify(hub, uow, account, password, now)
                refusal = None if principal is not None else "wrong password"
        if principal is None:
            assert refusal is not None
            _record_failure(hub, uow, account, bucket, username, password, now, address, refusal)
            # The failure must outlive the fault.
            uow.commit()
            # Strangers' failures count against their address; an account's own addresses never
            # do (see throttle.py), and an unknown or malformed username has no familiar address.
            raise _Refused(count_address=not familiar)
        assert account is not None
        if row is not None and (row.failures or row.recent_digests or row.locked_until is not None):
            _record_success(uow, account, bucket, now)
        if not hub.familiar.fresh(account.id, place, now):
            uow.familiar_addresses.touch(account.id, place, now)
        # A success may have upgraded the hash or retired the previous password, too.
        uow.commit()
    hub.familiar.note(principal.account_id, place, now)
    hub.credentials.remember(principal.account_id, principal.credential_version, username, password, principal.slot)
    return principal


def require_confirmed(principal: Principal) -> None:
    """For a use case that acts on a login without checking it itself: refuse an unconfirmed one
    (CredentialsChanged: the caller authenticates and tries again)."""
    if not principal.confirmed:
        raise CredentialsChanged()


def remembered(hub: Hub, username: str | None, password: str | None, client_address: str | None) -> Principal | None:
    """The warm path without its read: a login this process verified recently, from an address it
    recorded as the account's familiar one within the last few minutes, taken from memory alone.

    Unconfirmed: the account is not read, so the use case that acts on it must check, in the same
    statement, that the account is still as it was then (the credential version, enabled, no
    failures or lockout on the account, the previous password's grace period): the conditions
    :func:`_remembered_login` reads. If not, it raises CredentialsChanged and the caller
    authenticates. None when nothing is remembered (then authenticate as usual).
    """
    if not username or not password or len(password) > MAX_PASSWORD_LENGTH or not USERNAME_PATTERN.fullmatch(username):
        return None
    recalled = hub.credentials.recall(username, password)
    if recalled is None:
        return None
    account_id, version, slot = recalled
    if not hub.familiar.fresh(account_id, network_key(client_address) or UNKNOWN_ADDRESS, hub.now()):
        return None
    return Principal(account_id, username, slot, version, confirmed=False)


def _remembered_login(hub: Hub, username: str, password: str, place: str, now: datetime) -> Principal | None:
    """The warm path: a verification this process remembers, from an address this process has
    recorded as familiar within the last few minutes, checked against the account as it is in the
    database now (one narrow read, no transaction, no write), so a change made by any worker counts.

    Anything unusual (disabled, a familiar lockout running or just over, failures to reset, a
    lapsed previous password, no cache entry, an address not known here) returns None and the full
    path decides.
    """
    state = hub.store.credential_state(username)
    if state is None or not state.enabled or state.failed_logins or state.locked_until is not None:
        return None
    if not hub.familiar.fresh(state.id, place, now):
        return None
    slot = hub.credentials.lookup(state.id, state.credential_version, username, password)
    if slot is None:
        return None
    if slot == "previous" and not _still_ahead(state.previous_password_expires_at, now):
        return None  # the previous password's grace period is over
    return Principal(state.id, username, slot, state.credential_version)


def _refusal(account: Account | None, row: LoginBucket | None, bucket: str, now: datetime) -> str | None:
    """Why this account cannot log in from this bucket whatever the password (for the event log only)."""
    if account is None:
        return "unknown username"
    if not account.enabled:
        return "account disabled"
    if row is not None and is_locked(row.locked_until, now):
        return f"account locked for {bucket} addresses"
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
    if upgraded_hash or retire_previous:
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
    return Principal(account.id, account.username, slot, account.credential_version)


def _bucket_state(uow: UnitOfWork, account: Account, bucket: str, now: datetime) -> tuple[LoginBucket, BucketState]:
    """The bucket's row as committed, with the account row held and re-read (so no other worker
    counts at the same moment): the state every decision about it is made on."""
    uow.accounts.hold_and_reload(account, now)
    row = uow.login_buckets.get(account.id, bucket)
    if row is None:
        row = LoginBucket(account_id=account.id, bucket=bucket, failures=0, recent_digests="", window_failures=0)
        uow.login_buckets.add(row)
    state = BucketState(
        failures=row.failures, locked_until=row.locked_until, lock_reason=row.lock_reason,
        recent_digests=tuple(d for d in (row.recent_digests or "").split(",") if d),
        window_started_at=row.window_started_at, window_failures=row.window_failures,
        last_failure_at=row.last_failure_at,
    )
    return row, state


def _store_bucket(uow: UnitOfWork, account: Account, bucket: str, row: LoginBucket, state: BucketState,
                  now: datetime, ended: str | None) -> None:
    row.failures, row.locked_until, row.lock_reason = state.failures, state.locked_until, state.lock_reason
    row.recent_digests = ",".join(state.recent_digests)
    row.window_started_at, row.window_failures = state.window_started_at, state.window_failures
    row.last_failure_at = state.last_failure_at
    if bucket == FAMILIAR:
        # The account row's copy, which the warm path reads (see models.Account).
        account.failed_logins, account.locked_until = state.failures, state.locked_until
    if ended is not None:
        emit(uow, EventType.ACCOUNT_LOCK_ENDED, now, account_id=account.id, subject=account.username,
             detail=f"lockout of {bucket} addresses over ({ended})",
             data={"bucket": bucket, "reason": ended, "by": "time"})


def _record_success(uow: UnitOfWork, account: Account, bucket: str, now: datetime) -> None:
    row, state = _bucket_state(uow, account, bucket, now)
    ended = end_if_over(state, now)
    if record_success(bucket, state) or ended is not None:
        _store_bucket(uow, account, bucket, row, state, now, ended)


def _record_failure(
    hub: Hub,
    uow: UnitOfWork,
    account: Account | None,
    bucket: str,
    username: str,
    password: str,
    now: datetime,
    address: str | None,
    reason: str,
) -> None:
    if account is None or reason != "wrong password":
        # Nothing to count against the account: no account, or refused before any password check.
        _failed_event(uow, account, username, now, address, reason, bucket if account else None)
        _tell("login.failed", {"reason": reason, "bucket": bucket if account else None, "counted": False})
        return
    # Before the row is held: the key may be made and stored (in a transaction of its own) first.
    digest = password_digest(hub.failure_key, account.id, password)
    row, state = _bucket_state(uow, account, bucket, now)
    ended = end_if_over(state, now)
    outcome = record_failure(Policy.of(hub.settings), bucket, state, digest, now)
    shown = reason if outcome.counted else f"{reason} (repeated, counted once)" if outcome.repeated else reason
    _failed_event(uow, account, username, now, address, shown, bucket, counted=outcome.counted)
    _store_bucket(uow, account, bucket, row, state, now, ended)
    _tell("login.failed", {"reason": reason, "bucket": bucket, "counted": outcome.counted})
    if outcome.lock_seconds is None:
        return
    if bucket == FAMILIAR:
        # Every worker's remembered verifications end at once: the warm path must not serve the
        # school's own addresses while they are locked.
        account.credential_version += 1
    detail = f"{bucket} addresses locked for {outcome.lock_seconds}s: {outcome.lock_reason}"
    data = {"bucket": bucket, "reason": outcome.lock_reason, "seconds": outcome.lock_seconds,
            "failures": state.failures}
    emit(uow, EventType.ACCOUNT_LOCKED, now, account_id=account.id, subject=username, detail=detail, data=data)
    _tell("account.locked", data)


def _failed_event(
    uow: UnitOfWork, account: Account | None, username: str, now: datetime, address: str | None, reason: str,
    bucket: str | None = None, *, counted: bool = False,
) -> None:
    data: dict[str, Any] = {"reason": reason, "address": address}
    if bucket is not None:
        data.update(bucket=bucket, counted=counted)
    emit(uow, EventType.LOGIN_FAILED, now, account_id=account.id if account is not None else None,
         subject=_subject(username), detail=_origin(reason, address), data=data)


def _record_refusal(hub: Hub, username: str, address: str | None, reason: str) -> None:
    """A failure that involves no account (its event only)."""
    with hub.unit_of_work() as uow:
        _failed_event(uow, None, username, hub.now(), address, reason)
        uow.commit()
    _tell("login.failed", {"reason": reason, "bucket": None, "counted": False})


def _count_address_failure(hub: Hub, address: str | None) -> None:
    throttle = hub.throttle
    now = hub.now()
    seconds = throttle.record_failure(address, now)
    if seconds is None:
        return
    detail = (
        f"client address refused for {seconds}s after {throttle.limit} failed logins "
        f"within {int(throttle.window)}s"
    )
    with hub.unit_of_work() as uow:
        emit(uow, EventType.LOGIN_ADDRESS_LOCKED, now, subject=address, detail=detail,
             data={"seconds": seconds, "address": address})
        uow.commit()
    _tell("login.address_locked", {"seconds": seconds})


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
    require_confirmed(principal)
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
