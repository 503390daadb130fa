"""The verified-credential cache: it saves the argon2 verify on repeated calls, and any change to an
account's credentials (made here, by another worker, or by another process) ends it at once.
Failures are never remembered."""

from __future__ import annotations

import pytest
from sec_support import CREDENTIAL_CHANGES, account_row, change_credentials, new_school
from support import make_settings, run_cli

from eproc.services import accounts, authentication
from eproc.services.clock import ManualClock
from eproc.services.credential_cache import CredentialCache
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub

PASSWORD = "cache-test-password-1"


class CountingCrypt:
    """The hub's CryptContext, counting the verifies that reach argon2."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.verifies = 0

    def verify(self, secret: str, hashed: str) -> bool:
        self.verifies += 1
        return self.inner.verify(secret, hashed)

    def verify_and_update(self, secret: str, hashed: str):  # type: ignore[no-untyped-def]
        self.verifies += 1
        return self.inner.verify_and_update(secret, hashed)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def counting_hub(database_url: str, clock: ManualClock | None = None, **extra: str) -> tuple[Hub, CountingCrypt]:
    hub = build_hub(make_settings(database_url, **extra), clock=clock)
    crypt = CountingCrypt(hub.crypt)
    hub.crypt = crypt  # type: ignore[assignment]
    return hub, crypt


def refused(hub: Hub, username: str, password: str) -> bool:
    try:
        authentication.authenticate(hub, username, password)
    except AuthenticationFailed:
        return True
    return False


@pytest.fixture
def school(database_url: str) -> tuple[Hub, CountingCrypt, str]:
    hub, crypt = counting_hub(database_url)
    username, _ = new_school(hub, PASSWORD)
    return hub, crypt, username


def test_a_repeated_login_costs_no_verify(school) -> None:  # type: ignore[no-untyped-def]
    hub, crypt, username = school
    first = authentication.authenticate(hub, username, PASSWORD)
    assert crypt.verifies == 1
    for _ in range(20):
        assert authentication.authenticate(hub, username, PASSWORD) == first
    assert crypt.verifies == 1


def test_failures_are_never_cached(school) -> None:  # type: ignore[no-untyped-def]
    hub, crypt, username = school
    for attempt in range(1, 4):
        assert refused(hub, username, "not-the-password")
        assert crypt.verifies == attempt  # verified every time, never answered from memory
    authentication.authenticate(hub, username, PASSWORD)
    verifies = crypt.verifies
    # With the right password remembered, a wrong one is still verified, and still refused.
    assert refused(hub, username, PASSWORD + "x")
    assert refused(hub, username, PASSWORD.upper())
    assert crypt.verifies == verifies + 2
    assert len(hub.credentials) == 1


def test_a_reset_password_is_refused_at_once(school) -> None:  # type: ignore[no-untyped-def]
    hub, _, username = school
    authentication.authenticate(hub, username, PASSWORD)
    new_password = accounts.reset_password(hub, username)
    assert refused(hub, username, PASSWORD)
    authentication.authenticate(hub, username, new_password)


def test_a_disabled_account_is_refused_at_once(school) -> None:  # type: ignore[no-untyped-def]
    hub, _, username = school
    authentication.authenticate(hub, username, PASSWORD)
    accounts.set_enabled(hub, username, False)
    assert refused(hub, username, PASSWORD)
    accounts.set_enabled(hub, username, True)
    authentication.authenticate(hub, username, PASSWORD)


def test_a_lockout_is_enforced_at_once(database_url: str) -> None:
    hub, _ = counting_hub(database_url, EPROC_LOGIN_FAILURE_LIMIT="3")
    username, _ = new_school(hub, PASSWORD)
    authentication.authenticate(hub, username, PASSWORD)
    for n in range(3):  # different passwords: a repeated one counts once (issue 11)
        assert refused(hub, username, f"guess-{n}")
    assert account_row(hub, username).locked_until is not None
    assert refused(hub, username, PASSWORD)  # remembered, but the account is locked
    accounts.unlock(hub, username)
    authentication.authenticate(hub, username, PASSWORD)


def test_change_password_moves_the_old_password_to_its_grace_slot_at_once(school) -> None:  # type: ignore[no-untyped-def]
    hub, _, username = school
    assert authentication.authenticate(hub, username, PASSWORD).slot == "current"
    new_password = authentication.change_password(hub, authentication.authenticate(hub, username, PASSWORD))
    # Not the remembered "current": the old password is now the previous one, in its grace period.
    assert authentication.authenticate(hub, username, PASSWORD).slot == "previous"
    assert authentication.authenticate(hub, username, new_password).slot == "current"
    # The new password has been used, so the old one is retired, remembered or not.
    assert refused(hub, username, PASSWORD)


def test_a_previous_password_is_not_remembered_past_its_grace_period(database_url: str) -> None:
    clock = ManualClock()
    hub, crypt = counting_hub(database_url, clock, EPROC_PASSWORD_GRACE_HOURS="1")
    username, _ = new_school(hub, PASSWORD)
    authentication.change_password(hub, authentication.authenticate(hub, username, PASSWORD))
    assert authentication.authenticate(hub, username, PASSWORD).slot == "previous"
    verifies = crypt.verifies
    assert authentication.authenticate(hub, username, PASSWORD).slot == "previous"
    assert crypt.verifies == verifies  # remembered
    clock.advance(hours=1, seconds=1)
    assert refused(hub, username, PASSWORD)


@pytest.mark.parametrize("change", [*CREDENTIAL_CHANGES, "lockout"])
def test_a_change_made_by_another_worker_is_seen_at_once(database_url: str, change: str) -> None:
    """Two hubs on one database are two workers: each has its own cache, they share the account row."""
    worker, crypt = counting_hub(database_url, EPROC_LOGIN_FAILURE_LIMIT="2")
    other, _ = counting_hub(database_url, EPROC_LOGIN_FAILURE_LIMIT="2")
    username, _ = new_school(worker, PASSWORD)
    authentication.authenticate(worker, username, PASSWORD)
    authentication.authenticate(worker, username, PASSWORD)
    assert crypt.verifies == 1  # warm
    if change == "lockout":
        for n in range(2):  # different passwords: a repeated one counts once
            assert refused(other, username, f"guess-{n}")
    else:
        change_credentials(other, username, PASSWORD, change)
    assert refused(worker, username, PASSWORD)


def test_a_change_made_by_the_admin_cli_is_seen_at_once(database_url: str) -> None:
    """The command line builds its own hub from its own settings (as another process does): it shares
    no cache with this one, only the account row."""
    hub, crypt = counting_hub(database_url)
    username, _ = new_school(hub, PASSWORD)
    authentication.authenticate(hub, username, PASSWORD)
    result = run_cli(database_url, "account", "reset-password", username)
    assert result.returncode == 0, result.stderr
    new_password = result.stdout.strip().rsplit(" ", 1)[-1]
    assert refused(hub, username, PASSWORD)
    authentication.authenticate(hub, username, new_password)


def test_no_cache_means_a_verify_on_every_call(database_url: str) -> None:
    hub, crypt = counting_hub(database_url, EPROC_CREDENTIAL_CACHE_SECONDS="0")
    username, _ = new_school(hub, PASSWORD)
    for _ in range(3):
        authentication.authenticate(hub, username, PASSWORD)
    assert crypt.verifies == 3
    assert len(hub.credentials) == 0


def test_entries_expire_after_the_ttl() -> None:
    now = [1000.0]
    cache = CredentialCache(300, clock=lambda: now[0])
    cache.remember(1, 7, "school", "pw", "current")
    assert cache.lookup(1, 7, "school", "pw") == "current"
    assert cache.lookup(1, 8, "school", "pw") is None  # another credential version
    assert cache.lookup(1, 7, "school", "pw2") is None
    assert cache.lookup(2, 7, "school", "pw") is None
    now[0] += 299
    assert cache.lookup(1, 7, "school", "pw") == "current"
    now[0] += 2
    assert cache.lookup(1, 7, "school", "pw") is None


def test_the_cache_is_bounded_and_holds_no_password() -> None:
    cache = CredentialCache(300, max_entries=100)
    for n in range(250):
        cache.remember(n, 1, f"school{n}", f"secret-password-{n}", "current")
    assert len(cache) == 100
    assert cache.lookup(0, 1, "school0", "secret-password-0") is None  # the oldest went first
    assert cache.lookup(249, 1, "school249", "secret-password-249") == "current"
    held = repr(cache._entries)  # noqa: SLF001 - looking inside on purpose
    assert "secret-password" not in held and "school" not in held
