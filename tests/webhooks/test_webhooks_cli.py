"""``eproc webhooks`` as an admin uses it: add prints the id and the secret, list, test, deliveries
(with --failed), retry, remove; mistakes are one line on stderr."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hook_support import FAST, Receiver, running_receiver
from support import make_settings, run_cli

from eproc.services.hub import build_hub
from eproc.webhook_worker import WebhookWorker


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as started:
        yield started


def test_add_list_test_deliveries_retry_remove(database_url: str, receiver: Receiver) -> None:
    receiver.answer = lambda n, _r: 500 if n == 0 else 200
    environment = {**FAST, "EPROC_WEBHOOK_RETRY_SCHEDULE": ""}  # no automatic retries: one attempt
    added = run_cli(database_url, "webhooks", "add", receiver.url, "--event", "order.received",
                    "--event", "document.processed", **environment)
    assert added.returncode == 0, added.stderr
    webhook_id = re.search(r"^id: (\d+)$", added.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert re.search(r"^secret: whsec_[A-Za-z0-9+/=]{40,}$", added.stdout, re.M)

    listed = run_cli(database_url, "webhooks", "list", **environment)
    assert receiver.url in listed.stdout and "enabled" in listed.stdout and "whsec_" not in listed.stdout

    assert run_cli(database_url, "webhooks", "test", webhook_id, **environment).returncode == 0
    worker = WebhookWorker(build_hub(make_settings(database_url, **environment)))
    assert [turn.status for turn in worker.run_once()] == ["failed"]

    failed = run_cli(database_url, "webhooks", "deliveries", webhook_id, "--failed", **environment)
    assert "webhook.test" in failed.stdout and "500" in failed.stdout and "answered 500" in failed.stdout
    delivery_id = failed.stdout.splitlines()[1].split()[0]
    retried = run_cli(database_url, "webhooks", "retry", delivery_id, **environment)
    assert retried.returncode == 0 and "queued" in retried.stdout
    assert [turn.status for turn in worker.run_once()] == ["delivered"]
    assert run_cli(database_url, "webhooks", "deliveries", webhook_id, "--failed", **environment).stdout.count(
        "\n") == 1  # the header only

    assert run_cli(database_url, "webhooks", "remove", webhook_id, **environment).returncode == 0
    gone = run_cli(database_url, "webhooks", "remove", webhook_id, **environment)
    assert gone.returncode == 1 and gone.stderr == f"eproc: error: no webhook {webhook_id}\n"


def test_mistakes_are_one_line(database_url: str) -> None:
    for args, says in (
        (("webhooks", "add", "http://10.0.0.1/", "--event", "order.received"), "private address"),
        (("webhooks", "add", "https://example.org/", "--event", "order.nope"), "unknown event type"),
        (("webhooks", "add", "https://example.org/", "--event", "order.received", "--account", "nobody"),
         "no account named"),
        (("webhooks", "retry", "12345"), "no delivery 12345"),
        (("webhooks", "deliveries", "7"), "no webhook 7"),
    ):
        result = run_cli(database_url, *args)
        assert result.returncode == 1 and says in result.stderr and "Traceback" not in result.stderr, result
        assert result.stderr.count("\n") == 1


def test_bad_webhook_settings_are_refused_in_one_line(database_url: str) -> None:
    for variable, value, says in (
        ("EPROC_WEBHOOK_RETRY_SCHEDULE", "5,soon", "comma-separated seconds"),
        ("EPROC_WEBHOOK_LEASE_SECONDS", "10", "must be longer than"),
        ("EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS", "maybe", "true or false"),
    ):
        result = run_cli(database_url, "webhooks", "list", **{variable: value})
        assert result.returncode == 1 and says in result.stderr, result
