"""A PostgreSQL server of the test's own, to freeze (SIGSTOP) without touching anyone else's.

The shared server (EPROC_TEST_POSTGRES_URL) serves other tests and people: a test that stops it
stops them. This one is started from the installed binaries (``/usr/lib/postgresql/*/bin``) in a
temporary directory, on a free port of 127.0.0.1, as the ``postgres`` OS user (``initdb`` refuses to
run as root), in a process group of its own, so that ``freeze()`` stops the postmaster and every
backend at once and nothing else. ``private_postgres()`` skips the test, saying why, when the
binaries or the user are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

OS_USER = "postgres"


def _bin_directory() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    for directory in reversed(candidates):
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    return None


def unavailable() -> str | None:
    """Why no private server can be started here, or None."""
    if _bin_directory() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no {OS_USER!r} user for initdb"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivatePostgres:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    _stopped: list[int] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def processes(self) -> list[int]:
        """The postmaster and its children (backends and background workers: each calls setsid(),
        so they are not in the postmaster's process group)."""
        postmaster = self.process.pid
        children: list[int] = []
        for task in Path(f"/proc/{postmaster}/task").iterdir():
            with _suppress():
                children.extend(int(pid) for pid in (task / "children").read_text().split())
        return [postmaster, *children]

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster (first: a stopped postmaster forks no new backend), then every
        child; the pids stopped."""
        os.kill(self.process.pid, signal.SIGSTOP)
        stopped = self.processes()
        for pid in stopped[1:]:
            with _suppress():
                os.kill(pid, signal.SIGSTOP)
        self._stopped = stopped
        return stopped

    def thaw(self) -> None:
        for pid in reversed(self._stopped or self.processes()):
            with _suppress():
                os.kill(pid, signal.SIGCONT)
        self._stopped = []

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(OS_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with running_private_postgres() as server:
        yield server


@contextmanager
def running_private_postgres() -> Iterator[PrivatePostgres]:
    """The server, started and removed (for the bench, which has no pytest to skip with)."""
    binaries = _bin_directory()
    assert binaries is not None, unavailable()
    directory = Path(tempfile.mkdtemp(prefix="eproc-private-pg-"))
    switch = _as_postgres()
    process: subprocess.Popen[bytes] | None = None
    try:
        if switch:
            os.chown(directory, switch["user"], switch["group"])
        data = directory / "data"
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, capture_output=True, cwd=directory, **switch,
        )
        port = _free_port()
        process = subprocess.Popen(
            [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(directory),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=60"],
            stdout=subprocess.DEVNULL, stderr=open(directory / "server.log", "wb"),  # noqa: SIM115
            cwd=directory, start_new_session=True, **switch,
        )
        server = PrivatePostgres(process, port, directory)
        _wait_until_accepting(server)
        yield server
    finally:
        if process is not None:
            server_thawed = PrivatePostgres(process, 0, directory)
            for pid in server_thawed.processes():  # a frozen server cannot shut down
                with _suppress():
                    os.kill(pid, signal.SIGCONT)
            process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with _suppress():
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_until_accepting(server: PrivatePostgres) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        if server.process.poll() is not None:
            raise RuntimeError("the private PostgreSQL exited:\n" + (server.directory / "server.log").read_text())
        try:
            dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _suppress() -> contextlib.suppress:
    return contextlib.suppress(ProcessLookupError, FileNotFoundError)
