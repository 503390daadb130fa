"""Smart lockout's rules on a fake clock: buckets apart, a repeated password counted once, no
counting during a lockout, the hourly budget for strangers; and through the login path, a school's
own address is never locked by strangers (issue 11)."""

from __future__ import annotations

import pytest
from sec_support import events_of, new_school
from support import make_settings

from eproc.services import accounts, authentication
from eproc.services.clock import ManualClock
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub
from eproc.services.smart_lockout import (
    FAMILIAR,
    UNFAMILIAR,
    BucketState,
    FamiliarTouches,
    Policy,
    end_if_over,
    password_digest,
    record_failure,
    record_success,
)

POLICY = Policy(failure_limit=5, lockout_seconds=60, lockout_max_seconds=3600, hourly_limit=20,
                repeat_memory=5, forget_after_seconds=86400)
KEY = b"k" * 32
PASSWORD = "smart-lockout-password-1"


def digest(password: str) -> str:
    return password_digest(KEY, 1, password)


def test_the_limit_locks_the_bucket_and_attempts_while_locked_are_not_counted() -> None:
    clock, state = ManualClock(), BucketState()
    outcomes = [record_failure(POLICY, UNFAMILIAR, state, digest(f"g{n}"), clock.now()) for n in range(5)]
    assert [o.lock_seconds for o in outcomes] == [None] * 4 + [60]
    assert outcomes[-1].lock_reason == "5 different wrong passwords from unfamiliar addresses"
    locked_until = state.locked_until
    clock.advance(seconds=59)
    for n in range(10):
        assert not record_failure(POLICY, UNFAMILIAR, state, digest(f"during{n}"), clock.now()).counted
    assert (state.failures, state.locked_until) == (5, locked_until)  # neither extended nor escalated
    clock.advance(seconds=2)
    assert end_if_over(state, clock.now()) == "5 different wrong passwords from unfamiliar addresses"
    assert record_failure(POLICY, UNFAMILIAR, state, digest("after"), clock.now()).lock_seconds == 120


def test_a_repeated_wrong_password_counts_once() -> None:
    clock, state = ManualClock(), BucketState()
    first = record_failure(POLICY, FAMILIAR, state, digest("stale"), clock.now())
    repeats = [record_failure(POLICY, FAMILIAR, state, digest("stale"), clock.now()) for _ in range(50)]
    assert first.counted and not any(o.counted for o in repeats) and all(o.repeated for o in repeats)
    assert state.failures == 1 and state.locked_until is None
    # Only a keyed hash of the last few is kept: an old one, pushed out, counts again.
    unlimited = Policy(failure_limit=0, lockout_seconds=60, lockout_max_seconds=3600, hourly_limit=0,
                       repeat_memory=5, forget_after_seconds=86400)
    for n in range(5):
        record_failure(unlimited, FAMILIAR, state, digest(f"other{n}"), clock.now())
    assert digest("stale") not in state.recent_digests
    assert record_failure(unlimited, FAMILIAR, state, digest("stale"), clock.now()).counted


def test_the_digest_is_keyed_and_per_account() -> None:
    assert password_digest(KEY, 1, "x") != password_digest(b"j" * 32, 1, "x")
    assert password_digest(KEY, 1, "x") != password_digest(KEY, 2, "x")
    assert len(password_digest(KEY, 1, "x")) == 16


