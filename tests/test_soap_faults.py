"""Every fault FMS can meet, with .NET-shaped requests to the WSGI application in process: HTTP 500,
the right faultcode, the exact faultstring, a detail element, and a service that keeps serving
afterwards. (An oversize body, which needs the wire to be drained, is in test_soap_wire.py.)"""

from __future__ import annotations

import dotnet_client as net
import pytest
from support import InProcessService, new_school, quote_xml

from eproc.services import accounts, intake

AUTH_FAULT = "AuthenticationException: The username or password supplied is not valid."
CLIENT_CODE = {"1.1": "soap:Client", "1.2": "soap:Sender"}
PASSWORD = "correct-horse-battery-1"


@pytest.fixture(scope="module")
def school(live_hub) -> str:
    username, _ = new_school(live_hub, PASSWORD, buyer_duns="111111111", supplier_duns="222222222")
    return username


@pytest.fixture(scope="module")
def other_school_doc_id(live_hub) -> str:
    username, _ = new_school(live_hub, PASSWORD, buyer_duns="333333333", supplier_duns="222222222", prefix="other")
    queued = intake.queue_document(
        live_hub, quote_xml("<Note>for the other school</Note>", buyer_duns="333333333", supplier_duns="222222222"),
        username=username, requested_type="quote",
    )
    return queued.doc_id


def assert_fault(response: net.Response, version: str, message: str) -> None:
    assert response.status == 500
    expected_type = "text/xml; charset=utf-8" if version == "1.1" else "application/soap+xml; charset=utf-8"
    assert response.headers["content-type"] == expected_type
    code, text = net.fault(response)
    assert code == CLIENT_CODE[version]
    assert text == message


def assert_still_serving(server: InProcessService, username: str, version: str) -> None:
    response = net.call(server.endpoint, "FetchIndex", username=username, password=PASSWORD, version=version)
    assert response.status == 200
    assert "<DocumentIndex" in net.result_text(response, "FetchIndex")


@pytest.fixture(params=["1.1", "1.2"])
def version(request: pytest.FixtureRequest) -> str:
    return request.param


def test_wrong_password(live_app, school, version):
    response = net.call(live_app.endpoint, "FetchIndex", username=school, password="wrong", version=version)
    assert_fault(response, version, AUTH_FAULT)
    assert_still_serving(live_app, school, version)


def test_unknown_user_reads_like_a_wrong_password(live_app, school, version):
    response = net.call(
        live_app.endpoint, "FetchIndex", username="nobody-" + school, password=PASSWORD, version=version
    )
    assert_fault(response, version, AUTH_FAULT)
    assert_still_serving(live_app, school, version)


def test_disabled_account(live_app, live_hub, version):
    username, _ = new_school(live_hub, PASSWORD, buyer_duns="444444444", supplier_duns="222222222", prefix="disabled")
    assert net.call(live_app.endpoint, "FetchIndex", username=username, password=PASSWORD).status == 200
    accounts.set_enabled(live_hub, username, False)
    response = net.call(live_app.endpoint, "FetchIndex", username=username, password=PASSWORD, version=version)
    assert_fault(response, version, AUTH_FAULT)
    accounts.set_enabled(live_hub, username, True)
    assert_still_serving(live_app, username, version)


def test_missing_auth_header(live_app, school, version):
    response = net.call(live_app.endpoint, "FetchIndex", username=None, version=version)
    assert_fault(response, version, AUTH_FAULT)
    assert_still_serving(live_app, school, version)


@pytest.mark.parametrize("operation", ["FetchDoc", "UpdateDocumentStatus"])
def test_unknown_doc_id(live_app, school, version, operation):
    params = "<DocID>ORD-DOESNOTEXIST</DocID>" + ("<Processed>true</Processed>" if operation != "FetchDoc" else "")
    response = net.call(live_app.endpoint, operation, params, username=school, password=PASSWORD, version=version)
    assert_fault(response, version, "DocumentNotExistException: Document 'ORD-DOESNOTEXIST' does not exist.")
    assert_still_serving(live_app, school, version)


