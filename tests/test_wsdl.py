"""The static WSDL, its rendering per request, and the document index schema.

The WSDL is the contract a .NET tool regenerates FMS's proxy from (fms-web-service.md, section 3),
so these tests pin the details that change the generated client API: operation signatures,
``parameters`` part names, soapAction values, and minOccurs/nillable on value types.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from lxml import etree

from eproc.config import PROJECT_ROOT
from eproc.soap.wsdl import PLACEHOLDER_LOCATION, WsdlTemplate, WsdlTemplateError, endpoint_url, render_wsdl

SCHEMA_DIR = PROJECT_ROOT / "schemas"
WSDL_PATH = SCHEMA_DIR / "service.wsdl"
INDEX_XSD_PATH = SCHEMA_DIR / "document-index.xsd"

TNS = "http://www.dcsf.gov.uk/open/webservices/ots"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_NS = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
NS = {"wsdl": WSDL_NS, "soap": SOAP_NS, "soap12": SOAP12_NS, "s": XS_NS}

# Operation -> (request children in order as (name, xsd type), (result name, xsd type)).
OPERATIONS: dict[str, tuple[list[tuple[str, str]], tuple[str, str]]] = {
    "ChangePassword": ([], ("ChangePasswordResult", "string")),
    "FetchIndex": ([], ("FetchIndexResult", "string")),
    "FetchIndexFromDate": ([("BeginDate", "dateTime")], ("FetchIndexFromDateResult", "string")),
    "UpdateDocumentStatus": (
        [("DocID", "string"), ("Processed", "boolean")],
        ("UpdateDocumentStatusResult", "boolean"),
    ),
    "FetchDoc": ([("DocID", "string")], ("FetchDocResult", "string")),
    "SendOrder": ([("Document", "string")], ("SendOrderResult", "boolean")),
}
BINDINGS = {"EprocServiceSoap": "Soap11Binding", "EprocServiceSoap12": "Soap12Binding"}
ASMX_PREFIXES = {
    "wsdl": WSDL_NS,
    "s": XS_NS,
    "soap": SOAP_NS,
    "soap12": SOAP12_NS,
    "tns": TNS,
    "mime": "http://schemas.xmlsoap.org/wsdl/mime/",
    "http": "http://schemas.xmlsoap.org/wsdl/http/",
    "soapenc": "http://schemas.xmlsoap.org/soap/encoding/",
    "tm": "http://microsoft.com/wsdl/mime/textMatching/",
}


def _q(name: str) -> str:
    return f"{{{TNS}}}{name}"


@pytest.fixture(scope="module")
def wsdl_root() -> etree._Element:
    return etree.parse(str(WSDL_PATH)).getroot()


@pytest.fixture(scope="module")
def client() -> zeep.Client:
    return zeep.Client(str(WSDL_PATH))


# --- (a) what a SOAP client sees ----------------------------------------------------------------


@pytest.mark.parametrize("binding_name", sorted(BINDINGS))
def test_zeep_sees_six_operations_with_asmx_signatures(client: zeep.Client, binding_name: str) -> None:
    binding = client.wsdl.bindings[_q(binding_name)]
    assert type(binding).__name__ == BINDINGS[binding_name]
    assert set(binding._operations) == set(OPERATIONS)
    for name, (params, (result_name, result_type)) in OPERATIONS.items():
        operation = binding._operations[name]
        assert operation.style == "document"
        assert operation.input.body.qname == _q(name)
        inputs = [(n, el.type.qname.localname) for n, el in operation.input.body.type.elements]
        assert inputs == params, name
        assert operation.output.body.qname == _q(f"{name}Response")
        outputs = [(n, el.type.qname.localname) for n, el in operation.output.body.type.elements]
        assert outputs == [(result_name, result_type)], name
        # Every operation takes the AuthHeader SOAP header, and only that.
        header_parts = operation.input.header.type.elements
        assert [(n, el.qname) for n, el in header_parts] == [("AuthHeader", _q("AuthHeader"))], name
        assert operation.output.header.type.elements == [], name


def test_zeep_signatures_read_like_the_dotnet_proxy(client: zeep.Client) -> None:
    """The readable form of the same facts: string FetchIndexFromDate(DateTime BeginDate) etc."""
    binding = client.wsdl.bindings[_q("EprocServiceSoap")]
    signatures = {
        name: (op.input.signature(as_output=False), op.output.signature(as_output=True))
        for name, op in binding._operations.items()
    }
    header = "_soapheaders={AuthHeader: ns0:AuthHeader}"
    assert signatures == {
        "ChangePassword": (header, "ChangePasswordResult: xsd:string"),
        "FetchIndex": (header, "FetchIndexResult: xsd:string"),
        "FetchIndexFromDate": (f"BeginDate: xsd:dateTime, {header}", "FetchIndexFromDateResult: xsd:string"),
        "UpdateDocumentStatus": (
            f"DocID: xsd:string, Processed: xsd:boolean, {header}",
            "UpdateDocumentStatusResult: xsd:boolean",
        ),
        "FetchDoc": (f"DocID: xsd:string, {header}", "FetchDocResult: xsd:string"),
        "SendOrder": (f"Document: xsd:string, {header}", "SendOrderResult: xsd:boolean"),
    }


def test_auth_header_element_has_username_then_password(client: zeep.Client, wsdl_root) -> None:
    header = client.get_element(_q("AuthHeader"))
    assert header.type.qname == _q("AuthHeader")
    children = [(n, el.type.qname.localname, el.min_occurs, el.max_occurs) for n, el in header.type.elements]
    assert children == [("Username", "string", 0, 1), ("Password", "string", 0, 1)]
    # ASMX writes <s:anyAttribute /> on every SoapHeader type (soap:mustUnderstand, soap:actor...).
    complex_type = wsdl_root.find("wsdl:types/s:schema/s:complexType[@name='AuthHeader']", NS)
    assert complex_type is not None
    assert [etree.QName(c).localname for c in complex_type] == ["sequence", "anyAttribute"]


def test_service_has_a_soap11_and_a_soap12_port(client: zeep.Client) -> None:
    service = client.wsdl.services["EprocService"]
    ports = {name: (port.binding.name, port.binding_options["address"]) for name, port in service.ports.items()}
    assert ports == {
        "EprocServiceSoap": (_q("EprocServiceSoap"), PLACEHOLDER_LOCATION),
        "EprocServiceSoap12": (_q("EprocServiceSoap12"), PLACEHOLDER_LOCATION),
    }


def test_zeep_builds_the_request_a_dotnet_client_sends(client: zeep.Client) -> None:
    envelope = client.create_message(
        client.service,
        "UpdateDocumentStatus",
        DocID="INV-1",
        Processed=True,
        _soapheaders={"AuthHeader": {"Username": "school", "Password": "secret"}},
    )
    header = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
    auth = header.find(_q("AuthHeader"))
    assert [(etree.QName(c).localname, c.text) for c in auth] == [
        ("Username", "school"),
        ("Password", "secret"),
    ]
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    request = body.find(_q("UpdateDocumentStatus"))
    assert [(c.tag, c.text) for c in request] == [(_q("DocID"), "INV-1"), (_q("Processed"), "true")]


# --- (b) soapAction and binding details ---------------------------------------------------------


@pytest.mark.parametrize(("binding_name", "prefix"), [("EprocServiceSoap", "soap"), ("EprocServiceSoap12", "soap12")])
def test_each_operation_has_the_asmx_soap_action_and_header(wsdl_root, client, binding_name, prefix) -> None:
    binding = wsdl_root.find(f"wsdl:binding[@name='{binding_name}']", NS)
    assert binding.get("type") == "tns:EprocServiceSoap"
    transport = binding.find(f"{prefix}:binding", NS)
    assert transport.get("transport") == "http://schemas.xmlsoap.org/soap/http"
    operations = binding.findall("wsdl:operation", NS)
    assert [op.get("name") for op in operations] == list(OPERATIONS)
    for op in operations:
        name = op.get("name")
        soap_operation = op.find(f"{prefix}:operation", NS)
        assert soap_operation.attrib == {"soapAction": f"{TNS}/{name}", "style": "document"}
        assert op.find(f"wsdl:input/{prefix}:body", NS).attrib == {"use": "literal"}
        assert op.find(f"wsdl:output/{prefix}:body", NS).attrib == {"use": "literal"}
        header = op.find(f"wsdl:input/{prefix}:header", NS)
        assert header.attrib == {"message": f"tns:{name}AuthHeader", "part": "AuthHeader", "use": "literal"}
        assert op.find(f"wsdl:output/{prefix}:header", NS) is None
        # The same value as parsed by a client library.
        assert client.wsdl.bindings[_q(binding_name)]._operations[name].soapaction == f"{TNS}/{name}"


# --- (c) occurrence, nillability, naming --------------------------------------------------------


def test_value_types_are_required_and_not_nillable_strings_optional(wsdl_root) -> None:
    schema = wsdl_root.find("wsdl:types/s:schema", NS)
    assert schema.get("elementFormDefault") == "qualified"
    assert schema.get("targetNamespace") == TNS
    leaves = schema.findall(".//s:sequence/s:element", NS)
    expected = {f"{op}/{n}": t for op, (params, _) in OPERATIONS.items() for n, t in params}
    expected |= {f"{op}Response/{r}": t for op, (_, (r, t)) in OPERATIONS.items()}
    expected |= {"AuthHeader/Username": "string", "AuthHeader/Password": "string"}
    seen = {}
    for leaf in leaves:
        owner = leaf.getparent().getparent()
        owner_name = owner.get("name") or owner.getparent().get("name")
        key = f"{owner_name}/{leaf.get('name')}"
        seen[key] = leaf.get("type").removeprefix("s:")
        assert leaf.get("maxOccurs") == "1", key
        assert leaf.get("nillable") is None, key
        if seen[key] in ("boolean", "dateTime"):
            assert leaf.get("minOccurs") == "1", key
        else:
            assert seen[key] == "string", key
            assert leaf.get("minOccurs") == "0", key
    assert seen == expected
    # Operations without parameters are an empty complexType, as ASMX writes them.
    for name in ("ChangePassword", "FetchIndex"):
        element = schema.find(f"s:element[@name='{name}']", NS)
        assert len(element) == 1 and len(element[0]) == 0


def test_messages_and_parts_are_named_as_asmx_names_them(wsdl_root, client) -> None:
    messages = {m.get("name"): m for m in wsdl_root.findall("wsdl:message", NS)}
    expected = {}
    for op in OPERATIONS:
        expected[f"{op}SoapIn"] = ("parameters", f"tns:{op}")
        expected[f"{op}SoapOut"] = ("parameters", f"tns:{op}Response")
        expected[f"{op}AuthHeader"] = ("AuthHeader", "tns:AuthHeader")
    actual = {}
    for name, message in messages.items():
        parts = message.findall("wsdl:part", NS)
        assert len(parts) == 1, name
        actual[name] = (parts[0].get("name"), parts[0].get("element"))
    assert actual == expected
    # zeep reads the same parts.
    assert list(client.wsdl.messages[_q("SendOrderSoapIn")].parts) == ["parameters"]

    port_types = wsdl_root.findall("wsdl:portType", NS)
    assert [p.get("name") for p in port_types] == ["EprocServiceSoap"]
    for op in port_types[0].findall("wsdl:operation", NS):
        name = op.get("name")
        assert op.find("wsdl:input", NS).get("message") == f"tns:{name}SoapIn"
        assert op.find("wsdl:output", NS).get("message") == f"tns:{name}SoapOut"


def test_root_uses_the_asmx_prefixes(wsdl_root) -> None:
    assert wsdl_root.tag == f"{{{WSDL_NS}}}definitions"
    assert wsdl_root.get("targetNamespace") == TNS
    assert {k: v for k, v in wsdl_root.nsmap.items() if k is not None} == ASMX_PREFIXES
    assert [s.get("name") for s in wsdl_root.findall("wsdl:service", NS)] == ["EprocService"]


def test_embedded_schema_accepts_asmx_requests_and_rejects_bad_values(wsdl_root) -> None:
    """The types section is a usable schema: it says what the server should accept."""
    # Serialised on its own so that the tns: prefix used in type="tns:AuthHeader" stays declared.
    schema = etree.XMLSchema(etree.fromstring(etree.tostring(wsdl_root.find("wsdl:types/s:schema", NS))))
    ok = [
        f'<AuthHeader xmlns="{TNS}"><Username>string</Username><Password>string</Password></AuthHeader>',
        f'<ChangePassword xmlns="{TNS}" />',
        f'<FetchIndexFromDate xmlns="{TNS}"><BeginDate>2024-03-01T13:45:10.1234567Z</BeginDate></FetchIndexFromDate>',
        f'<UpdateDocumentStatus xmlns="{TNS}"><DocID>A</DocID><Processed>1</Processed></UpdateDocumentStatus>',
        f'<UpdateDocumentStatusResponse xmlns="{TNS}"><UpdateDocumentStatusResult>true'
        "</UpdateDocumentStatusResult></UpdateDocumentStatusResponse>",
    ]
    bad = [
        f'<FetchIndexFromDate xmlns="{TNS}" />',
        f'<UpdateDocumentStatus xmlns="{TNS}"><DocID>A</DocID><Processed>yes</Processed></UpdateDocumentStatus>',
        f'<UpdateDocumentStatus xmlns="{TNS}"><DocID>A</DocID><Processed xmlns:xsi='
        '"http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/></UpdateDocumentStatus>',
        f'<AuthHeader xmlns="{TNS}"><Password>p</Password><Username>u</Username></AuthHeader>',
    ]
    for text in ok:
        assert schema.validate(etree.fromstring(text)), (text, schema.error_log)
    for text in bad:
        assert not schema.validate(etree.fromstring(text)), text


# --- (d) rendering and the endpoint URL ---------------------------------------------------------


def _addresses(data: bytes) -> list[str]:
    root = etree.fromstring(data)
    return [el.get("location") for el in root.iterfind("wsdl:service/wsdl:port/*", NS)]


def test_render_sets_both_addresses_and_changes_nothing_else(tmp_path: Path) -> None:
    url = "https://eproc.example.org/service.asmx"
    data = render_wsdl(url)
    assert _addresses(data) == [url, url]
    original = WSDL_PATH.read_bytes()
    assert data == original.replace(PLACEHOLDER_LOCATION.encode(), url.encode())
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')

    # A client built from the served bytes posts to the rewritten address on both ports.
    served = tmp_path / "served.wsdl"
    served.write_bytes(data)
    client = zeep.Client(str(served))
    assert client.service._binding_options["address"] == url
    assert client.bind("EprocService", "EprocServiceSoap12")._binding_options["address"] == url
    assert set(client.service._binding._operations) == set(OPERATIONS)


def test_render_escapes_the_url() -> None:
    url = 'https://eproc.example.org/service.asmx?a=1&b=<2>"'
    data = render_wsdl(url)
    assert b'location="https://eproc.example.org/service.asmx?a=1&amp;b=&lt;2&gt;&quot;"' in data
    assert _addresses(data) == [url, url]


def test_render_is_cached_per_url() -> None:
    first = render_wsdl("https://a.example/service.asmx")
    assert render_wsdl("https://a.example/service.asmx") is first
    assert render_wsdl("https://b.example/service.asmx") != first


@pytest.mark.parametrize("url", ["", "/service.asmx", "ftp://host/x", "https://host/x\n", "https://host/\x00"])
def test_render_refuses_urls_that_are_not_absolute_http(url: str) -> None:
    with pytest.raises(ValueError):
        render_wsdl(url)


def test_render_refuses_a_template_without_the_placeholder(tmp_path: Path) -> None:
    template = tmp_path / "service.wsdl"
    template.write_bytes(WSDL_PATH.read_bytes().replace(PLACEHOLDER_LOCATION.encode(), b"http://elsewhere/x.asmx", 1))
    with pytest.raises(WsdlTemplateError):
        render_wsdl("https://eproc.example.org/service.asmx", template)
    with pytest.raises(WsdlTemplateError):
        WsdlTemplate(template)


def _environ(**overrides: str) -> dict[str, str]:
    environ = {
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "10.0.0.5",
        "SERVER_PORT": "8080",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/SERVICE.ASMX",
        "QUERY_STRING": "WSDL",
        "HTTP_HOST": "eproc.example.org",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "schools.example.org",
    }
    environ.update(overrides)
    return environ


def test_endpoint_url_uses_host_and_configured_path_when_not_trusted() -> None:
    assert endpoint_url(_environ(), "/service.asmx", False) == "http://eproc.example.org/service.asmx"


def test_endpoint_url_honours_forwarded_headers_only_when_trusted() -> None:
    assert endpoint_url(_environ(), "/service.asmx", True) == "https://schools.example.org/service.asmx"
    # Only the proto forwarded: the Host header still names the host.
    environ = _environ(HTTP_X_FORWARDED_HOST="")
    assert endpoint_url(environ, "/service.asmx", True) == "https://eproc.example.org/service.asmx"


def test_endpoint_url_takes_the_nearest_proxy_value_and_ignores_junk() -> None:
    environ = _environ(HTTP_X_FORWARDED_PROTO="http, https", HTTP_X_FORWARDED_HOST="evil.example, a.example:8443")
    assert endpoint_url(environ, "/service.asmx", True) == "https://a.example:8443/service.asmx"
    environ = _environ(HTTP_X_FORWARDED_PROTO="gopher", HTTP_X_FORWARDED_HOST='x"><a')
    assert endpoint_url(environ, "/service.asmx", True) == "http://eproc.example.org/service.asmx"


def test_endpoint_url_falls_back_to_server_name_and_port() -> None:
    environ = _environ(HTTP_HOST="")
    assert endpoint_url(environ, "/service.asmx", False) == "http://10.0.0.5:8080/service.asmx"
    environ = _environ(HTTP_HOST='bad host"', SERVER_PORT="80", SERVER_NAME="eproc.internal")
    assert endpoint_url(environ, "/service.asmx", False) == "http://eproc.internal/service.asmx"
    environ = _environ(HTTP_HOST="", SERVER_PORT="443", SERVER_NAME="eproc.internal", **{"wsgi.url_scheme": "https"})
    assert endpoint_url(environ, "/service.asmx", False) == "https://eproc.internal/service.asmx"


def test_endpoint_url_keeps_ports_ipv6_and_script_name() -> None:
    environ = _environ(HTTP_HOST="[::1]:8443", SCRIPT_NAME="/eproc/", **{"wsgi.url_scheme": "https"})
    assert endpoint_url(environ, "/fms/service.asmx", False) == "https://[::1]:8443/eproc/fms/service.asmx"
    environ = _environ(HTTP_HOST="localhost:8080")
    assert endpoint_url(environ, "/my service.asmx", False) == "http://localhost:8080/my%20service.asmx"


def test_endpoint_url_round_trips_through_render() -> None:
    url = endpoint_url(_environ(), "/service.asmx", True)
    assert _addresses(render_wsdl(url)) == [url, url]


# --- (e) the document index schema --------------------------------------------------------------


@pytest.fixture(scope="module")
def index_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(INDEX_XSD_PATH)))


def _index(*documents: tuple[str, str, str]) -> etree._Element:
    entries = "".join(
        f"<Document><DocID>{d}</DocID><DocType>{t}</DocType><CreateDate>{c}</CreateDate></Document>"
        for d, t, c in documents
    )
    return etree.fromstring(
        f'<?xml version="1.0" encoding="utf-8"?>\n<DocumentIndex>{entries}</DocumentIndex>'.encode()
    )


def test_index_schema_accepts_the_canonical_layout(index_schema: etree.XMLSchema) -> None:
    samples = [
        _index(),
        _index(("ORD-01JDB8Z3QK7M2X", "order", "2026-11-22T09:15:30Z")),
        _index(
            ("INV-1", "invoice", "2026-11-22T09:15:30.123Z"),
            ("CN-1", "creditnote", "2026-11-22T10:00:00Z"),
            ("Q" * 100, "quote", "2026-11-22T10:00:00.1234567Z"),
        ),
    ]
    for sample in samples:
        assert index_schema.validate(sample), index_schema.error_log


@pytest.mark.parametrize(
    "document",
    [
        ("ORD 1", "order", "2026-11-22T09:15:30Z"),
        ("ORD\t1", "order", "2026-11-22T09:15:30Z"),
        ("", "order", "2026-11-22T09:15:30Z"),
        ("X" * 101, "order", "2026-11-22T09:15:30Z"),
        ("ORD-1", "Order", "2026-11-22T09:15:30Z"),
        ("ORD-1", "receipt", "2026-11-22T09:15:30Z"),
        ("ORD-1", "order", "2026-11-22T09:15:30"),
        ("ORD-1", "order", "2026-11-22T09:15:30+00:00"),
        ("ORD-1", "order", "2026-11-22"),
        ("ORD-1", "order", "2026-13-22T09:15:30Z"),
    ],
)
def test_index_schema_rejects_bad_entries(index_schema: etree.XMLSchema, document) -> None:
    assert not index_schema.validate(_index(document))


def test_index_schema_rejects_duplicate_ids_and_wrong_order(index_schema: etree.XMLSchema) -> None:
    twice = _index(("A", "order", "2026-11-22T09:15:30Z"), ("A", "invoice", "2026-11-22T09:15:31Z"))
    assert not index_schema.validate(twice)
    swapped = etree.fromstring(
        b"<DocumentIndex><Document><DocType>order</DocType><DocID>A</DocID>"
        b"<CreateDate>2026-11-22T09:15:30Z</CreateDate></Document></DocumentIndex>"
    )
    assert not index_schema.validate(swapped)
