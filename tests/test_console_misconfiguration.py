"""Every misconfiguration issue 8 names, through the real console script a user runs (its own
process, its exit status, its stderr): one line, a non-zero exit, no traceback, no gunicorn."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tls import make_certificate

from eproc.store.migrate import upgrade

pytestmark = pytest.mark.e2e
SCRIPT = Path(sys.executable).with_name("eproc")


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'eproc.db'}"
    upgrade(url)
    return url


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def eproc(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/bin:/bin", "EPROC_ARGON2_MEMORY_COST": "1024", **env}
    return subprocess.run([str(SCRIPT), *args], env=environment, capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("eproc: error: ") and expected in lines[0], lines[0]
    assert "Listening" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "command", "expected"),
    [
        ("nonsense", ("db", "upgrade"), "is not a database URL"),
        ("postgres://u:p@127.0.0.1/eproc", ("account", "list"), "write 'postgresql+psycopg://'"),
        ("mysql://u:p@127.0.0.1/eproc", ("serve", "--port", "0"), "uses 'mysql', which eproc does not support"),
        ("postgresql+psycopg://eproc:secret@127.0.0.1:1/eproc", ("db", "upgrade"), "cannot reach the database"),
    ],
)
def test_a_bad_database_url(url: str, command: tuple[str, ...], expected: str) -> None:
    result = eproc(*command, EPROC_DATABASE_URL=url)
    one_line(result, expected)
    assert "secret" not in result.stderr


def test_an_unmigrated_database_and_which_one(tmp_path: Path) -> None:
    one_line(eproc("serve", "--port", "0", EPROC_DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}"),
             f"{tmp_path / 'empty.db'}")


def test_a_database_behind_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    one_line(eproc("serve", "--port", "0", EPROC_DATABASE_URL=url), "run 'eproc db upgrade'")


def test_tls_files_that_do_not_belong_together(migrated: str, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    certificate, _key = make_certificate(tmp_path / "one")
    _other, other_key = make_certificate(tmp_path / "two")
    one_line(eproc("serve", "--port", "0", "--tls-cert", str(certificate), "--tls-key", str(other_key),
                   EPROC_DATABASE_URL=migrated), "does not belong to the certificate")


def test_an_xml_file_as_the_certificate(migrated: str, tmp_path: Path) -> None:
    _certificate, key = make_certificate(tmp_path)
    xml = tmp_path / "cert.xml"
    xml.write_text("<not-a-certificate/>")
    one_line(eproc("serve", "--port", "0", "--tls-cert", str(xml), "--tls-key", str(key),
                   EPROC_DATABASE_URL=migrated), "not a PEM certificate")


def test_a_missing_index_xslt(migrated: str, tmp_path: Path) -> None:
    one_line(eproc("serve", "--port", "0", EPROC_DATABASE_URL=migrated, EPROC_INDEX_XSLT=str(tmp_path / "no.xsl")),
             "EPROC_INDEX_XSLT")


def test_a_port_in_use(migrated: str, busy_port: int) -> None:
    one_line(eproc("serve", "--port", str(busy_port), EPROC_DATABASE_URL=migrated), str(busy_port))


def test_a_metrics_directory_that_does_not_exist(migrated: str, tmp_path: Path) -> None:
    one_line(eproc("serve", "--port", "0", EPROC_DATABASE_URL=migrated,
                   PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "absent")), "PROMETHEUS_MULTIPROC_DIR")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EPROC_LOG_FORMAT", "xml"), ("EPROC_EXPIRY_DAYS", "soon")],
)
def test_a_bad_setting(migrated: str, variable: str, value: str) -> None:
    one_line(eproc("serve", "--port", "0", EPROC_DATABASE_URL=migrated, **{variable: value}), variable)