def test_the_hourly_budget_bounds_strangers_whatever_the_lockouts() -> None:
    policy = Policy(failure_limit=0, lockout_seconds=60, lockout_max_seconds=3600, hourly_limit=20,
                    repeat_memory=5, forget_after_seconds=86400)
    clock, state = ManualClock(), BucketState()
    counted = 0
    for n in range(3 * 3600 // 10):  # a guess every 10 s for 3 hours
        counted += record_failure(policy, UNFAMILIAR, state, digest(f"g{n}"), clock.now()).counted
        clock.advance(seconds=10)
    assert counted == 3 * 20
    # The familiar bucket has no hourly budget: the school's own typos are bounded by the limit alone.
    assert not record_failure(policy, FAMILIAR, BucketState(), digest("x"), clock.now()).lock_seconds


def test_success_resets_only_the_familiar_bucket_and_quiet_buckets_are_forgotten() -> None:
    clock = ManualClock()
    familiar, unfamiliar = BucketState(), BucketState()
    for n in range(3):
        record_failure(POLICY, FAMILIAR, familiar, digest(f"f{n}"), clock.now())
        record_failure(POLICY, UNFAMILIAR, unfamiliar, digest(f"u{n}"), clock.now())
    assert record_success(FAMILIAR, familiar) and familiar.failures == 0
    assert not record_success(UNFAMILIAR, unfamiliar) and unfamiliar.failures == 3
    clock.advance(days=1)
    record_failure(POLICY, UNFAMILIAR, unfamiliar, digest("later"), clock.now())
    assert unfamiliar.failures == 1


def test_familiar_touches_are_fresh_for_the_touch_period_only() -> None:
    clock = ManualClock()
    touches = FamiliarTouches(touch_seconds=300, max_entries=2)
    touches.note(1, "192.0.2.1", clock.now())
    assert touches.fresh(1, "192.0.2.1", clock.now()) and not touches.fresh(2, "192.0.2.1", clock.now())
    clock.advance(seconds=301)
    assert not touches.fresh(1, "192.0.2.1", clock.now())
    touches.note(1, "a", clock.now())
    touches.note(1, "b", clock.now())
    touches.note(1, "c", clock.now())
    assert not touches.fresh(1, "a", clock.now())  # bounded: the oldest went first


def login(hub: Hub, username: str, password: str, address: str) -> bool:
    try:
        authentication.authenticate(hub, username, password, address)
    except AuthenticationFailed:
        return False
    return True


@pytest.fixture
def clocked(database_url: str) -> tuple[Hub, ManualClock]:
    clock = ManualClock()
    return build_hub(make_settings(database_url), clock=clock), clock


def test_strangers_never_lock_the_schools_own_address(clocked: tuple[Hub, ManualClock]) -> None:
    hub, clock = clocked
    username, _ = new_school(hub, PASSWORD)
    assert login(hub, username, PASSWORD, "192.0.2.1")
    for n in range(200):
        assert not login(hub, username, f"g{n}", f"198.51.100.{n % 50}")
        assert login(hub, username, PASSWORD, "192.0.2.1")
        clock.advance(seconds=20)
    assert not login(hub, username, PASSWORD, "198.51.100.7")  # strangers are locked, right password or not
    view = accounts.show_account(hub, username)
    assert [b.failures for b in view.buckets][0] == 0
    # The school's successes never reset what strangers spent: within any hour, at most the budget.
    counted = [e for e in events_of(hub, "login.failed")
               if e.subject == username and '"counted": true' in (e.data or "")]
    assert len(counted) <= 20 * 2  # 200 guesses over 67 minutes: two hourly windows at most


def test_the_familiar_lockout_ends_caches_and_is_recorded(clocked: tuple[Hub, ManualClock]) -> None:
    hub, clock = clocked
    username, _ = new_school(hub, PASSWORD)
    assert login(hub, username, PASSWORD, "192.0.2.1")
    for n in range(5):
        assert not login(hub, username, f"g{n}", "192.0.2.1")
    assert not login(hub, username, PASSWORD, "192.0.2.1")  # remembered, but its bucket is locked
    clock.advance(seconds=61)
    assert login(hub, username, PASSWORD, "192.0.2.1")
    [ended] = events_of(hub, "account.lock_ended")
    assert "familiar addresses over" in (ended.detail or "")
    assert accounts.show_account(hub, username).buckets[0].failures == 0


def test_a_warm_success_from_a_familiar_address_writes_nothing(clocked: tuple[Hub, ManualClock]) -> None:
    hub, clock = clocked
    username, _ = new_school(hub, PASSWORD)
    assert login(hub, username, PASSWORD, "192.0.2.1")
    statements: list[str] = []

    from sqlalchemy import event

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(hub.store.engine, "before_cursor_execute", seen)
    try:
        for _ in range(20):
            clock.advance(seconds=5)
            assert login(hub, username, PASSWORD, "192.0.2.1")
    finally:
        event.remove(hub.store.engine, "before_cursor_execute", seen)
    assert statements and set(statements) == {"SELECT"}
    clock.advance(seconds=300)
    assert login(hub, username, PASSWORD, "192.0.2.1")  # past the touch period: one write, then warm again
