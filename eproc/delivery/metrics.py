"""Webhook delivery counters (prometheus_client's default registry; ``GET /metrics`` reads them,
across processes in multiprocess mode)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DELIVERED = Counter("eproc_webhook_delivered", "Webhook deliveries a receiver accepted (2xx)")
RETRIED = Counter("eproc_webhook_retried", "Webhook attempts that failed and were scheduled again")
FAILED = Counter("eproc_webhook_failed", "Webhook deliveries that failed their last attempt (dead letters)")
ATTEMPT_SECONDS = Histogram(
    "eproc_webhook_attempt_seconds", "Time from connecting to a receiver to its answer",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
