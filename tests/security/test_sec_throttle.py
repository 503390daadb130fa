"""Failed-login limits by client address: a window shared by every worker, a growing refusal, IPv6
counted by /64, the proxy header believed only when configured; refusals read exactly as a wrong
password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sec_support import AUTH_FAULT, auth_header, call, envelope, events_of, new_school, post
from support import in_process_service, make_settings

from eproc.services import authentication
from eproc.services.errors import AuthenticationFailed
from eproc.services.hub import Hub, build_hub
from eproc.services.throttle import AddressThrottle, network_key
from eproc.soap.endpoint import client_address

PASSWORD = "throttle-test-password-1"


T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def throttle_of(hub: Hub, limit: int, window: float, lockout: float, max_lockout: float) -> AddressThrottle:
    return AddressThrottle(hub.store, limit, window, lockout, max_lockout)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_limit_within_the_window_refuses_an_address(hub: Hub) -> None:
    throttle = throttle_of(hub, 3, 60, 10, 100)
    assert throttle.record_failure("192.0.2.1", at(0)) is None
    assert throttle.record_failure("192.0.2.1", at(1)) is None
    assert not throttle.is_blocked("192.0.2.1", at(1))
    assert throttle.record_failure("192.0.2.1", at(2)) == 10
    assert throttle.is_blocked("192.0.2.1", at(2))
    assert not throttle.is_blocked("192.0.2.2", at(2))
    assert not throttle.is_blocked("192.0.2.1", at(12.5))


def test_the_count_is_shared_by_every_worker(hub: Hub) -> None:
    """Changed with issue 11: each worker used to count on its own (workers x limit per window)."""
    workers = [throttle_of(build_hub(hub.settings), 3, 60, 10, 100) for _ in range(3)]
    assert [w.record_failure("192.0.2.1", at(n)) for n, w in enumerate(workers)] == [None, None, 10]
    assert all(w.is_blocked("192.0.2.1", at(3)) for w in workers)


def test_failures_leave_with_their_window(hub: Hub) -> None:
    """A fixed window from its first failure (it was a sliding one per worker before issue 11)."""
    throttle = throttle_of(hub, 3, 60, 10, 100)
    throttle.record_failure("192.0.2.1", at(0))
    throttle.record_failure("192.0.2.1", at(40))
    assert throttle.record_failure("192.0.2.1", at(80)) is None  # a new window started at 80
    assert not throttle.is_blocked("192.0.2.1", at(80))


def test_refusals_grow_and_stop_at_the_maximum(hub: Hub) -> None:
    throttle = throttle_of(hub, 2, 60, 10, 100)
    periods = []
    now = 0.0
    for _ in range(6):
        throttle.record_failure("192.0.2.1", at(now))
        periods.append(throttle.record_failure("192.0.2.1", at(now)))
        assert throttle.record_failure("192.0.2.1", at(now)) is None  # while refused, nothing more is counted
        now += periods[-1] + 1  # type: ignore[operator]
    assert periods == [10, 20, 40, 80, 100, 100]
    now += 1000  # quiet for longer than any refusal: the next one starts small again
    throttle.record_failure("192.0.2.1", at(now))
    assert throttle.record_failure("192.0.2.1", at(now)) == 10


def test_addresses_long_quiet_are_forgotten_and_zero_turns_it_off(hub: Hub) -> None:
    throttle = throttle_of(hub, 2, 60, 10, 100)
    for n in range(50):
        throttle.record_failure(f"10.0.0.{n}", at(0))
    throttle.record_failure("192.0.2.1", at(1000))
    assert throttle.record_failure("192.0.2.1", at(1000)) == 10  # a refusal starts: a moment to tidy up
    assert throttle.clear() == 1  # only the refused address was left
    assert throttle_of(hub, 0, 60, 10, 100).record_failure("192.0.2.1", at(0)) is None  # 0 turns it off


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not-an-address", "not-an-address"),
        (None, None),
        ("", None),
    ],
)
def test_addresses_are_counted_by_ipv4_address_or_ipv6_slash_64(address: str | None, key: str | None) -> None:
    assert network_key(address) == key


@pytest.mark.parametrize(
    ("header", "environ", "expected"),
    [
        ("", {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "192.0.2.1"),
        ("X-Forwarded-For", {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5"}, "203.0.113.5"),
        # The last entry is the one our proxy added; earlier ones are whatever the client claimed.
        (
            "X-Forwarded-For",
            {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.5"},
            "203.0.113.5",
        ),
        ("X-Forwarded-For", {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "garbage"}, "192.0.2.1"),
        ("X-Forwarded-For", {"REMOTE_ADDR": "192.0.2.1"}, "192.0.2.1"),
        ("X-Real-IP", {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_REAL_IP": "[2001:db8::5]:443"}, "2001:db8::5"),
        ("X-Real-IP", {"REMOTE_ADDR": "192.0.2.1", "HTTP_X_REAL_IP": "203.0.113.5:4711"}, "203.0.113.5"),
        ("Forwarded", {"REMOTE_ADDR": "192.0.2.1", "HTTP_FORWARDED": 'for="[2001:db8::5]"'}, "2001:db8::5"),
        ("", {}, None),
    ],
)
def test_client_address_believes_the_proxy_header_only_when_configured(
    header: str, environ: dict, expected: str | None
) -> None:
    assert client_address(environ, header) == expected


@pytest.fixture
def throttled_hub(database_url: str) -> Hub:
    return build_hub(make_settings(database_url, EPROC_LOGIN_ADDRESS_FAILURE_LIMIT="4"))


def test_password_spraying_from_one_address_is_stopped(throttled_hub: Hub) -> None:
    """One guess each against many usernames: no username limit is reached, the address limit is."""
    username, _ = new_school(throttled_hub, PASSWORD)
    victims = [new_school(throttled_hub, PASSWORD + "-other")[0] for _ in range(4)]
    for victim in victims:
        with pytest.raises(AuthenticationFailed):
            authentication.authenticate(throttled_hub, victim, "Spring2026!", "203.0.113.9")
    # The sprayer's address is refused even with right credentials; nobody else is.
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(throttled_hub, username, PASSWORD, "203.0.113.9")
    authentication.authenticate(throttled_hub, username, PASSWORD, "203.0.113.10")
    [locked] = events_of(throttled_hub, "login.address_locked")
    assert (locked.subject, locked.account_id) == ("203.0.113.9", None)
    assert locked.detail == "client address refused for 60s after 4 failed logins within 600s"
    last = events_of(throttled_hub, "login.failed")[-1]
    assert last.detail == "client address refused after repeated failures; from 203.0.113.9"


def test_an_ipv6_sprayer_cannot_step_around_the_limit_within_its_slash_64(throttled_hub: Hub) -> None:
    username, _ = new_school(throttled_hub, PASSWORD)
    for n in range(4):
        with pytest.raises(AuthenticationFailed):
            authentication.authenticate(throttled_hub, f"nobody-{n}", "guess", f"2001:db8:7:7::{n + 1}")
    with pytest.raises(AuthenticationFailed):
        authentication.authenticate(throttled_hub, username, PASSWORD, "2001:db8:7:7::ffff")
    authentication.authenticate(throttled_hub, username, PASSWORD, "2001:db8:7:8::1")


def test_a_refused_address_costs_no_verify(throttled_hub: Hub) -> None:
    username, _ = new_school(throttled_hub, PASSWORD)
    for n in range(4):
        with pytest.raises(AuthenticationFailed):
            authentication.authenticate(throttled_hub, f"nobody-{n}", "guess", "203.0.113.9")

    def no_verify(*args: object) -> bool:
        raise AssertionError("an argon2 verify for a refused address")

    throttled_hub.crypt.verify = no_verify  # type: ignore[method-assign]
    throttled_hub.crypt.verify_and_update = no_verify  # type: ignore[method-assign]
    for _ in range(50):
        with pytest.raises(AuthenticationFailed):
            authentication.authenticate(throttled_hub, username, PASSWORD, "203.0.113.9")


@pytest.mark.parametrize("trusted", [True, False])
def test_the_proxy_header_decides_the_address_only_when_configured(database_url: str, trusted: bool) -> None:
    hub = build_hub(make_settings(database_url))
    username, _ = new_school(hub, PASSWORD)
    env = {"EPROC_LOGIN_ADDRESS_FAILURE_LIMIT": "3"}
    if trusted:
        env["EPROC_TRUSTED_PROXY_HEADER"] = "X-Forwarded-For"
    # Every request comes from the peer 127.0.0.1, as it does through a proxy on the same host.
    server = in_process_service(make_settings(database_url, **env))
    for n in range(3):
        reply = call(
            server.endpoint, "FetchIndex", f"nobody-{n}", "guess", headers={"X-Forwarded-For": "198.51.100.66"}
        )
        assert reply.fault() == ("soap:Client", AUTH_FAULT)
    sprayer = call(server.endpoint, "FetchIndex", username, PASSWORD, headers={"X-Forwarded-For": "198.51.100.66"})
    assert sprayer.fault() == ("soap:Client", AUTH_FAULT)
    assert sprayer.body == reply.body  # a refused address reads exactly as a wrong password
    # Another client behind the same proxy: served when the proxy's header is believed. When it
    # is not, every request comes from 127.0.0.1, which is the address that was refused.
    other = call(server.endpoint, "FetchIndex", username, PASSWORD, headers={"X-Forwarded-For": "198.51.100.67"})
    if trusted:
        assert other.status == 200
        subjects = {e.subject for e in events_of(hub, "login.address_locked")}
        assert subjects == {"198.51.100.66"}
    else:
        assert other.fault() == ("soap:Client", AUTH_FAULT)
        assert {e.subject for e in events_of(hub, "login.address_locked")} == {"127.0.0.1"}


def test_a_missing_auth_header_counts_as_a_failed_login(database_url: str) -> None:
    hub = build_hub(make_settings(database_url))
    server = in_process_service(hub.settings)
    reply = post(server.endpoint, envelope("FetchIndex"))
    assert reply.fault() == ("soap:Client", AUTH_FAULT)
    empty = post(server.endpoint, envelope("FetchIndex", header=auth_header("", "")))
    assert empty.fault() == ("soap:Client", AUTH_FAULT)
    assert [(e.subject, e.detail) for e in events_of(hub, "login.failed")] == [
        ("(none)", "malformed username; from 127.0.0.1"),
        ("(none)", "malformed username; from 127.0.0.1"),
    ]
