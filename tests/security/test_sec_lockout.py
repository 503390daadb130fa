"""Failed-login limits by account: a growing lockout, counted atomically across workers, every
failure and lockout an event, the same refusal as a wrong password; shown and lifted by the CLI.

Since the smart lockout (issue 11) these count *different* wrong passwords (a repeated one counts
once), attempts during a lockout are not counted, and the calls here without an address come from
the "unknown" address, which is unfamiliar until the account has logged in from it."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sec_support import AUTH_FAULT, account_row, call, events_of, new_school
from support import CliResult, in_process_service, make_settings, run_cli

from eproc.services import accounts, authentication
from eproc.services.clock import ManualClock
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub

PASSWORD = "lockout-test-password-1"


def refused(hub: Hub, username: str, password: str, address: str | None = None) -> bool:
    try:
        authentication.authenticate(hub, username, password, address)
    except AuthenticationFailed:
        return True
    return False


def limited(database_url: str, clock: ManualClock | None = None) -> Hub:
    settings = make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="3", EPROC_LOGIN_LOCKOUT_SECONDS="60",
                             EPROC_LOGIN_UNFAMILIAR_HOURLY_LIMIT="0")
    return build_hub(settings, clock=clock)


def bucket(hub: Hub, username: str, name: str) -> accounts.BucketView:
    return next(b for b in accounts.show_account(hub, username).buckets if b.bucket == name)


GUESSES = iter(f"guess-{n}" for n in range(1_000_000))


@pytest.fixture
def limited_hub(database_url: str) -> Hub:
    return limited(database_url)


def test_the_limit_locks_the_account_and_the_right_password_is_refused_too(limited_hub: Hub) -> None:
    username, _ = new_school(limited_hub, PASSWORD)
    assert not refused(limited_hub, username, PASSWORD)  # the "unknown" address is now familiar
    for _ in range(2):
        assert refused(limited_hub, username, next(GUESSES))
    assert account_row(limited_hub, username).locked_until is None
    assert refused(limited_hub, username, next(GUESSES))
    account = account_row(limited_hub, username)
    assert account.failed_logins == 3 and account.locked_until is not None
    assert refused(limited_hub, username, PASSWORD)
    failed = [e for e in events_of(limited_hub, "login.failed") if e.subject == username]
    assert [e.detail for e in failed] == ["wrong password"] * 3 + ["account locked for familiar addresses"]
    [locked] = events_of(limited_hub, "account.locked")
    assert (locked.subject, locked.detail) == (
        username, "familiar addresses locked for 60s: 3 different wrong passwords from familiar addresses"
    )
    assert locked.account_id == account.id


def test_a_successful_login_resets_the_count(limited_hub: Hub) -> None:
    username, _ = new_school(limited_hub, PASSWORD)
    assert not refused(limited_hub, username, PASSWORD)
    for _ in range(2):
        refused(limited_hub, username, next(GUESSES))
    assert not refused(limited_hub, username, PASSWORD)
    assert account_row(limited_hub, username).failed_logins == 0
    for _ in range(2):
        refused(limited_hub, username, next(GUESSES))
    # Answered from the cache this time, and still resets the count.
    assert not refused(limited_hub, username, PASSWORD)
    assert account_row(limited_hub, username).failed_logins == 0


def test_the_lockout_grows_with_each_failure_after_the_limit(database_url: str) -> None:
    clock = ManualClock()
    limited_hub = limited(database_url, clock)
    username, _ = new_school(limited_hub, PASSWORD)
    periods = []
    for _ in range(3):
        refused(limited_hub, username, next(GUESSES))
    for _ in range(4):
        locked_until = bucket(limited_hub, username, "unfamiliar").locked_until
        assert locked_until is not None
        periods.append(round((locked_until - clock.now()).total_seconds()))
        clock.set(locked_until + timedelta(seconds=1))
        refused(limited_hub, username, next(GUESSES))  # the one try a patient guesser gets per period
    assert periods == [60, 120, 240, 480]
    clock.set(bucket(limited_hub, username, "unfamiliar").locked_until + timedelta(seconds=1))
    assert not refused(limited_hub, username, PASSWORD)  # once a lockout ends, the right password works
    ended = events_of(limited_hub, "account.lock_ended")
    assert ended and all("unfamiliar" in e.detail for e in ended)


def test_attempts_while_locked_are_refused_and_neither_extend_nor_lengthen_it(database_url: str) -> None:
    """Changed by the smart lockout: attempts during a lockout used to count (and so lengthen the
    next one); now they are refused and not counted, or a locked school's own polls escalate it."""
    clock = ManualClock()
    limited_hub = limited(database_url, clock)
    username, _ = new_school(limited_hub, PASSWORD)
    for _ in range(3):
        refused(limited_hub, username, next(GUESSES))
    first = bucket(limited_hub, username, "unfamiliar").locked_until
    clock.set(clock.now() + timedelta(seconds=59))
    for _ in range(3):
        assert refused(limited_hub, username, PASSWORD)  # even the right password, a second before the end
        assert refused(limited_hub, username, next(GUESSES))
    assert bucket(limited_hub, username, "unfamiliar").locked_until == first  # not extended while locked
    assert bucket(limited_hub, username, "unfamiliar").failures == 3
    clock.set(first + timedelta(seconds=1))
    refused(limited_hub, username, next(GUESSES))
    locked_until = bucket(limited_hub, username, "unfamiliar").locked_until
    assert round((locked_until - clock.now()).total_seconds()) == 120  # the 4th counted failure: one doubling


