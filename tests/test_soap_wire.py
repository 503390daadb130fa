"""Raw SOAP 1.1 and 1.2 requests shaped exactly as a .NET client sends them; responses compared byte
for byte with what ASP.NET ASMX writes, and element by element."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dotnet_client as net
import pytest
from support import new_school

from eproc.services import intake

DATA = Path(__file__).parent / "data" / "ebis" / "valid"
PASSWORD = "wire-test-password-1"
PROLOGUE = '<?xml version="1.0" encoding="utf-8"?>'
ENVELOPE_11 = (
    '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
)
ENVELOPE_12 = (
    '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
)
ENVELOPES = {"1.1": ENVELOPE_11, "1.2": ENVELOPE_12}
CONTENT_TYPES = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}

pytestmark = pytest.mark.e2e


def asmx_response(version: str, operation: str, result_xml_text: str) -> bytes:
    """The bytes ASMX writes, spelled out here by hand rather than taken from the code under test."""
    return (
        PROLOGUE + ENVELOPES[version] + "<soap:Body>"
        f'<{operation}Response xmlns="http://www.dcsf.gov.uk/open/webservices/ots">'
        f"<{operation}Result>{result_xml_text}</{operation}Result></{operation}Response>"
        "</soap:Body></soap:Envelope>"
    ).encode("utf-8")


@pytest.fixture(params=["1.1", "1.2"])
def version(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def school(live_hub) -> str:
    username, _ = new_school(live_hub, PASSWORD, establishment_name="Wire School")
    return username


def test_vendor_sample_change_password_exchange(live_server, school):
    """The request exactly as the vendor publishes it (whitespace and all); the answer in ASMX bytes."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">\n'
        "  <soap:Header>\n"
        '    <AuthHeader xmlns="http://www.dcsf.gov.uk/open/webservices/ots">\n'
        f"      <Username>{school}</Username>\n"
        f"      <Password>{PASSWORD}</Password>\n"
        "    </AuthHeader>\n"
        "  </soap:Header>\n"
        "  <soap:Body>\n"
        '    <ChangePassword xmlns="http://www.dcsf.gov.uk/open/webservices/ots" />\n'
        "  </soap:Body>\n"
        "</soap:Envelope>"
    ).encode()
    response = net.post(live_server.endpoint, "ChangePassword", body)
    assert response.status == 200
    assert response.got_continue
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    new_password = net.result_text(response, "ChangePassword")
    assert new_password.isalnum() and len(new_password) >= 20
    assert response.body == asmx_response("1.1", "ChangePassword", new_password)


def test_each_operation_byte_for_byte(live_server, live_hub, school, version):
    source = (DATA / "content-order-full.xml").read_bytes()
    doc = intake.queue_document(live_hub, source, username=school)
    created = _created_of(live_hub, doc.doc_id)
    endpoint = live_server.endpoint

    def call(operation: str, params: str = "") -> net.Response:
        response = net.call(endpoint, operation, params, username=school, password=PASSWORD, version=version)
        assert response.status == 200, response.body
        assert response.got_continue
        assert response.headers["content-type"] == CONTENT_TYPES[version]
        return response

    index_text = (
        '&lt;?xml version="1.0" encoding="utf-8"?&gt;\n&lt;DocumentIndex&gt;\n  &lt;Document&gt;\n'
        f"    &lt;DocID&gt;{doc.doc_id}&lt;/DocID&gt;\n    &lt;DocType&gt;order&lt;/DocType&gt;\n"
        f"    &lt;CreateDate&gt;{created}&lt;/CreateDate&gt;\n  &lt;/Document&gt;\n&lt;/DocumentIndex&gt;\n"
    )
    assert call("FetchIndex").body == asmx_response(version, "FetchIndex", index_text)
    assert call("FetchIndexFromDate", "<BeginDate>2000-01-01T00:00:00</BeginDate>").body == asmx_response(
        version, "FetchIndexFromDate", index_text
    )

    escaped_document = (
        source.decode("utf-8").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )
    fetched = call("FetchDoc", f"<DocID>{doc.doc_id}</DocID>")
    assert fetched.body == asmx_response(version, "FetchDoc", escaped_document)
    assert net.result_text(fetched, "FetchDoc") == source.decode("utf-8")

    updated = call("UpdateDocumentStatus", f"<DocID>{doc.doc_id}</DocID><Processed>true</Processed>")
    assert updated.body == asmx_response(version, "UpdateDocumentStatus", "true")
    updated = call("UpdateDocumentStatus", f"<DocID>{doc.doc_id}</DocID><Processed>0</Processed>")
    assert updated.body == asmx_response(version, "UpdateDocumentStatus", "true")

    order = (DATA / "authorised-order-fms.xml").read_text(encoding="utf-8")
    sent = call("SendOrder", f"<Document>{net.escape(order)}</Document>")
    assert sent.body == asmx_response(version, "SendOrder", "true")


