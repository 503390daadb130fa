"""Another worker commits a credential change between a login's password check and its write:
made to happen every time, by doing the change from inside the (slow, in real life) argon2 verify."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sec_support import account_row, new_school
from support import make_settings

from eproc.services import accounts, authentication
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub

PASSWORD = "race-test-password-1"


class Interrupted:
    """A CryptContext whose next verify first lets ``meanwhile`` run, as another worker would."""

    def __init__(self, inner, meanwhile: Callable[[], object]) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.meanwhile: Callable[[], object] | None = meanwhile

    def verify_and_update(self, secret: str, hashed: str):  # type: ignore[no-untyped-def]
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return self.inner.verify_and_update(secret, hashed)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


@pytest.fixture
def workers(database_url: str) -> tuple[Hub, Hub]:
    settings = make_settings(database_url)
    return build_hub(settings), build_hub(settings)


def _changed_password_pending(worker: Hub) -> tuple[str, str, str]:
    """An account just given a new password by ChangePassword, not yet used: (username, old, new)."""
    username, _ = new_school(worker, PASSWORD)
    new_password = authentication.change_password(worker, authentication.authenticate(worker, username, PASSWORD))
    worker.credentials.clear()
    return username, PASSWORD, new_password


def test_a_reset_during_a_login_is_not_overwritten(workers: tuple[Hub, Hub]) -> None:
    this, other = workers
    username, _, new_password = _changed_password_pending(this)
    reset: list[str] = []
    this.crypt = Interrupted(this.crypt, lambda: reset.append(accounts.reset_password(other, username)))  # type: ignore[assignment]
    # The login verified the password the reset has just replaced: it must not succeed on stale
    # data, nor write its stale view (retiring the previous password) over the reset.
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(this, username, new_password)
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(this, username, new_password)  # nothing stale was remembered either
    authentication.authenticate(this, username, reset[0])
    assert account_row(this, username).previous_password_hash is None


def test_a_change_password_during_a_login_keeps_its_grace_slot(workers: tuple[Hub, Hub]) -> None:
    this, other = workers
    username, _, second = _changed_password_pending(this)
    third: list[str] = []

    def change_elsewhere() -> None:
        third.append(authentication.change_password(other, authentication.authenticate(other, username, second)))

    this.crypt = Interrupted(this.crypt, change_elsewhere)  # type: ignore[assignment]
    # Meanwhile `second` became the previous password (in its grace period): that is what it is now.
    assert authentication.authenticate(this, username, second).slot == "previous"
    account = account_row(this, username)
    assert account.previous_password_hash is not None and this.crypt.verify(second, account.previous_password_hash)
    assert authentication.authenticate(this, username, third[0]).slot == "current"
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(this, username, second)  # retired by the use of the third, cache or not


def test_change_password_refuses_a_verification_that_was_overtaken(workers: tuple[Hub, Hub]) -> None:
    this, other = workers
    username, _ = new_school(this, PASSWORD)
    principal = authentication.authenticate(this, username, PASSWORD)
    accounts.set_enabled(other, username, False)
    accounts.set_enabled(other, username, True)
    before = account_row(this, username)
    with pytest.raises(AuthenticationFailed):
        authentication.change_password(this, principal)
    after = account_row(this, username)
    assert (after.password_hash, after.credential_version) == (before.password_hash, before.credential_version)
    # Verified afresh, it goes through.
    authentication.change_password(this, authentication.authenticate(this, username, PASSWORD))
