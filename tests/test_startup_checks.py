"""What `eproc serve` refuses before it forks (one line, a non-zero exit, no traceback), what the
WSGI factory refuses, and liveness apart from readiness."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from support import call_wsgi, make_settings, run_cli
from test_tls import make_certificate

from eproc.config import ConfigError
from eproc.preflight import plain_http_warning
from eproc.services.errors import DatabaseUnavailable, SchemaNotReady, StorageRefused
from eproc.services.hub import build_hub
from eproc.store.condition import explain, head_revision
from eproc.store.migrate import upgrade
from eproc.web import EprocWsgi, create_app


def one_line(result, expected: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("eproc: error: ") and expected in lines[0], lines[0]
    return lines[0]


def serve(database_url: str | None, *args: str, **env: str):
    return run_cli(database_url, "serve", "--port", "0", *args, **env)


# --- the database --------------------------------------------------------------------------------


def test_serve_refuses_an_unmigrated_database(tmp_path):
    line = one_line(serve(f"sqlite:///{tmp_path / 'empty.db'}"), "has no eproc schema")
    assert line.endswith("run 'eproc db upgrade' (or check EPROC_DATABASE_URL)")
    assert str(tmp_path / "empty.db") in line  # which database: the default path is relative


def test_serve_refuses_a_database_behind_the_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    line = one_line(serve(url), "is at migration 0002, behind this eproc's")
    assert line.endswith("run 'eproc db upgrade'")


def test_serve_refuses_a_database_migrated_by_a_newer_eproc(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade(url)
    with sqlite3.connect(tmp_path / "newer.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    one_line(serve(url), "is at migration 9999, which this eproc does not know")


def test_an_unreachable_server_is_not_told_to_migrate():
    line = one_line(serve("postgresql+psycopg://eproc:secret@127.0.0.1:1/eproc"), "cannot reach the database")
    assert "db upgrade" not in line
    assert "secret" not in line and "***" in line


def test_a_missing_directory_is_not_told_to_migrate(tmp_path):
    line = one_line(run_cli(f"sqlite:///{tmp_path / 'nowhere' / 'eproc.db'}", "account", "list"), "cannot open")
    assert "db upgrade" not in line


def test_a_read_only_database_gets_its_own_line(tmp_path):
    path = tmp_path / "ro.db"
    upgrade(f"sqlite:///{path}")
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    args = ("account", "add", "hillside", "--establishment", "Hillside", "--buyer-duns", "123456789",
            "--supplier-duns", "987654321")
    line = one_line(run_cli(url, *args), "is read-only")
    assert "db upgrade" not in line


@pytest.mark.parametrize(
    ("driver_message", "kind", "expected"),
    [
        ("database or disk is full", StorageRefused, "the disk is full"),
        ("attempt to write a readonly database", StorageRefused, "is read-only"),
        ("no such table: account", SchemaNotReady, "run 'eproc db upgrade'"),
        ("database is locked", StorageRefused, "locked by another process"),
        ("unable to open database file", DatabaseUnavailable, "cannot open the SQLite database"),
    ],
)
def test_each_database_failure_is_worded_by_its_cause(driver_message, kind, expected):
    error = explain(OperationalError("SELECT 1", {}, sqlite3.OperationalError(driver_message)), "sqlite:///x.db")
    assert isinstance(error, kind) and expected in str(error)
    assert ("db upgrade" in str(error)) == (kind is SchemaNotReady)


# --- TLS, XSLT, port -----------------------------------------------------------------------------


@pytest.fixture
def migrated(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'eproc.db'}"
    upgrade(url)
    return url


def test_tls_files_that_do_not_exist(migrated, tmp_path):
    cert, _key = make_certificate(tmp_path)
    one_line(serve(migrated, "--tls-cert", str(cert), "--tls-key", str(tmp_path / "none.pem")), "no such file")


def test_a_key_that_does_not_belong_to_the_certificate(migrated, tmp_path):
    cert, _ = make_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = make_certificate(tmp_path / "other")
    result = serve(migrated, "--tls-cert", str(cert), "--tls-key", str(other_key))
    one_line(result, "does not belong to the certificate")


def test_an_xml_file_given_as_the_certificate(migrated, tmp_path):
    _, key = make_certificate(tmp_path)
    xml = tmp_path / "order.xml"
    xml.write_text("<Order/>")
    one_line(serve(migrated, "--tls-cert", str(xml), "--tls-key", str(key)), "not a PEM certificate")


def test_a_certificate_given_as_the_key(migrated, tmp_path):
    cert, _ = make_certificate(tmp_path)
    one_line(serve(migrated, "--tls-cert", str(cert), "--tls-key", str(cert)), "not a PEM private key")


@pytest.mark.parametrize(("content", "expected"), [(None, "no such file"), ("<xsl:", "not well-formed XML"),
                                                   ("<a/>", "not a usable XSLT")])
def test_an_index_xslt_that_cannot_be_used(migrated, tmp_path, content, expected):
    stylesheet = tmp_path / "index.xsl"
    if content is not None:
        stylesheet.write_text(content)
    one_line(serve(migrated, EPROC_INDEX_XSLT=str(stylesheet)), f"EPROC_INDEX_XSLT {stylesheet}: {expected}")


def test_a_port_in_use(migrated):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        result = run_cli(migrated, "serve", "--port", str(port))
        one_line(result, f"cannot listen on 127.0.0.1:{port}: the port is in use")
    finally:
        holder.close()


def test_plain_http_beyond_the_machine_is_warned_about():
    assert plain_http_warning("127.0.0.1", tls=False) is None
    assert plain_http_warning("::1", tls=False) is None
    assert plain_http_warning("localhost", tls=False) is None
    everywhere = "0.0.0.0"  # noqa: S104 - the address under test, nothing binds it
    assert plain_http_warning(everywhere, tls=True) is None
    assert "serving plain HTTP on 0.0.0.0" in (plain_http_warning(everywhere, tls=False) or "")


@pytest.mark.e2e
def test_the_console_script_refuses_an_unmigrated_database_in_one_line(tmp_path):
    """Through the real executable: the exit status and stderr of a process, no gunicorn started."""
    script = Path(sys.executable).with_name("eproc")
    env = {"EPROC_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(script), "serve", "--port", "0"], env=env, capture_output=True, text=True,
                            timeout=60)
    one_line(result, "has no eproc schema")
    assert "Listening" not in result.stderr + result.stdout


# --- the WSGI factory and readiness --------------------------------------------------------------


def test_the_wsgi_factory_refuses_an_unmigrated_database(tmp_path):
    with pytest.raises(ConfigError, match="has no eproc schema"):
        create_app(make_settings(f"sqlite:///{tmp_path / 'empty.db'}"))


def test_liveness_and_readiness(database_url):
    app = create_app(make_settings(database_url))
    assert json.loads(call_wsgi(app, "/health").body) == {"status": "ok"}
    ready = call_wsgi(app, "/health/ready")
    assert ready.status == 200
    assert json.loads(ready.body) == {"status": "ready", "revision": head_revision(), "head": head_revision()}


def test_readiness_tells_unreachable_from_not_migrated(tmp_path):
    """Built around the factory's check (the states arise after start-up: a server going down, a
    restore of an old backup)."""
    unmigrated = EprocWsgi(build_hub(make_settings(f"sqlite:///{tmp_path / 'empty.db'}")), _never, _never)
    answer = call_wsgi(unmigrated, "/health/ready")
    assert (answer.status, json.loads(answer.body)["status"]) == (503, "database not migrated")
    assert call_wsgi(unmigrated, "/health").status == 200  # alive all the same

    down = EprocWsgi(build_hub(make_settings("postgresql+psycopg://eproc@127.0.0.1:1/eproc")), _never, _never)
    answer = call_wsgi(down, "/health/ready")
    assert (answer.status, json.loads(answer.body)["status"]) == (503, "database unreachable")


def _never(environ, start_response):
    raise AssertionError("not routed here")
