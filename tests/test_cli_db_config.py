"""`eproc db status` and `eproc config show`: which database, at which migration, and which settings
are in effect and from where; secrets never printed."""

from __future__ import annotations

import json

from support import run_cli

from eproc.store.condition import head_revision
from eproc.store.migrate import upgrade


def test_db_status_on_a_migrated_database(database_url):
    result = run_cli(database_url, "db", "status")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if not line.startswith("database:"))
    assert lines["revision"].strip() == lines["head"].strip() == head_revision()
    assert lines["rows in account"].strip() == "0"
    as_json = json.loads(run_cli(database_url, "db", "status", "--json").stdout)
    assert as_json["ready"] is True and as_json["problem"] is None
    assert as_json["rows"]["document"] == 0


def test_db_status_says_what_is_behind_and_exits_1(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    result = run_cli(url, "db", "status", "--json")
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert (status["revision"], status["head"], status["ready"]) == ("0002", head_revision(), False)
    assert result.stderr.strip().endswith("run 'eproc db upgrade'")


def test_db_status_masks_the_password_of_an_unreachable_server():
    result = run_cli("postgresql+psycopg://eproc:hunter2@127.0.0.1:1/eproc", "db", "status", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    status = json.loads(result.stdout)
    assert status["url"] == "postgresql+psycopg://eproc:***@127.0.0.1:1/eproc"
    assert status["reachable"] is False
    assert "hunter2" not in result.stdout + result.stderr


def test_config_show_names_each_source_and_masks_secrets(tmp_path):
    config_file = tmp_path / "eproc.toml"
    config_file.write_text(
        'expiry_days = 30\napi_signing_key = "file-secret"\n[faults]\ninternal = "Oops {correlation_id}"\n'
    )
    result = run_cli(
        None, "config", "show", "--json",
        EPROC_CONFIG_FILE=str(config_file),
        EPROC_DATABASE_URL="postgresql+psycopg://eproc:hunter2@db/eproc",
        EPROC_RETENTION_DAYS="400",
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "file-secret" not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["database_url"] == {"value": "postgresql+psycopg://eproc:***@db/eproc", "source": "environment",
                                     "variable": "EPROC_DATABASE_URL"}
    assert shown["expiry_days"]["value"] == 30 and shown["expiry_days"]["source"] == "file"
    assert shown["retention_days"]["value"] == 400 and shown["retention_days"]["source"] == "environment"
    assert shown["timezone"]["source"] == "default"
    assert shown["api_signing_key"]["value"] == "***"
    assert shown["faults.internal"] == {"value": "Oops {correlation_id}", "source": "file",
                                        "variable": "EPROC_FAULT_INTERNAL"}


def test_config_show_as_a_table(tmp_path):
    result = run_cli(None, "config", "show", EPROC_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SETTING", "SOURCE", "VALUE"]
    [url_row] = [row for row in rows if row.startswith("EPROC_DATABASE_URL ")]
    assert url_row.split()[1:] == ["environment", f"sqlite:///{tmp_path / 'x.db'}"]
    # aligned: every row's source starts in the header's SOURCE column
    column = header.index("SOURCE")
    assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows)


def test_config_show_with_a_bad_setting_is_one_line():
    result = run_cli(None, "config", "show", EPROC_EXPIRY_DAYS="soon")
    assert result.returncode == 1
    assert result.stderr.strip() == "eproc: error: EPROC_EXPIRY_DAYS must be a whole number, not 'soon'"
