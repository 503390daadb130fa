"""A read-only episode on SQLite (issue 11), with ``eproc serve`` and the CLI run as an unprivileged
user, since root writes read-only files (tests/unprivileged.py).

What the issue found: ``/health`` said 200 while every write failed; and a worker that connected
during the episode left ``eproc.db-shm`` read-only (SQLite gives it the database file's mode), so
56 of 56 SendOrders failed after the file was writable again, a fresh server too.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dotnet_client as net
import pytest
import requests
from support import LiveServer, make_settings, new_school, server_environment, start_server, unique_name
from unprivileged import RunAs, give, owned_directory, unprivileged

from eproc.services.hub import build_hub
from eproc.store.db import dispose_engines
from eproc.store.migrate import upgrade

pytestmark = pytest.mark.e2e

PASSWORD = "read-only-episode-password-1"
ORDER = (Path(__file__).parent / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")
INTERNAL = re.compile(
    r"Server was unable to process request\. ---> An internal error occurred \(correlation id (\w+)\)"
)


class Episode:
    """A migrated SQLite database with one school, in a directory the unprivileged user owns."""

    def __init__(self, run_as: RunAs, directory: Path) -> None:
        self.run_as = run_as
        self.directory = directory
        self.path = directory / "eproc.db"
        self.url = f"sqlite:///{self.path}"
        upgrade(self.url)
        self.hub = build_hub(make_settings(self.url))
        self.username, _ = new_school(self.hub, PASSWORD, establishment_name="Hillside Primary School")
        # Closed cleanly, as the last connection: SQLite removes its -wal and -shm files.
        dispose_engines(self.url)
        give(run_as, directory)

    def side_files(self) -> list[Path]:
        return [Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **server_environment(self.url), "PYTHONDONTWRITEBYTECODE": "1"}
        return self.run_as.run([sys.executable, "-m", "eproc.cli", *args], env=env, timeout=60)

    def add_account(self) -> subprocess.CompletedProcess[str]:
        return self.cli(
            "account", "add", unique_name(), "--establishment", "Hillside Primary School",
            "--buyer-duns", "123456789", "--supplier-duns", "987654321",
        )

    def stored_orders(self) -> int:
        """Read without disturbing the episode: a connection of this (root) process that closed
        last would remove the side files, and the next would be created afresh."""
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            return int(reader.execute("SELECT count(*) FROM received_order").fetchone()[0])
        finally:
            reader.close()


@pytest.fixture
def episode() -> Iterator[Episode]:
    run_as = unprivileged()
    with owned_directory(run_as) as directory:
        yield Episode(run_as, directory)
        dispose_engines(f"sqlite:///{directory / 'eproc.db'}")


def send_order(server: LiveServer, username: str) -> tuple[net.Response, float]:
    started = time.monotonic()
    response = net.call(
        server.endpoint, "SendOrder", f"<Document>{net.escape(ORDER)}</Document>",
        username=username, password=PASSWORD, timeout=30,
    )
    return response, time.monotonic() - started


def internal_fault_id(response: net.Response) -> str:
    assert response.status == 500, response.body[:300]
    match = INTERNAL.match(net.fault(response)[1])
    assert match, net.fault(response)
    return match.group(1)


def lines_with(server: LiveServer, correlation_id: str, text: str) -> list[str]:
    return [line for line in server.log if f"id={correlation_id}" in line and text in line]


def ready_status(server: LiveServer) -> tuple[int, str]:
    answer = requests.get(f"{server.base_url}/health/ready", timeout=5)
    return answer.status_code, answer.json()["status"]


def writable_for_owner(path: Path, uid: int) -> bool:
    info = path.stat()
    return info.st_uid == uid and bool(info.st_mode & stat.S_IWUSR)


def test_a_read_only_episode_on_sqlite_leaves_nothing_read_only_and_heals_without_a_restart(episode: Episode) -> None:
    path, run_as = episode.path, episode.run_as
    server = start_server(episode.url, "--workers", "2", run_as=run_as)
    try:
        # The workers have not connected yet: the first connections are opened during the episode,
        # where the reconnecting worker created a read-only -shm.
        assert not any(side.exists() for side in episode.side_files()), "precondition: no -wal/-shm yet"
        path.chmod(0o444)

        response, took = send_order(server, episode.username)
        failed = internal_fault_id(response)
        assert took < 5
        fix = f"the SQLite database {path} is read-only for {run_as.name}: make it writable (chmod u+w {path})"
        assert len(lines_with(server, failed, fix)) == 1, "".join(server.log[-20:])
        assert ready_status(server) == (503, "database not writable")
        assert requests.get(f"{server.base_url}/health", timeout=2).status_code == 200
        assert episode.stored_orders() == 0

        path.chmod(0o644)
        answers = [send_order(server, episode.username)[0] for _ in range(6)]
        assert [answer.status for answer in answers] == [200] * 6, "".join(server.log[-30:])
        # The trap: SQLite created -wal and -shm with the read-only file's mode; none is left so.
        for side in episode.side_files():
            assert side.exists() and writable_for_owner(side, run_as.uid), oct(side.stat().st_mode)
        assert episode.stored_orders() == 1  # stored once: the repeats are duplicates
        time.sleep(1.1)  # past each worker's readiness cache
        assert {ready_status(server) for _ in range(6)} == {(200, "ready")}
        # And a fresh process (the fresh server) writes too.
        added = episode.add_account()
        assert added.returncode == 0, added.stderr
    finally:
        server.stop()
        path.chmod(0o644)


def test_a_file_turned_read_only_is_reported_at_once_and_a_restarted_worker_recovers_with_it(
    episode: Episode,
) -> None:
    path, run_as = episode.path, episode.run_as
    server = start_server(episode.url, "--workers", "1", run_as=run_as)
    try:
        assert send_order(server, episode.username)[0].status == 200  # the worker's pool holds a connection
        path.chmod(0o444)
        # That pooled connection could still write, but no new one can: readiness says so at once.
        started = time.monotonic()
        while ready_status(server)[0] != 503:
            assert time.monotonic() - started < 2, "readiness still 200 with the file read-only"
            time.sleep(0.1)
        assert ready_status(server) == (503, "database not writable")

        # The worker restarts (a crash, a recycle) and reconnects during the episode.
        [worker] = [int(pid) for task in Path(f"/proc/{server.process.pid}/task").iterdir()
                    for pid in (task / "children").read_text().split()]
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            try:
                response, took = send_order(server, episode.username)
                break
            except OSError:
                assert time.monotonic() < deadline, "no worker came back"
                time.sleep(0.1)
        failed = internal_fault_id(response)
        assert took < 5
        assert len(lines_with(server, failed, f"(chmod u+w {path})")) == 1, "".join(server.log[-20:])

        path.chmod(0o644)
        first, _ = send_order(server, episode.username)
        assert first.status == 200, net.fault(first)
        assert episode.stored_orders() == 1
        time.sleep(1.1)
        assert ready_status(server) == (200, "ready")
        for side in episode.side_files():
            assert not side.exists() or writable_for_owner(side, run_as.uid)
    finally:
        server.stop()
        path.chmod(0o644)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("eproc: error: "), result.stderr
    return lines[0]


def test_the_cli_on_a_read_only_database_file_says_which_and_the_command_that_fixes_it(episode: Episode) -> None:
    episode.path.chmod(0o444)
    try:
        line = one_error_line(episode.add_account())
        path, user = episode.path, episode.run_as.name
        assert f"the SQLite database {path} is read-only for {user}: make it writable (chmod u+w {path})" in line
    finally:
        episode.path.chmod(0o644)
    assert episode.add_account().returncode == 0


def test_the_cli_reports_the_shm_permission_trap_with_its_fix(episode: Episode) -> None:
    """An ``-shm`` the eproc user cannot write (left by another user, e.g. root restoring a copy)
    while the database file is writable: every write fails, and the line names the fix."""
    if os.geteuid() != 0:
        pytest.skip("needs root to leave an -shm file owned by another user")
    holder = sqlite3.connect(episode.path)  # keeps -wal and -shm in place while the CLI runs
    try:
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
        shm = Path(f"{episode.path}-shm")
        os.chown(shm, 0, 0)
        line = one_error_line(episode.add_account())
        db = episode.path
        assert (
            f"the SQLite file {shm} is read-only while {db} is writable, so every write fails: "
            f"run 'chown --reference={db} {shm} && chmod --reference={db} {shm}'"
        ) in line
        # Reading still works: only writes need the -shm.
        listed = episode.cli("account", "list")
        assert listed.returncode == 0 and episode.username in listed.stdout, listed.stderr
        os.chown(shm, episode.run_as.uid, episode.run_as.gid)
        added = episode.add_account()
        assert added.returncode == 0, added.stderr
    finally:
        holder.close()


def test_the_cli_in_a_read_only_directory_says_sqlite_must_create_files_there(episode: Episode) -> None:
    episode.directory.chmod(0o555)
    try:
        line = one_error_line(episode.add_account())
        directory = episode.directory
        assert (
            f"the directory {directory} of the SQLite database is read-only, and SQLite must create "
            f"eproc.db-wal and eproc.db-shm there: make it writable (chmod u+w {directory})"
        ) in line
    finally:
        episode.directory.chmod(0o755)
    assert episode.add_account().returncode == 0
