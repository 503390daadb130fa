"""The one lockout rule, shared by the username lockout and the address throttle."""

from __future__ import annotations

from datetime import datetime

# Past this the doubling of a lockout stops (the configured maximum caps it long before).
MAX_LOCKOUT_DOUBLINGS = 16


def growing_lockout(base_seconds: float, max_seconds: float, doublings: int) -> int:
    """A lockout twice as long as the last, ``doublings`` times over, never past ``max_seconds``.

    A patient guesser gets one try per period, and the periods double up to the maximum.
    """
    return int(min(base_seconds * 2 ** min(max(doublings, 0), MAX_LOCKOUT_DOUBLINGS), max_seconds))


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def seconds_left(locked_until: datetime | None, now: datetime) -> int:
    """Whole seconds until a lockout ends (rounded up), 0 when not locked."""
    if locked_until is None or not is_locked(locked_until, now):
        return 0
    return int((locked_until - now).total_seconds()) + 1
