"""A call the buffering front answers unserved (it waited past the database's timeouts behind a
stuck call): the application answers it from the environ, without serving it, in the form each
kind of client reads as "failed, retry" (the front's side is tested on a frozen PostgreSQL in
test_postgres_frozen.py)."""

from __future__ import annotations

import json
from typing import Any

from support import call_wsgi

from eproc.config import Settings
from eproc.services import admin
from eproc.services.hub import build_hub
from eproc.web import SHED_KEY, create_app

ENVELOPE = (
    b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soap:Header><AuthHeader xmlns="http://www.dcsf.gov.uk/open/webservices/ots"><Username>nobody-here</Username>'
    b"<Password>x</Password></AuthHeader></soap:Header>"
    b'<soap:Body><FetchIndex xmlns="http://www.dcsf.gov.uk/open/webservices/ots" /></soap:Body></soap:Envelope>'
)


def shed(app: Any) -> Any:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        environ[SHED_KEY] = 15.2
        return app(environ, start_response)

    return wrapped


def test_an_fms_call_not_started_gets_the_internal_error_fault_and_no_login_attempt(settings: Settings) -> None:
    app = create_app(settings)
    headers = [("Content-Type", "text/xml; charset=utf-8"),
               ("SOAPAction", '"http://www.dcsf.gov.uk/open/webservices/ots/FetchIndex"')]
    response = call_wsgi(shed(app), "http://127.0.0.1/service.asmx", "POST", ENVELOPE, headers)
    assert response.status == 500
    assert response.headers["content-type"].startswith("text/xml")
    text = response.body.decode()
    assert "<faultcode>soap:Server</faultcode>" in text
    assert "An internal error occurred (correlation id " in text
    assert response.headers["x-request-id"] in text  # the id to quote is the request's
    # Not served: the unknown username was never looked up, so no failed login was counted.
    assert [e for e in admin.list_events(build_hub(settings)) if e.type == "login.failed"] == []


def test_an_api_call_not_started_gets_a_503_problem_with_retry_after(settings: Settings) -> None:
    app = create_app(settings)
    response = call_wsgi(shed(app), "http://127.0.0.1/api/v1/documents", "POST", b"{}",
                         [("Content-Type", "application/json")])
    assert response.status == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    problem = json.loads(response.body)
    assert problem["status"] == 503 and problem["type"] == "urn:eproc:problem:unavailable"
    assert response.headers["x-request-id"] in problem["detail"]