def _created_of(hub, doc_id: str) -> str:
    from eproc.services import admin

    return admin.show_document(hub, doc_id).created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_crlf_documents_survive_the_trip(live_server, live_hub, school, version):
    source = (DATA / "invoice-minimal.xml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    doc = intake.queue_document(live_hub, source, username=school)
    response = net.call(
        live_server.endpoint,
        "FetchDoc",
        f"<DocID>{doc.doc_id}</DocID>",
        username=school,
        password=PASSWORD,
        version=version,
    )
    assert b"&#xD;" in response.body
    assert net.result_text(response, "FetchDoc") == source.decode("utf-8")


@pytest.mark.parametrize(
    "begin",
    [
        "{naive}",  # .NET DateTimeKind.Unspecified: read in Europe/London
        "{utc}.1234567Z",  # seven fraction digits, as .NET writes them
        "{offset}+01:00",
    ],
)
def test_begin_date_forms_dotnet_sends(live_server, live_hub, school, version, begin):
    doc = intake.queue_document(live_hub, (DATA / "invoice-minimal.xml").read_bytes(), username=school)
    created = datetime.now(UTC)
    from zoneinfo import ZoneInfo

    def forms(moment: datetime) -> dict[str, str]:
        return {
            "naive": moment.astimezone(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M:%S"),
            "utc": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "offset": moment.astimezone(ZoneInfo("Etc/GMT-1")).strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def listed(moment: datetime) -> bool:
        params = f"<BeginDate>{begin.format(**forms(moment))}</BeginDate>"
        response = net.call(
            live_server.endpoint, "FetchIndexFromDate", params, username=school, password=PASSWORD, version=version
        )
        assert response.status == 200, response.body
        return doc.doc_id in net.result_text(response, "FetchIndexFromDate")

    assert listed(created - timedelta(minutes=2))
    assert not listed(created + timedelta(minutes=2))


def test_wsdl_is_served_for_any_letter_case_with_the_request_address(live_server):
    import requests

    for query in ("wsdl", "WSDL", "Wsdl"):
        wsdl = requests.get(f"{live_server.endpoint}?{query}", timeout=10)
        assert wsdl.status_code == 200
        assert wsdl.headers["content-type"] == "text/xml; charset=utf-8"
        assert f'location="{live_server.endpoint}"' in wsdl.text


def test_a_body_over_the_size_limit_is_drained_and_answered(live_server, school, version):
    """.NET sends ``Expect: 100-continue`` and then the whole body: the server reads it all (rather than
    resetting the connection), answers with the fault, and keeps serving. (Moved here from
    test_soap_faults.py, whose other faults need no socket.)"""
    limit = 16 * 1024 * 1024
    padding = "x" * (limit + 1)
    body = net.envelope("SendOrder", f"<Document>{padding}</Document>", school, PASSWORD, version)
    response = net.post(live_server.endpoint, "SendOrder", body, version)
    assert response.status == 500
    assert response.headers["content-type"] == CONTENT_TYPES[version]
    code, text = net.fault(response)
    assert code == {"1.1": "soap:Client", "1.2": "soap:Sender"}[version]
    assert text == f"RequestTooLargeException: The request body is larger than {limit} bytes."
    served = net.call(live_server.endpoint, "FetchIndex", username=school, password=PASSWORD, version=version)
    assert "<DocumentIndex" in net.result_text(served, "FetchIndex")
