"""``/health/ready``'s answer: can this process serve FMS now, decided within a bound and cheaply.

Ready means the database is reachable, at this code's migration, and can be *written* (a row write
rolled back: a read-only file, a read-only server or a lock that never clears all fail it, where
the old read-only probe answered 200 while every SendOrder failed), and, for SQLite, that a new
connection could write too (its files' permissions for this user). The probe runs in a thread of
its own and is waited for at most ``bound`` seconds, so a database that does not answer gives a
503 in time instead of a probe that hangs with it; and its result is kept for ``ttl`` seconds, so
however often a load balancer asks, each worker probes at most once a second. While one of the
process's own statements has waited longer than ``bound`` (a call stuck on a database that does not
answer), the answer is given at once, without a probe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from eproc.store.condition import file_problem
from eproc.store.db import Store
from eproc.store.guards import longest_wait

log = logging.getLogger("eproc.web")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    status: str  # "ready", "database unreachable", "database not migrated", "database not writable", ...
    revision: str | None
    head: str | None
    problem: str | None = None


class ReadinessProbe:
    def __init__(self, store: Store, *, bound: float = 1.0, ttl: float = 1.0) -> None:
        self.store = store
        self.bound = bound
        self.ttl = ttl
        self._lock = threading.Lock()
        self._last: tuple[float, Readiness] | None = None
        self._running: threading.Thread | None = None
        self._result: Readiness | None = None

    def check(self) -> Readiness:
        waited = longest_wait(self.store.engine)
        if waited >= self.bound:
            # A call of this process has waited that long already: no probe needed to know.
            stuck = Readiness(
                False, "database not answering", None, None,
                f"the database has not answered a statement for {waited:.1f} s",
            )
            log.error("readiness: %s", stuck.problem)
            return stuck
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self.ttl:
                return self._last[1]
            if self._running is None or not self._running.is_alive():
                self._result = None
                self._running = threading.Thread(target=self._probe, name="eproc-ready-probe", daemon=True)
                self._running.start()
            running = self._running
        deadline = time.monotonic() + self.bound
        while running.is_alive() and (remaining := deadline - time.monotonic()) > 0:
            running.join(min(0.1, remaining))
            if longest_wait(self.store.engine) >= self.bound:
                break  # a call of this process has waited longer: the answer is known
        with self._lock:
            result = self._result if not running.is_alive() else None
            if result is None:
                # Still waiting on the database: that is the answer. The probe goes on in the
                # background (bounded by the statement timeout), and no second one is started.
                result = Readiness(
                    False, "database not answering", None, None,
                    f"the database did not answer the readiness probe within {self.bound:g} s",
                )
            self._last = (time.monotonic(), result)
        if not result.ready:
            log.error("readiness: %s", result.problem)
        return result

    def _probe(self) -> None:
        result = self._measure()
        with self._lock:
            self._result = result

    def _measure(self) -> Readiness:
        condition = self.store.condition()
        if not condition.ready:
            status = "database unreachable" if not condition.reachable else "database not migrated"
            return Readiness(False, status, condition.revision, condition.head, condition.problem)
        try:
            self.store.probe_write()
        except Exception as exc:  # noqa: BLE001 - every failure here means "cannot write"
            problem = self.store.explain(exc)
            return Readiness(False, "database not writable", condition.revision, condition.head, problem)
        # A pooled connection opened before a SQLite file turned read-only still writes; the next
        # one (another worker's, a restarted one's) would not.
        refused = file_problem(self.store.engine)
        if refused is not None:
            return Readiness(False, "database not writable", condition.revision, condition.head, refused)
        return Readiness(True, "ready", condition.revision, condition.head)

