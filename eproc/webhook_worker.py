"""``eproc worker``: delivers the webhook outbox, at least once, whatever else is running.

Each turn claims up to ``EPROC_WEBHOOK_CONCURRENCY`` due deliveries with a lease
(``store/webhooks.py`` says how two workers never claim the same one), POSTs them at once
(``eproc/delivery/``), logs each attempt and settles each delivery: ``delivered`` on 2xx; on
anything else retried after the next delay of ``EPROC_WEBHOOK_RETRY_SCHEDULE`` (with jitter, so
a receiver that comes back is not hit by every retry at once) or ``failed`` after the last one;
a 410 disables the endpoint. A worker killed mid-delivery leaves its lease to run out, and
another worker (or itself, restarted) sends the delivery again, with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self.concurrency = settings.webhook_concurrency
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook")

    def claim(self, *, busy: bool = False) -> list[ClaimedDelivery]:
        """Up to ``concurrency`` due deliveries, leased to this worker. Idle, it first only reads
        whether anything is due, so its polls take no write lock; busy, it claims straight away."""
        now = self.hub.now()
        if not busy:
            with self.hub.unit_of_work() as uow:
                if not uow.webhooks.any_due(now):
                    return []
        with self.hub.unit_of_work() as uow:
            claimed = uow.webhooks.claim(now, now + self.lease, self.name, limit=self.concurrency)
            uow.commit()
        return claimed

    def post(self, claimed: ClaimedDelivery) -> sender.Outcome:
        return sender.post(
            claimed.url, claimed.secret, claimed.message_id, claimed.payload.encode("utf-8"),
            timeout=self.timeout, allow_private=self.hub.settings.webhook_allow_private_targets,
        )

    def deliver(self, batch: list[ClaimedDelivery]) -> list[TurnResult]:
        """POST the batch at once (each within the timeout, so all within the lease), then settle
        them in one transaction."""
        outcomes = [self.post(batch[0])] if len(batch) == 1 else list(self._pool.map(self.post, batch))
        return self.settle(list(zip(batch, outcomes, strict=True)))

    def _decide(
        self, claimed: ClaimedDelivery, outcome: sender.Outcome, now: datetime
    ) -> tuple[str, datetime | None]:
        if outcome.delivered:
            return "delivered", None
        if outcome.gone:
            return "failed", None
        delay = retry_delay(self.schedule, claimed.attempts + 1, self.rng)
        return ("failed", None) if delay is None else ("pending", now + timedelta(seconds=delay))

    def settle(self, results: list[tuple[ClaimedDelivery, sender.Outcome]]) -> list[TurnResult]:
        now = self.hub.now()
        turns: list[TurnResult] = []
        counted: list[str] = []
        with self.hub.unit_of_work() as uow:
            for claimed, outcome in results:
                status, next_at = self._decide(claimed, outcome, now)
                uow.webhooks.record_attempt(WebhookAttempt(
                    delivery_id=claimed.id, at=now, status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms, error=outcome.error[:500] if outcome.error else None,
                    worker=self.name[:100],
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
                if held:  # otherwise the lease ran out and the worker that took it over counts
                    counted.append(status)
                turns.append(TurnResult(claimed.id, outcome, status))
            uow.commit()
        for (claimed, outcome), turn in zip(results, turns, strict=True):
            metrics.ATTEMPT_SECONDS.observe(outcome.duration_ms / 1000)
            log.info("webhook delivery %s attempt %s: %s", claimed.id, claimed.attempts + 1,
                     turn.status if outcome.error is None else f"{turn.status} ({outcome.error})")
        for status in counted:
            {"delivered": metrics.DELIVERED, "pending": metrics.RETRIED, "failed": metrics.FAILED}[status].inc()
        return turns

    def run_once(self, *, busy: bool = False) -> list[TurnResult]:
        """Claim and send what is due (up to ``concurrency`` deliveries); [] when nothing is."""
        batch = self.claim(busy=busy)
        return self.deliver(batch) if batch else []

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Deliver until stopped: at once while work is due, otherwise after a NOTIFY or a poll."""
        wakeup = Wakeup(self.hub.store.engine)
        busy = False
        try:
            while not self.stopping.is_set() and not (until and until()):
                try:
                    busy = bool(self.run_once(busy=busy))
                    if busy:
                        continue
                except Exception:  # a database blip must not end the worker; it tries again
                    log.exception("webhook worker turn failed")
                    busy = False
                    self.stopping.wait(min(5.0, max(self.poll, 1.0)))
                    continue
                wakeup.wait(self.poll)
        finally:
            wakeup.close()
            self._pool.shutdown(wait=False)


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
