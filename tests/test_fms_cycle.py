"""A full FMS import cycle with zeep, built from the served WSDL, over real HTTP to gunicorn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zeep
from lxml import etree
from support import new_school

from eproc.services import admin, intake

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
DATA = Path(__file__).parent / "data" / "ebis" / "valid"
INDEX_SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent.parent / "schemas" / "document-index.xsd")))
QUEUED_FILES = {"content-order-full.xml": "order", "invoice-full.xml": "invoice", "creditnote-full.xml": "creditnote"}

pytestmark = pytest.mark.e2e


def parse_index(text: str) -> list[tuple[str, str, str]]:
    """(DocID, DocType, CreateDate) entries, after validating against our published index XSD."""
    root = etree.fromstring(text.encode("utf-8"))
    INDEX_SCHEMA.assertValid(root)
    return [(d.findtext("DocID"), d.findtext("DocType"), d.findtext("CreateDate")) for d in root]


class Fms:
    """What FMS does, through a zeep client made from the service's own WSDL."""

    def __init__(self, endpoint: str, binding: str, username: str, password: str) -> None:
        self.client = zeep.Client(f"{endpoint}?wsdl")
        self.service = self.client.bind("EprocService", binding)
        self.username, self.password = username, password

    def __getattr__(self, operation: str):  # type: ignore[no-untyped-def]
        method = getattr(self.service, operation)
        header = self.client.get_element(f"{{{OTS}}}AuthHeader")(Username=self.username, Password=self.password)
        return lambda *args: method(*args, _soapheaders=[header])


@pytest.fixture(params=["EprocServiceSoap", "EprocServiceSoap12"])
def binding(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def school(live_hub) -> tuple[str, str]:
    return new_school(live_hub, establishment_name="Hillside Primary School")


def test_full_import_cycle(live_server, live_hub, school, binding):
    username, password = school
    before_queueing = datetime.now(UTC) - timedelta(seconds=1)
    queued = {}
    for name, doc_type in QUEUED_FILES.items():
        document = intake.queue_document(live_hub, (DATA / name).read_bytes(), username=username)
        assert document.doc_type == doc_type
        queued[document.doc_id] = name

    fms = Fms(live_server.endpoint, binding, username, password)

    index = parse_index(fms.FetchIndex())
    assert [doc_id for doc_id, _, _ in index] == list(queued)  # oldest first
    assert {doc_id: doc_type for doc_id, doc_type, _ in index} == {
        doc_id: QUEUED_FILES[name] for doc_id, name in queued.items()
    }
    assert parse_index(fms.FetchIndex()) == index  # listing changes nothing

    for doc_id, name in queued.items():
        assert fms.FetchDoc(doc_id) == (DATA / name).read_bytes().decode("utf-8")
        assert fms.UpdateDocumentStatus(doc_id, True) is True
        assert fms.UpdateDocumentStatus(doc_id, True) is True  # idempotent
    assert parse_index(fms.FetchIndex()) == []

    since = parse_index(fms.FetchIndexFromDate(before_queueing))
    assert [doc_id for doc_id, _, _ in since] == list(queued)
    assert parse_index(fms.FetchIndexFromDate(datetime.now(UTC) + timedelta(minutes=1))) == []

    first = next(iter(queued))
    assert fms.UpdateDocumentStatus(first, False) is True
    assert [doc_id for doc_id, _, _ in parse_index(fms.FetchIndex())] == [first]

    shown = admin.show_document(live_hub, first)
    assert shown.collect_count == 1 and shown.processed is False


def test_send_order_is_stored_once_and_revised_when_amended(live_server, live_hub, school, binding):
    username, password = school
    fms = Fms(live_server.endpoint, binding, username, password)
    order = (DATA / "authorised-order-fms.xml").read_text(encoding="utf-8")
    assert fms.SendOrder(order) is True
    assert fms.SendOrder(order) is True  # FMS retries: stored once
    stored = admin.list_orders(live_hub, username)
    assert len(stored) == 1
    assert admin.show_order(live_hub, stored[0].id).xml == order.encode()  # declared utf-8: stored as sent
    assert stored[0].revision == 1

    amended = order.replace("<Amount>", "<Amount>1", 1)
    assert fms.SendOrder(amended) is True
    revisions = admin.list_orders(live_hub, username)
    assert [(o.order_number, o.revision) for o in revisions] == [
        (stored[0].order_number, 1),
        (stored[0].order_number, 2),
    ]


def test_change_password_keeps_the_old_one_until_the_new_one_is_used(live_server, school, binding):
    username, old_password = school
    old = Fms(live_server.endpoint, binding, username, old_password)
    new_password = old.ChangePassword()
    assert new_password != old_password
    assert len(new_password) >= 16 and new_password.isalnum()

    # The response might have been lost: FMS still holds the old password, and it still works.
    parse_index(old.FetchIndex())
    new = Fms(live_server.endpoint, binding, username, new_password)
    parse_index(new.FetchIndex())
    # The new one has been used, so FMS has it: the old one is retired.
    with pytest.raises(zeep.exceptions.Fault) as refused:
        old.FetchIndex()
    assert refused.value.message == "AuthenticationException: The username or password supplied is not valid."
    parse_index(new.FetchIndex())


def test_change_password_twice_with_lost_responses(live_server, school, binding):
    """Two lost ChangePassword responses in a row: the password FMS holds must still work."""
    username, original = school
    fms = Fms(live_server.endpoint, binding, username, original)
    fms.ChangePassword()  # lost
    latest = fms.ChangePassword()  # lost too, but made with the original password
    parse_index(fms.FetchIndex())
    parse_index(Fms(live_server.endpoint, binding, username, latest).FetchIndex())
