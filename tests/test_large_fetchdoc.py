"""A large FetchDoc leaves nothing behind: once the answer is sent, the worker holds neither the
document's text nor its escaped answer (spyne's call contexts are reference cycles, which only a
full collection would otherwise free)."""

from __future__ import annotations

import gc
import tracemalloc

from support import call_wsgi, in_process_service, new_school, quote_xml

from eproc.services import intake
from eproc.services.hub import Hub

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"


def test_a_large_fetchdoc_holds_no_copy_once_answered(hub: Hub) -> None:
    username, password = new_school(hub)
    line = "<Line><Note>Pens &amp; paper &lt;A4&gt;</Note></Line>\n"
    xml = quote_xml(line * 40_000)  # about 2 MB
    doc_id = intake.queue_document(hub, xml, username=username, requested_type="quote").doc_id
    app = in_process_service(hub=hub).app
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Header><AuthHeader xmlns="{OTS}"><Username>{username}</Username><Password>{password}</Password>'
        f'</AuthHeader></soap:Header><soap:Body><FetchDoc xmlns="{OTS}"><DocID>{doc_id}</DocID></FetchDoc>'
        "</soap:Body></soap:Envelope>"
    ).encode()
    headers = [("Content-Type", "text/xml; charset=utf-8"), ("SOAPAction", f'"{OTS}/FetchDoc"')]
    call_wsgi(app, "http://127.0.0.1/service.asmx", "POST", body, headers)  # warm
    gc.collect()
    gc.disable()  # as in a worker between spyne's (disabled) forced collections
    tracemalloc.start()
    try:
        response = call_wsgi(app, "http://127.0.0.1/service.asmx", "POST", body, headers)
        assert response.status == 200 and len(response.body) > len(xml)
        del response
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert peak > len(xml)  # the call did make its copies...
    assert held < len(xml) / 4, f"{held} bytes still held after the answer (document {len(xml)})"