def test_the_lockout_never_exceeds_the_maximum(database_url: str) -> None:
    clock = ManualClock()
    settings = make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="1", EPROC_LOGIN_LOCKOUT_MAX_SECONDS="300",
                             EPROC_LOGIN_UNFAMILIAR_HOURLY_LIMIT="0")
    hub = build_hub(settings, clock=clock)
    username, _ = new_school(hub, PASSWORD)
    for _ in range(30):
        refused(hub, username, next(GUESSES))
        locked_until = bucket(hub, username, "unfamiliar").locked_until
        assert locked_until is not None and locked_until - clock.now() <= timedelta(seconds=300)
        clock.set(locked_until + timedelta(seconds=1))


def test_concurrent_failures_are_all_counted(database_url: str) -> None:
    """Counted under the account's row lock: no failure is lost to a concurrent one."""
    hub = build_hub(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="1000",
                                  EPROC_LOGIN_UNFAMILIAR_HOURLY_LIMIT="0"))
    username, _ = new_school(hub, PASSWORD)
    threads, per_thread = 8, 6
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def guess() -> None:
        worker = build_hub(hub.settings)  # a worker of its own: its own cache and sessions
        barrier.wait()
        for n in range(per_thread):
            try:
                authentication.authenticate(worker, username, f"guess-{threading.get_ident()}-{n}")
            except AuthenticationFailed:
                continue
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    pool = [threading.Thread(target=guess) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []
    assert bucket(hub, username, "unfamiliar").failures == threads * per_thread
    assert len([e for e in events_of(hub, "login.failed") if e.subject == username]) == threads * per_thread


def test_concurrent_failures_lock_the_account_once(database_url: str) -> None:
    hub = build_hub(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="5"))
    username, _ = new_school(hub, PASSWORD)
    barrier = threading.Barrier(8)

    def guess() -> None:
        worker = build_hub(hub.settings)
        barrier.wait()
        for n in range(3):
            refused(worker, username, f"guess-{threading.get_ident()}-{n}")

    pool = [threading.Thread(target=guess) for _ in range(8)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    # Counted until the lockout started; the attempts after it are refused and not counted.
    assert bucket(hub, username, "unfamiliar").failures == 5
    assert len(events_of(hub, "account.locked")) == 1  # one lockout, not one per worker that saw the limit


def test_failures_without_an_account_are_events_too(hub: Hub) -> None:
    refused(hub, "nobody-here", "guess", "198.51.100.4")
    refused(hub, "x' OR '1'='1", "guess")
    refused(hub, "u" * 1_000_000, "guess")
    refused(hub, "", "")
    events = events_of(hub, "login.failed")
    assert [(e.subject, e.detail) for e in events] == [
        ("nobody-here", "unknown username; from 198.51.100.4"),
        ("x' OR '1'='1", "malformed username"),
        ("u" * 100 + "... (1000000 characters)", "malformed username"),
        ("(none)", "malformed username"),
    ]
    assert all(e.account_id is None for e in events)


def test_a_locked_account_gets_the_wrong_password_fault_over_soap(database_url: str) -> None:
    hub = build_hub(make_settings(database_url))
    username, _ = new_school(hub, PASSWORD)
    server = in_process_service(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="2"))
    wrong = call(server.endpoint, "FetchIndex", username, "guess")
    unknown = call(server.endpoint, "FetchIndex", "nobody-" + username, "guess")
    call(server.endpoint, "FetchIndex", username, "another guess")
    locked = call(server.endpoint, "FetchIndex", username, PASSWORD)
    for reply in (wrong, unknown, locked):
        assert (reply.status, reply.fault()) == (500, ("soap:Client", AUTH_FAULT))
        assert reply.body == wrong.body  # byte for byte: nothing tells a lockout apart
    accounts.unlock(hub, username)
    assert call(server.endpoint, "FetchIndex", username, PASSWORD).status == 200


