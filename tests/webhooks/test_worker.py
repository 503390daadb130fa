"""The worker against a real receiver, in process, on SQLite and PostgreSQL: signed deliveries,
retries with the same webhook-id, dead letters and manual retry, 410, address checks, the outbox."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from hook_support import FAST, Receiver, running_receiver
from standardwebhooks.webhooks import Webhook
from support import make_settings, new_school

from eproc.services import accounts, webhooks
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub, build_hub
from eproc.webhook_worker import WebhookWorker, retry_delay


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as started:
        yield started


@pytest.fixture
def hook_hub(database_url: str) -> Hub:
    """A hub whose webhook settings suit a test: retries at once, loopback targets allowed."""
    return build_hub(make_settings(database_url, **FAST))


def _drain(hub: Hub, limit: int = 50) -> list[str]:
    """Run the worker until nothing is due; the statuses of the turns it took."""
    worker = WebhookWorker(hub, name="test-worker")
    statuses = []
    for _ in range(limit):
        turns = worker.run_once()
        if not turns:
            return statuses
        statuses += [turn.status for turn in turns]
    raise AssertionError("the worker never ran out of work")


def test_an_account_event_reaches_the_receiver_signed_as_standard_webhooks_verify(
    hook_hub: Hub, receiver: Receiver
) -> None:
    view, secret = webhooks.create_webhook(hook_hub, receiver.url, ["account.created"])
    username, _ = new_school(hook_hub)
    assert _drain(hook_hub) == ["delivered"]
    [request] = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)  # raises if the signature is wrong
    assert payload["type"] == "account.created" and payload["data"]["account"] == username
    assert payload["timestamp"].endswith("Z")
    assert request.headers["webhook-id"].startswith("msg_")
    [delivery] = webhooks.deliveries(hook_hub, view.id)
    assert delivery.status == "delivered" and delivery.message_id == request.headers["webhook-id"]
    assert [a.status_code for a in delivery.history] == [200]


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt_with_the_same_webhook_id(
    hook_hub: Hub, receiver: Receiver
) -> None:
    receiver.answer = lambda n, _r: 503 if n < 2 else 200
    view, _ = webhooks.create_webhook(hook_hub, receiver.url, ["account.created"])
    new_school(hook_hub)
    assert _drain(hook_hub) == ["pending", "pending", "delivered"]
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    bodies = {r.body for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1 and len(bodies) == 1
    [delivery] = webhooks.deliveries(hook_hub, view.id)
    assert delivery.attempts == 3 and [a.status_code for a in delivery.history] == [503, 503, 200]
    assert delivery.history[0].error == "answered 503" and delivery.history[2].error is None


def test_a_receiver_that_always_fails_leaves_a_failed_delivery_that_a_manual_retry_delivers(
    hook_hub: Hub, receiver: Receiver
) -> None:
    healthy = {"now": False}
    receiver.answer = lambda _n, _r: 200 if healthy["now"] else 500
    view, _ = webhooks.create_webhook(hook_hub, receiver.url, ["account.created"])
    new_school(hook_hub)
    assert _drain(hook_hub) == ["pending", "pending", "pending", "failed"]  # 1 + 3 retries
    [dead] = webhooks.deliveries(hook_hub, view.id, failed_only=True)
    assert dead.attempts == 4 and dead.next_attempt_at is None
    healthy["now"] = True
    webhooks.retry_delivery(hook_hub, dead.id)
    assert _drain(hook_hub) == ["delivered"]
    assert webhooks.deliveries(hook_hub, view.id, failed_only=True) == []
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_410_gone_disables_the_endpoint_and_nothing_more_is_sent_to_it(hook_hub: Hub, receiver: Receiver) -> None:
    receiver.answer = lambda _n, _r: 410
    view, _ = webhooks.create_webhook(hook_hub, receiver.url, ["account.created"])
    new_school(hook_hub)
    assert _drain(hook_hub) == ["failed"]
    after = webhooks.get_webhook(hook_hub, view.id)
    assert not after.enabled and "410" in (after.disabled_reason or "")
    new_school(hook_hub)  # a disabled endpoint is owed nothing
    assert _drain(hook_hub) == [] and len(receiver.requests) == 1
    # Enabled again, it gets what happened from then on.
    webhooks.update_webhook(hook_hub, view.id, enabled=True)
    receiver.answer = lambda _n, _r: 200
    new_school(hook_hub)
    assert _drain(hook_hub) == ["delivered"]


def test_a_redirect_is_not_followed(hook_hub: Hub, receiver: Receiver) -> None:
    receiver.answer = lambda _n, _r: 307
    view, _ = webhooks.create_webhook(hook_hub, receiver.url, ["account.created"])
    new_school(hook_hub)
    _drain(hook_hub)
    [delivery] = webhooks.deliveries(hook_hub, view.id)
    assert delivery.status == "failed" and "redirect not followed" in (delivery.history[0].error or "")


def test_a_loopback_target_is_refused_on_its_resolved_address_at_delivery(
    database_url: str, receiver: Receiver
) -> None:
    # Made while private targets were allowed, under a name (not an address literal)...
    allowing = build_hub(make_settings(database_url, **FAST))
    url = receiver.url.replace("127.0.0.1", "localhost")
    view, _ = webhooks.create_webhook(allowing, url, ["account.created"])
    new_school(allowing)
    # ...then delivered by a worker that refuses them: the name resolves to loopback, so no request.
    strict = build_hub(make_settings(database_url, **{**FAST, "EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS": "false"}))
    assert _drain(strict) == ["pending", "pending", "pending", "failed"]
    assert receiver.requests == []
    [delivery] = webhooks.deliveries(strict, view.id)
    assert "refused" in (delivery.last_error or "") and "loopback" in (delivery.last_error or "")
    assert delivery.history[0].status_code is None


def test_an_endpoint_limited_to_accounts_hears_only_theirs(hook_hub: Hub, receiver: Receiver) -> None:
    mine, _ = new_school(hook_hub)
    webhooks.create_webhook(hook_hub, receiver.url, ["account.updated"], usernames=[mine])
    other, _ = new_school(hook_hub)
    accounts.update_account(hook_hub, other, establishment_name="Another School")
    accounts.update_account(hook_hub, mine, establishment_name="My School")
    assert _drain(hook_hub) == ["delivered"]
    assert json.loads(receiver.requests[0].body)["data"]["account"] == mine


def test_deliveries_are_written_in_the_transaction_of_the_change(hook_hub: Hub, receiver: Receiver) -> None:
    view, _ = webhooks.create_webhook(hook_hub, receiver.url, ["account.enabled"])
    with hook_hub.unit_of_work() as uow:
        emit(uow, EventType.ACCOUNT_ENABLED, hook_hub.now(), subject="rolled-back")
        # no commit: the change is rolled back, and its delivery with it
    assert webhooks.deliveries(hook_hub, view.id) == []
    with hook_hub.unit_of_work() as uow:
        emit(uow, EventType.ACCOUNT_ENABLED, hook_hub.now(), subject="committed")
        uow.commit()
    assert [d.event_type for d in webhooks.deliveries(hook_hub, view.id)] == ["account.enabled"]


def test_the_test_ping_goes_to_that_endpoint_only(hook_hub: Hub, receiver: Receiver) -> None:
    first, secret = webhooks.create_webhook(hook_hub, receiver.url + "?first", ["order.received"])
    webhooks.create_webhook(hook_hub, receiver.url + "?second", ["order.received"])
    webhooks.send_test(hook_hub, first.id)
    assert _drain(hook_hub) == ["delivered"]
    [request] = receiver.requests
    assert request.path == "/hook?first"
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"


def test_the_retry_delays_follow_the_schedule_with_jitter_then_stop() -> None:
    rng = random.Random(1)
    schedule = (5.0, 300.0)
    first = [retry_delay(schedule, 1, rng) for _ in range(200)]
    assert all(4.0 <= d <= 6.0 for d in first if d is not None) and len(set(first)) > 100
    assert 240 <= (retry_delay(schedule, 2, rng) or 0) <= 360
    assert retry_delay(schedule, 3, rng) is None


def test_purging_old_events_takes_their_deliveries_with_them(database_url: str, receiver: Receiver) -> None:
    from eproc.services.clock import ManualClock
    from eproc.services.housekeeping import purge

    settings = make_settings(database_url, **FAST)
    clock = ManualClock()
    hub = build_hub(settings, clock=clock)
    view, _ = webhooks.create_webhook(hub, receiver.url, ["account.created"])
    new_school(hub)
    assert len(webhooks.deliveries(hub, view.id)) == 1
    clock.advance(days=settings.event_retention_days + 1)
    result = purge(hub)
    assert result.events >= 1
    assert webhooks.deliveries(hub, view.id) == []


@pytest.mark.parametrize("url", ["ftp://example.org/", "http://", "http://user:pw@example.org/", "not a url",
                                 "http://127.0.0.1/", "http://10.1.2.3/x", "http://[::1]/", "http://localhost/",
                                 "http://169.254.169.254/latest/meta-data", "https://example.org/#frag"])
def test_bad_or_internal_urls_are_refused_when_the_endpoint_is_made(hub: Hub, url: str) -> None:
    from eproc.services.errors import InvalidInput

    with pytest.raises(InvalidInput, match="url"):
        webhooks.create_webhook(hub, url, ["order.received"])