@pytest.mark.parametrize("operation", ["FetchDoc", "UpdateDocumentStatus"])
def test_another_accounts_doc_id_reads_as_unknown(
    live_app, live_hub, school, other_school_doc_id, version, operation
):
    params = f"<DocID>{other_school_doc_id}</DocID>" + (
        "<Processed>true</Processed>" if operation != "FetchDoc" else ""
    )
    response = net.call(live_app.endpoint, operation, params, username=school, password=PASSWORD, version=version)
    assert_fault(response, version, f"DocumentNotExistException: Document '{other_school_doc_id}' does not exist.")
    from eproc.services import admin

    untouched = admin.show_document(live_hub, other_school_doc_id)
    assert untouched.processed is False and untouched.collect_count == 0
    assert_still_serving(live_app, school, version)


@pytest.mark.parametrize("value", ["yes", "", "TRUE", "2"])
def test_processed_must_be_a_boolean(live_app, school, version, value):
    response = net.call(
        live_app.endpoint,
        "UpdateDocumentStatus",
        f"<DocID>ORD-X</DocID><Processed>{value}</Processed>",
        username=school,
        password=PASSWORD,
        version=version,
    )
    assert_fault(
        response,
        version,
        f"InvalidRequestException: Element 'Processed': '{value}' is not a valid value of the atomic type "
        "'xs:boolean'.",
    )
    assert_still_serving(live_app, school, version)


def test_missing_begin_date(live_app, school, version):
    body = net.envelope("FetchIndexFromDate", "", school, PASSWORD, version)
    body = body.replace(
        b'<FetchIndexFromDate xmlns="http://www.dcsf.gov.uk/open/webservices/ots" />',
        b'<FetchIndexFromDate xmlns="http://www.dcsf.gov.uk/open/webservices/ots"></FetchIndexFromDate>',
    )
    response = net.post(live_app.endpoint, "FetchIndexFromDate", body, version)
    assert_fault(
        response,
        version,
        "InvalidRequestException: Element 'FetchIndexFromDate': Missing child element(s). Expected is ( BeginDate ).",
    )
    assert_still_serving(live_app, school, version)


def test_send_order_with_malformed_xml(live_app, live_hub, school, version):
    from eproc.services import admin

    before = len(admin.list_orders(live_hub, school))
    params = "<Document>" + net.escape("<Order><OrderHead></Order>") + "</Document>"
    response = net.call(live_app.endpoint, "SendOrder", params, username=school, password=PASSWORD, version=version)
    assert_fault(
        response,
        version,
        "InvalidXmlException: not well-formed XML: Opening and ending tag mismatch: OrderHead line 1 and Order "
        "(line 1, column 26)",
    )
    assert len(admin.list_orders(live_hub, school)) == before
    assert_still_serving(live_app, school, version)


def test_malformed_envelope(live_app, school, version):
    response = net.post(live_app.endpoint, "FetchIndex", b"<soap:Envelope", version)
    assert response.status == 500
    code, text = net.fault(response)
    assert code == CLIENT_CODE[version]
    assert text.startswith("InvalidRequestException: the request is not well-formed XML:")
    assert_still_serving(live_app, school, version)


def test_wrong_content_type_is_refused_clearly(live_app, school):
    body = net.envelope("FetchIndex", "", school, PASSWORD)
    response = net.post(live_app.endpoint, "FetchIndex", body, content_type="application/json")
    assert response.status == 415
    code, text = net.fault(response)
    assert code == "soap:Client"
    assert text == (
        "InvalidRequestException: Content-Type 'application/json' is not supported: use text/xml "
        "(SOAP 1.1) or application/soap+xml (SOAP 1.2)"
    )
    assert_still_serving(live_app, school, "1.1")