def _eproc(database_url: str, *args: str) -> CliResult:
    return run_cli(database_url, *args)


def _field(output: str, label: str) -> str:
    for line in output.splitlines():
        if line.startswith(label + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {label!r} in:\n{output}")


def test_account_show_and_unlock_through_the_cli(database_url: str) -> None:
    hub = build_hub(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="5"))
    username, _ = new_school(hub, PASSWORD)
    shown = _eproc(database_url, "account", "show", username)
    assert shown.returncode == 0, shown.stderr
    assert (_field(shown.stdout, "failed logins"), _field(shown.stdout, "locked")) == ("0", "no")
    assert not refused(hub, username, PASSWORD, "192.0.2.80")
    for n in range(5):
        refused(hub, username, f"guess-{n}", f"198.51.100.{n}")
    shown = _eproc(database_url, "account", "show", username).stdout
    assert _field(shown, "failed logins") == "5"
    assert _field(shown, "  from unfamiliar addresses") == "5 in a row, 5 this hour"
    assert _field(shown, "  from familiar addresses") == "0 in a row"
    locked = _field(shown, "locked")
    assert locked.startswith("yes, unfamiliar addresses until ") and "s left): 5 different wrong" in locked, locked
    remaining = int(locked.rsplit("(", 1)[1].split("s left")[0])
    assert 55 <= remaining <= 61
    assert _field(shown, "familiar addresses") == "1"
    assert _field(shown, "  192.0.2.80").startswith("last login ")
    assert PASSWORD not in shown and "$argon2" not in shown and "guess-" not in shown
    as_json = json.loads(_eproc(database_url, "account", "show", "--json", username).stdout)
    assert as_json["locked"] is True
    assert [(b["bucket"], b["failures"], b["locked"]) for b in as_json["buckets"]] == [
        ("familiar", 0, False), ("unfamiliar", 5, True)
    ]
    assert [a["address"] for a in as_json["familiar_addresses"]] == ["192.0.2.80"]

    unlocked = _eproc(database_url, "account", "unlock", username)
    assert (unlocked.returncode, unlocked.stdout.strip()) == (0, f"account {username} unlocked")
    shown = _eproc(database_url, "account", "show", username).stdout
    assert (_field(shown, "failed logins"), _field(shown, "locked")) == ("0", "no")
    assert not refused(hub, username, PASSWORD, "198.51.100.0")
    assert [e.subject for e in events_of(hub, "account.unlocked")] == [username]
    [ended] = events_of(hub, "account.lock_ended")
    assert "unfamiliar addresses lifted by an admin" in ended.detail


def test_unlock_of_an_unknown_account_is_a_one_line_error(database_url: str) -> None:
    result = _eproc(database_url, "account", "unlock", "no-such-school")
    assert result.returncode == 1
    assert result.stderr.strip() == "eproc: error: no account named 'no-such-school'"
