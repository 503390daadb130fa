"""Smart lockout: the rules, as pure functions of a bucket's state and the time.

Failed logins against an account are counted in two *buckets*: from its *familiar* addresses (where
it has logged in before, i.e. the school's own FMS) and from every other address. Strangers'
guesses fill only the unfamiliar bucket, so they lock out only unfamiliar addresses and never the
school's own polls. Within a bucket:

- a wrong password repeated (the same one, recognised by a keyed hash of the last few) counts once,
  so an FMS left with a stale password does not lock itself out by polling;
- attempts during a lockout, right or wrong, are refused and never counted: they neither extend it
  nor make the next one longer;
- from the limit on, each counted failure outside a lockout starts one twice as long as the last;
- the unfamiliar bucket has an hourly budget too, whatever the number of addresses guessing;
- a success from a familiar address resets the familiar bucket only.

The database side (which bucket, locking the row, events) is in ``authentication.py``; this module
knows no database, so its tests run on a fake clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from eproc.config import Settings
from eproc.services.lockout import growing_lockout, is_locked

FAMILIAR = "familiar"
UNFAMILIAR = "unfamiliar"
BUCKETS = (FAMILIAR, UNFAMILIAR)
# The address key of a call whose transport told none (in-process callers, tests).
UNKNOWN_ADDRESS = "unknown"
HOUR = timedelta(hours=1)
# A keyed hash is cut to this many hex digits: enough to tell a few passwords apart, and less to
# hold if the database leaks.
DIGEST_HEX_DIGITS = 16


@dataclass(frozen=True)
class Policy:
    failure_limit: int
    lockout_seconds: int
    lockout_max_seconds: int
    hourly_limit: int
    repeat_memory: int
    forget_after_seconds: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            failure_limit=settings.login_failure_limit,
            lockout_seconds=settings.login_lockout_seconds,
            lockout_max_seconds=settings.login_lockout_max_seconds,
            hourly_limit=settings.login_unfamiliar_hourly_limit,
            repeat_memory=settings.login_repeat_memory,
            forget_after_seconds=settings.login_failure_memory_seconds,
        )


@dataclass
class BucketState:
    """A bucket as the rules see it (a copy of a ``login_bucket`` row)."""

    failures: int = 0
    locked_until: datetime | None = None
    lock_reason: str | None = None
    recent_digests: tuple[str, ...] = ()
    window_started_at: datetime | None = None
    window_failures: int = 0
    last_failure_at: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return is_locked(self.locked_until, now)


@dataclass(frozen=True)
class Outcome:
    """What one failed login did to its bucket."""

    counted: bool
    repeated: bool = False
    lock_seconds: int | None = None
    lock_reason: str | None = None


def password_digest(key: bytes, account_id: int, password: str) -> str:
    """A keyed hash of a wrong password, enough to recognise it repeated; never the password."""
    digest = hmac.new(key, f"{account_id}\x00{password}".encode(), hashlib.sha256).hexdigest()
    return digest[:DIGEST_HEX_DIGITS]


def end_if_over(state: BucketState, now: datetime) -> str | None:
    """Clear a lockout that has run out; its reason if one did (for the event), else None."""
    if state.locked_until is None or state.locked(now):
        return None
    reason = state.lock_reason or "lockout"
    state.locked_until = None
    state.lock_reason = None
    return reason


def record_failure(policy: Policy, bucket: str, state: BucketState, digest: str, now: datetime) -> Outcome:
    """Count one wrong password against ``bucket`` (changing ``state``) and say what it did."""
    if state.locked(now):
        return Outcome(counted=False)  # refused, never counted: it must not extend or escalate anything
    forget = timedelta(seconds=policy.forget_after_seconds)
    if state.last_failure_at is not None and policy.forget_after_seconds and now - state.last_failure_at >= forget:
        state.failures, state.recent_digests = 0, ()
    if policy.repeat_memory and digest in state.recent_digests:
        return Outcome(counted=False, repeated=True)
    if policy.repeat_memory:
        state.recent_digests = (*state.recent_digests, digest)[-policy.repeat_memory :]
    state.failures += 1
    state.last_failure_at = now
    seconds: int | None = None
    reason: str | None = None
    if policy.failure_limit and state.failures >= policy.failure_limit:
        doublings = state.failures - policy.failure_limit
        seconds = growing_lockout(policy.lockout_seconds, policy.lockout_max_seconds, doublings)
        reason = f"{state.failures} different wrong passwords from {bucket} addresses"
    if bucket == UNFAMILIAR and policy.hourly_limit:
        if state.window_started_at is None or now - state.window_started_at >= HOUR:
            state.window_started_at, state.window_failures = now, 0
        state.window_failures += 1
        if state.window_failures >= policy.hourly_limit:
            rest = math.ceil((state.window_started_at + HOUR - now).total_seconds())
            if seconds is None or rest > seconds:
                seconds = rest
                reason = f"{state.window_failures} wrong passwords within the hour from unfamiliar addresses"
    if seconds:
        state.locked_until = now + timedelta(seconds=seconds)
        state.lock_reason = reason
        return Outcome(counted=True, lock_seconds=seconds, lock_reason=reason)
    return Outcome(counted=True)


def record_success(bucket: str, state: BucketState) -> bool:
    """A right password from ``bucket``; True when the state changed.

    Only the familiar bucket is reset: a success from a new address (which becomes familiar) must
    not wipe what strangers have spent of their budget, and the school's own success never does.
    """
    if bucket != FAMILIAR or (not state.failures and not state.recent_digests):
        return False
    state.failures, state.recent_digests = 0, ()
    return True


@dataclass
class FamiliarTouches:
    """Which (account, address) pairs this process has recorded as in use, and when.

    The warm login path serves a call without a database write only from an address this worker
    recorded within ``touch_seconds``: then it knows the address is familiar, and the database's
    ``last_seen_at`` is at most that old. Bounded: the least recently touched pairs go first.
    """

    touch_seconds: float
    max_entries: int = 50_000
    _touched: OrderedDict[tuple[int, str], datetime] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self, account_id: int, address: str, now: datetime) -> bool:
        with self._lock:
            touched = self._touched.get((account_id, address))
        return touched is not None and timedelta(0) <= now - touched < timedelta(seconds=self.touch_seconds)

    def note(self, account_id: int, address: str, now: datetime) -> None:
        with self._lock:
            self._touched[(account_id, address)] = now
            self._touched.move_to_end((account_id, address))
            while len(self._touched) > self.max_entries:
                self._touched.popitem(last=False)

    def forget(self, account_id: int) -> None:
        with self._lock:
            for key in [k for k in self._touched if k[0] == account_id]:
                del self._touched[key]
