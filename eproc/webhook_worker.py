"""``eproc worker``: delivers the webhook outbox, at least once, whatever else is running.

Each turn claims one due delivery with a lease (``store/webhooks.py`` says how two workers never
claim the same one), POSTs it (``eproc/delivery/``), logs the attempt and settles the delivery:
``delivered`` on 2xx; on anything else retried after the next delay of
``EPROC_WEBHOOK_RETRY_SCHEDULE`` (with jitter, so a receiver that comes back is not hit by every
retry at once) or ``failed`` after the last one; a 410 disables the endpoint. A worker killed
mid-delivery leaves its lease to run out, and another worker (or itself, restarted) sends the
delivery again, with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from eproc.delivery import metrics, sender
from eproc.services.events import EventType, emit
from eproc.services.hub import Hub
from eproc.store.models import WebhookAttempt
from eproc.store.webhooks import ClaimedDelivery, Wakeup

log = logging.getLogger("eproc.webhooks")
JITTER = 0.2  # each delay is stretched or shrunk by up to a fifth


def retry_delay(schedule: tuple[float, ...], attempts_made: int, rng: random.Random) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones; None: that was the last."""
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    return base * (1 + rng.uniform(-JITTER, JITTER))


@dataclass
class TurnResult:
    delivery_id: int
    outcome: sender.Outcome
    status: str  # delivered | pending | failed


class WebhookWorker:
    def __init__(self, hub: Hub, *, name: str | None = None, rng: random.Random | None = None) -> None:
        self.hub = hub
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.stopping = threading.Event()
        settings = hub.settings
        self.schedule = settings.webhook_retry_delays
        self.timeout = float(settings.webhook_timeout_seconds)
        self.lease = timedelta(seconds=settings.webhook_lease_seconds)
        self.poll = settings.webhook_poll_ms / 1000

    def claim(self) -> ClaimedDelivery | None:
        now = self.hub.now()
        with self.hub.unit_of_work() as uow:
            if not uow.webhooks.any_due(now):
                return None
        with self.hub.unit_of_work() as uow:
            claimed = uow.webhooks.claim(now, now + self.lease, self.name, limit=1)
            uow.commit()
        return claimed[0] if claimed else None

    def deliver(self, claimed: ClaimedDelivery) -> TurnResult:
        outcome = sender.post(
            claimed.url, claimed.secret, claimed.message_id, claimed.payload.encode("utf-8"),
            timeout=self.timeout, allow_private=self.hub.settings.webhook_allow_private_targets,
        )
        return self.settle(claimed, outcome)

    def settle(self, claimed: ClaimedDelivery, outcome: sender.Outcome) -> TurnResult:
        now = self.hub.now()
        made = claimed.attempts + 1
        metrics.ATTEMPT_SECONDS.observe(outcome.duration_ms / 1000)
        next_at: datetime | None = None
        if outcome.delivered:
            status = "delivered"
        elif outcome.gone:
            status = "failed"
        else:
            delay = retry_delay(self.schedule, made, self.rng)
            status = "failed" if delay is None else "pending"
            next_at = None if delay is None else now + timedelta(seconds=delay)
        with self.hub.unit_of_work() as uow:
            uow.webhooks.record_attempt(WebhookAttempt(
                delivery_id=claimed.id, at=now, status_code=outcome.status_code, duration_ms=outcome.duration_ms,
                error=outcome.error[:500] if outcome.error else None, worker=self.name[:100],
            ))
            held = uow.webhooks.settle(
                claimed.id, self.name, status=status, next_attempt_at=next_at, now=now,
                status_code=outcome.status_code, error=outcome.error,
            )
            if outcome.gone and uow.webhooks.disable_endpoint(
                claimed.endpoint_id, "the receiver answered 410 Gone", now
            ):
                emit(uow, EventType.WEBHOOK_DISABLED, now, subject=str(claimed.endpoint_id),
                     data={"webhookId": claimed.endpoint_id, "url": claimed.url})
            uow.commit()
        if held:
            {"delivered": metrics.DELIVERED, "pending": metrics.RETRIED, "failed": metrics.FAILED}[status].inc()
        log.info("webhook delivery %s attempt %s: %s", claimed.id, made,
                 status if outcome.error is None else f"{status} ({outcome.error})")
        return TurnResult(claimed.id, outcome, status)

    def run_once(self) -> TurnResult | None:
        """Claim and send one due delivery, if there is one."""
        claimed = self.claim()
        return None if claimed is None else self.deliver(claimed)

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Deliver until stopped: at once while work is due, otherwise after a NOTIFY or a poll."""
        wakeup = Wakeup(self.hub.store.engine)
        try:
            while not self.stopping.is_set() and not (until and until()):
                try:
                    if self.run_once() is not None:
                        continue
                except Exception:  # a database blip must not end the worker; it tries again
                    log.exception("webhook worker turn failed")
                    self.stopping.wait(min(5.0, max(self.poll, 1.0)))
                    continue
                wakeup.wait(self.poll)
        finally:
            wakeup.close()


def run_worker(hub: Hub, *, exit_with_parent: bool = False) -> None:
    """The ``eproc worker`` process: runs until SIGTERM/SIGINT (or, started by ``eproc serve``,
    until its parent is gone)."""
    import signal

    worker = WebhookWorker(hub)
    parent = os.getppid()

    def stop(_signum: int, _frame: object) -> None:
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run(until=(lambda: os.getppid() != parent) if exit_with_parent else None)
