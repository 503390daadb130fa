"""`eproc serve --tls-cert/--tls-key`: the FMS cycle over HTTPS, the client verifying the certificate."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dotnet_client as net
import pytest
import requests
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import new_school, run_cli, start_server
from zeep.transports import Transport

from eproc.services import intake

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
DATA = Path(__file__).parent / "data" / "ebis" / "valid"

pytestmark = pytest.mark.e2e


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost; the test trusts exactly it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eproc test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(live_database, tmp_path_factory):
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"))
    server = start_server(live_database, "--tls-cert", str(cert), "--tls-key", str(key))
    yield server, cert
    server.stop()


def test_fms_cycle_over_https(tls_server, live_hub):
    server, cert = tls_server
    assert server.base_url.startswith("https://127.0.0.1:")
    username, password = new_school(live_hub, establishment_name="Secure School")
    doc = intake.queue_document(live_hub, (DATA / "invoice-full.xml").read_bytes(), username=username)

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the one CA this test trusts
    session.verify = str(cert)
    client = zeep.Client(f"{server.endpoint}?wsdl", transport=Transport(session=session))
    # The WSDL names the URL the request came in on, https included, so zeep posts back over TLS.
    assert client.service._binding_options["address"] == server.endpoint
    header = client.get_element(f"{{{OTS}}}AuthHeader")(Username=username, Password=password)
    assert doc.doc_id in client.service.FetchIndex(_soapheaders=[header])
    assert client.service.FetchDoc(doc.doc_id, _soapheaders=[header]) == (DATA / "invoice-full.xml").read_text()
    assert client.service.UpdateDocumentStatus(doc.doc_id, True, _soapheaders=[header]) is True
    assert doc.doc_id not in client.service.FetchIndex(_soapheaders=[header])

    # The raw .NET-shaped client over TLS, with Expect: 100-continue.
    context = ssl.create_default_context(cafile=str(cert))
    response = net.call(server.endpoint, "FetchIndex", username=username, password=password, ssl_context=context)
    assert response.status == 200 and response.got_continue


def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_server):
    server, _cert = tls_server
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.endpoint}?wsdl", timeout=10)


def test_serve_refuses_half_a_tls_configuration(tmp_path):
    cert, _key = make_certificate(tmp_path)
    result = run_cli(None, "serve", "--port", "0", "--tls-cert", str(cert))
    assert result.returncode != 0
    assert result.stderr.strip() == "eproc: error: --tls-cert and --tls-key go together"
