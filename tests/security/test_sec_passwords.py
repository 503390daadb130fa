"""Password storage: argon2id with the configured cost, upgraded on login when the cost changes;
generated passwords drawn from ``secrets``; and no password in plain text anywhere."""

from __future__ import annotations

import secrets
import string

import pytest
from sec_support import (
    account_row,
    auth_header,
    call,
    database_text,
    envelope,
    new_school,
    post,
    sqlite_file_bytes,
)
from support import make_settings, run_cli, start_server

from eproc.config import Settings
from eproc.services import accounts, authentication, passwords
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import build_hub

PASSWORD = "Known-Plaintext-Marker-7731"


def test_default_parameters_are_argon2id_at_production_cost() -> None:
    context = passwords.crypt_context(Settings())
    hashed = context.hash(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in hashed
    assert context.verify(PASSWORD, hashed)


def test_configured_parameters_are_used(database_url: str) -> None:
    hub = build_hub(make_settings(database_url, EPROC_ARGON2_TIME_COST="2", EPROC_ARGON2_MEMORY_COST="2048"))
    username, _ = new_school(hub, PASSWORD)
    assert account_row(hub, username).password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")


def test_hash_is_upgraded_on_the_next_successful_login_when_the_cost_changes(database_url: str) -> None:
    old_hub = build_hub(make_settings(database_url))  # the cheap test cost: m=1024, t=1
    username, _ = new_school(old_hub, PASSWORD)
    old_hash = account_row(old_hub, username).password_hash
    assert old_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    new_hub = build_hub(make_settings(database_url, EPROC_ARGON2_TIME_COST="2", EPROC_ARGON2_MEMORY_COST="2048"))

    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(new_hub, username, PASSWORD + "-wrong")
    assert account_row(new_hub, username).password_hash == old_hash  # a failure upgrades nothing

    version = account_row(new_hub, username).credential_version
    authentication.authenticate(new_hub, username, PASSWORD)
    upgraded = account_row(new_hub, username)
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    assert upgraded.credential_version == version  # same password: nothing for the caches to drop
    new_hub.credentials.clear()
    authentication.authenticate(new_hub, username, PASSWORD)
    assert account_row(new_hub, username).password_hash == upgraded.password_hash  # upgraded once, not every time
    # A hash carries its own parameters: a worker still on the old settings verifies it too.
    authentication.authenticate(old_hub, username, PASSWORD)


def test_an_argon2i_hash_is_upgraded_to_argon2id(database_url: str) -> None:
    hub = build_hub(make_settings(database_url))
    username, _ = new_school(hub, PASSWORD)
    from passlib.hash import argon2

    legacy = argon2.using(type="i", rounds=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with hub.unit_of_work() as uow:
        uow.accounts.by_username(username).password_hash = legacy  # type: ignore[union-attr]
        uow.commit()
    authentication.authenticate(hub, username, PASSWORD)
    assert account_row(hub, username).password_hash.startswith("$argon2id$")


def _assert_generated(password: str) -> None:
    assert len(password) >= 20
    assert set(password) <= set(string.ascii_letters + string.digits)


def test_generated_passwords_are_long_letters_and_digits_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []
    real_choice = secrets.choice

    def recording_choice(alphabet: str) -> str:
        drawn.append(alphabet)
        return real_choice(alphabet)

    monkeypatch.setattr(secrets, "choice", recording_choice)
    password = passwords.generate_password()
    _assert_generated(password)
    assert len(drawn) >= len(password)  # every character came from the CSPRNG
    monkeypatch.undo()
    sample = {passwords.generate_password() for _ in range(2000)}
    assert len(sample) == 2000
    for password in sample:
        _assert_generated(password)
    # Every letter and digit turns up: the whole alphabet is in use, not a subset.
    assert set("".join(sample)) == set(string.ascii_letters + string.digits)


def test_every_generated_password_is_long_letters_and_digits(hub) -> None:  # type: ignore[no-untyped-def]
    username, created = new_school(hub)
    _assert_generated(created)
    principal = authentication.authenticate(hub, username, created)
    changed = authentication.change_password(hub, principal)
    _assert_generated(changed)
    reset = accounts.reset_password(hub, username)
    _assert_generated(reset)
    assert len({created, changed, reset}) == 3


@pytest.mark.e2e
def test_no_password_in_plain_text_anywhere(database_url: str) -> None:
    """Run a real server through logins, failures, a lockout, ChangePassword, malformed requests and an
    admin reset, all carrying known passwords; then look for them everywhere they could land."""
    hub = build_hub(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="3"))
    username, _ = new_school(hub, PASSWORD)
    wrong = "Wrong-Plaintext-Marker-5519"
    server = start_server(
        database_url, "--workers", "1", env={"EPROC_LOGIN_FAILURE_LIMIT": "3", "EPROC_LOGIN_ADDRESS_FAILURE_LIMIT": "0"}
    )
    secrets_seen = [PASSWORD, wrong]
    try:
        assert call(server.endpoint, "FetchIndex", username, PASSWORD).status == 200
        changed = call(server.endpoint, "ChangePassword", username, PASSWORD).result("ChangePassword")
        secrets_seen.append(changed)
        assert call(server.endpoint, "FetchIndex", username, changed).status == 200
        for n in range(4):  # past the limit: a lockout, and refusals while locked (different: a repeat counts once)
            assert call(server.endpoint, "FetchIndex", username, f"{wrong}-{n}").fault()[1].startswith("Authentication")
        assert call(server.endpoint, "FetchIndex", "nobody-at-all", wrong).status == 500
        # Malformed: the parser's error paths see the whole body, password and all.
        broken = envelope("FetchIndex", "<unclosed>", auth_header(username, wrong))
        assert post(server.endpoint, broken).status == 500
        invalid = envelope(
            "UpdateDocumentStatus", "<DocID>X</DocID><Processed>maybe</Processed>", auth_header(username, wrong)
        )
        assert post(server.endpoint, invalid, "UpdateDocumentStatus").status == 500
        reset = accounts.reset_password(hub, username)
        secrets_seen.append(reset)
        assert call(server.endpoint, "FetchIndex", username, reset).status == 200
    finally:
        server.stop()
    log = "".join(server.log)
    assert "Booting worker" in log  # the log was captured
    shown_run, events_run = run_cli(database_url, "account", "show", username), run_cli(database_url, "events")
    assert (shown_run.returncode, events_run.returncode) == (0, 0), shown_run.stderr + events_run.stderr
    shown, events = shown_run.stdout, events_run.stdout
    assert "account.locked" in events and "account.password_changed" in events
    everything = {"server log": log, "account show": shown, "events": events, "database": database_text(database_url)}
    for secret in secrets_seen:
        for where, text in everything.items():
            assert secret not in text, f"a password is in the {where}"
    assert "$argon2" not in shown  # not even the hash
    if database_url.startswith("sqlite"):
        raw = sqlite_file_bytes(database_url)
        for secret in secrets_seen:
            assert secret.encode() not in raw
