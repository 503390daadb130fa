"""Settings come from EPROC_* variables over an optional TOML file; bad values stop start-up clearly."""

from __future__ import annotations

import pytest

from eproc.config import ConfigError, load_settings


def test_defaults():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./eproc.db"
    assert settings.expiry_days == 90
    assert settings.timezone == "Europe/London"
    assert settings.max_request_bytes == 16 * 1024 * 1024
    assert settings.faults.authentication == "AuthenticationException: The username or password supplied is not valid."


def test_environment_overrides_file(tmp_path):
    config = tmp_path / "eproc.toml"
    config.write_text(
        'database_url = "postgresql+psycopg://db/eproc"\nexpiry_days = 30\ntimezone = "UTC"\n'
        '[faults]\ndocument_not_exist = "Nope: {doc_id}"\n'
    )
    settings = load_settings({"EPROC_CONFIG_FILE": str(config), "EPROC_EXPIRY_DAYS": "7"})
    assert settings.database_url == "postgresql+psycopg://db/eproc"
    assert settings.expiry_days == 7
    assert settings.timezone == "UTC"
    assert settings.faults.document_not_exist == "Nope: {doc_id}"


def test_fault_templates_from_the_environment():
    settings = load_settings({"EPROC_FAULT_AUTHENTICATION": "AuthenticationException: Bad login."})
    assert settings.faults.authentication == "AuthenticationException: Bad login."


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EPROC_EXPIRY_DAYS": "ninety"}, "EPROC_EXPIRY_DAYS must be a whole number, not 'ninety'"),
        ({"EPROC_EXPIRY_DAYS": "-1"}, "EPROC_EXPIRY_DAYS must not be negative, not -1"),
        ({"EPROC_TIMEZONE": "Mars/Olympus"}, "EPROC_TIMEZONE 'Mars/Olympus' is not a known time zone"),
        ({"EPROC_SERVICE_PATH": "service.asmx"}, "EPROC_SERVICE_PATH must start with '/', not 'service.asmx'"),
        ({"EPROC_CONFIG_FILE": "/nonexistent/eproc.toml"}, "cannot read EPROC_CONFIG_FILE /nonexistent/eproc.toml"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(environ, message):
    with pytest.raises(ConfigError) as error:
        load_settings(environ)
    assert str(error.value).startswith(message)
