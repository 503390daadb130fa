"""No forced full garbage collection per SOAP call (spyne's once-a-second gc.collect is off)."""

from __future__ import annotations

import gc

import spyne.context
from support import call_wsgi

from eproc.config import Settings
from eproc.web import create_app

SOAP_HEADERS = [
    ("Content-Type", "text/xml; charset=utf-8"),
    ("SOAPAction", '"http://www.dcsf.gov.uk/open/webservices/ots/FetchIndex"'),
]


def test_a_soap_call_forces_no_full_collection(settings: Settings) -> None:
    app = create_app(settings)
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><FetchIndex xmlns="http://www.dcsf.gov.uk/open/webservices/ots" /></soap:Body></soap:Envelope>'
    )
    full_collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections.append(1)

    # As if spyne had not collected for a long time: it would collect at the end of this call.
    spyne.context._LAST_GC_RUN = 0
    was_enabled = gc.isenabled()
    gc.disable()  # only explicit collections (spyne's) can run now
    gc.callbacks.append(record)
    try:
        response = call_wsgi(app, "http://127.0.0.1/service.asmx", "POST", body, SOAP_HEADERS).body
    finally:
        gc.callbacks.remove(record)
        if was_enabled:
            gc.enable()
    assert b"AuthenticationException" in response  # the call really went through spyne
    assert full_collections == []
