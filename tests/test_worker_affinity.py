"""``eproc serve`` pins each worker's threads to one CPU and spreads the workers over the CPUs
(eproc/affinity.py), unless EPROC_PIN_WORKERS=false."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support import migrated_database, start_server

from eproc.affinity import available_cpus, choose_cpu

pytestmark = pytest.mark.skipif(not available_cpus(), reason="this platform cannot pin processes to CPUs")


def test_a_worker_gets_the_cpu_fewest_live_workers_are_on() -> None:
    assert choose_cpu([0, 1], []) == 0
    assert choose_cpu([0, 1], [0]) == 1
    assert choose_cpu([0, 1], [0, 1]) == 0
    assert choose_cpu([0, 1], [1, 1, 0]) == 0  # a replacement takes the place of the one that died
    assert choose_cpu([2, 3], [None, 2]) == 3  # CPUs not ours and unpinned workers count for nothing
    assert choose_cpu([], [0]) is None
    # Another server (another start) begins elsewhere, then fills the CPUs in the same turn.
    assert [choose_cpu([0, 1, 2], [], start) for start in (0, 1, 2, 4)] == [0, 1, 2, 1]
    assert choose_cpu([0, 1, 2], [1], start=1) == 2


def _workers(arbiter: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == arbiter:
                children.append(int(entry.name))
    return children


def _cpus_of_every_thread(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(int(task.name)) for task in Path(f"/proc/{pid}/task").iterdir()]


@pytest.mark.parametrize("pinned", [True, False])
def test_each_worker_runs_its_threads_on_one_cpu_of_its_own(tmp_path: Path, pinned: bool) -> None:
    cpus = set(available_cpus())
    with migrated_database("sqlite", tmp_path) as url:
        server = start_server(url, "--workers", "2", env={"EPROC_PIN_WORKERS": "true" if pinned else "false"})
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # until both have booted and started their threads
                workers = _workers(server.process.pid)
                seen = [_cpus_of_every_thread(pid) for pid in workers]
                if len(workers) == 2 and all(len(threads) >= 3 for threads in seen):
                    break
                time.sleep(0.1)
        finally:
            server.stop()
    assert len(seen) == 2
    for threads in seen:
        assert len(threads) >= 3  # the front, the application thread, the health thread
        for thread_cpus in threads:
            assert thread_cpus == (threads[0] if pinned else cpus)
        if pinned:
            assert len(threads[0]) == 1
    if pinned and len(cpus) >= 2:
        assert seen[0][0] != seen[1][0]  # one each
