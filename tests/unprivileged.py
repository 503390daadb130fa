"""Running eproc as an unprivileged user, for what root cannot show.

Root ignores file modes, so a read-only database file is writable to it and the read-only episodes
of issue 11 never happen in a suite run as root (as here and in CI). These helpers start a process
(``eproc serve``, a CLI command) as ``nobody`` instead:

* plainly (``subprocess``'s ``user=``/``group=``), when that user can run this interpreter;
* otherwise (the interpreter lives where only root may look, e.g. under ``/root``) through
  ``setpriv`` with the one capability ``CAP_DAC_READ_SEARCH`` kept: the process may *read* and
  traverse anything, as it needs to load Python and eproc, but every *write* is checked against the
  file's mode for ``nobody``, which is what the tests are about (``access(2)`` ignores the
  capability too, so eproc's own permission checks see what ``nobody`` sees).

When the suite runs unprivileged already, the current user is used as it is. ``unprivileged()``
skips the test, saying why, when none of these is available.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

USER = "nobody"


@dataclass(frozen=True)
class RunAs:
    """How to start a process as an unprivileged user: a command prefix and ``Popen`` options."""

    uid: int
    gid: int
    name: str
    prefix: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def command(self, command: list[str]) -> list[str]:
        return [*self.prefix, *command]

    def popen_options(self) -> dict[str, Any]:
        return dict(self.options)

    def run(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(command), text=True, capture_output=True, **self.popen_options(), **kwargs)


def _works(run_as: RunAs) -> bool:
    # access(2), which alembic uses to find the migrations, ignores capabilities: a checkout under
    # a directory only root may search (mktemp -d's 0700) imports eproc but cannot migrate.
    probe = [sys.executable, "-c", "import os; from eproc.config import MIGRATIONS_DIR; "
             "print(os.geteuid() if os.access(MIGRATIONS_DIR, os.F_OK) else 'no migrations')"]
    try:
        done = run_as.run(probe, timeout=30, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == str(run_as.uid)


@lru_cache(maxsize=1)
def _find() -> RunAs | str:
    """The way to run as an unprivileged user here, or why there is none."""
    if os.geteuid() != 0:
        return RunAs(os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name)
    try:
        user = pwd.getpwnam(USER)
    except KeyError:
        return f"running as root and there is no user {USER!r} to drop to"
    switch = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    plain = RunAs(user.pw_uid, user.pw_gid, USER, options=switch)
    if _works(plain):
        return plain
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return f"{USER} cannot run {sys.executable} and there is no setpriv to keep it readable"
    with_read = RunAs(
        user.pw_uid, user.pw_gid, USER,
        prefix=(setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--"),
    )
    if _works(with_read):
        return with_read
    return (f"cannot run {sys.executable} as {USER} and see eproc's migrations (neither plainly nor through "
            "setpriv): is the checkout under a directory only root may enter?")


def unprivileged() -> RunAs:
    found = _find()
    if isinstance(found, str):
        pytest.skip(found)
    return found


@contextmanager
def owned_directory(run_as: RunAs) -> Iterator[Path]:
    """A fresh directory that ``run_as`` owns (in the system's temporary directory: pytest's own
    lie under a directory only root may enter), removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="eproc-unprivileged-"))
    try:
        os.chown(directory, run_as.uid, run_as.gid)
        directory.chmod(0o755)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def give(run_as: RunAs, directory: Path) -> None:
    """Every file in ``directory`` (as made by the test, running as root) to ``run_as``."""
    for path in [directory, *directory.rglob("*")]:
        os.chown(path, run_as.uid, run_as.gid)
