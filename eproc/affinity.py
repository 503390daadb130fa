"""Each ``eproc serve`` worker's threads on one CPU, and the workers spread over the CPUs.

A worker is one process whose threads (the front, the application thread, the health thread,
eproc/front.py) share one interpreter lock, so together they never use more than one CPU at a
time. Left to the scheduler they sit on different CPUs, and every request handed from the front to
the application thread, and every "done" handed back, wakes a CPU that had gone idle: measured on
this project's 2-CPU virtual machine, the import cycle took 1.24-1.40x the sync worker's time with
the threads apart, and 1.00-1.14x with them pinned together (same runs, interleaved). Pinned, they lose
next to nothing: the lock let only one of them run Python at a time.

The arbiter gives each worker it forks the CPU the fewest live workers are pinned to
(:func:`assign_cpu`, gunicorn's ``pre_fork``), so a replacement takes the place of the worker it
replaces and N workers on N CPUs get one each; each server starts from a CPU of its own (by its
arbiter's process id), so two servers on one machine do not pile their first workers on one CPU.
Off with ``EPROC_PIN_WORKERS=false`` (a machine shared with other busy processes, where a pinned
worker could not move away from a busy CPU).
"""

from __future__ import annotations

import collections
import logging
import os
from typing import Any

log = logging.getLogger("eproc.server")

# The attribute the arbiter sets on a worker object before forking it.
CPU_ATTRIBUTE = "eproc_cpu"


def available_cpus() -> list[int]:
    """The CPUs this process may run on (empty where the platform cannot say or pin)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return sorted(getaffinity(0)) if getaffinity is not None else []


def choose_cpu(cpus: list[int], taken: list[int | None], start: int = 0) -> int | None:
    """The CPU with the fewest of ``taken`` (the live workers' CPUs); on a tie the first from the
    ``start``-th CPU on, so that two servers on one machine do not both begin with the same one."""
    if not cpus:
        return None
    counts = collections.Counter(cpu for cpu in taken if cpu is not None)
    return min(cpus, key=lambda cpu: (counts[cpu], (cpus.index(cpu) - start) % len(cpus)))


def assign_cpu(arbiter: Any, worker: Any) -> None:
    """gunicorn's ``pre_fork`` (in the arbiter): the CPU this worker will pin itself to."""
    taken = [getattr(other, CPU_ATTRIBUTE, None) for other in arbiter.WORKERS.values()]
    setattr(worker, CPU_ATTRIBUTE, choose_cpu(available_cpus(), taken, start=arbiter.pid))


def pin(worker: Any) -> None:
    """In the worker, before it starts its threads (which inherit the calling thread's CPU set)."""
    cpu = getattr(worker, CPU_ATTRIBUTE, None)
    setaffinity = getattr(os, "sched_setaffinity", None)
    if cpu is None or setaffinity is None:
        return
    try:
        setaffinity(0, {cpu})
    except OSError as exc:  # a container that forbids it: serve unpinned
        log.info("worker %s not pinned to CPU %s: %s", os.getpid(), cpu, exc)
