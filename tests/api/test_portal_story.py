"""The portal API end to end over real HTTP, on SQLite and PostgreSQL: a portal queues, FMS (zeep)
collects and sends an Authorised Order back, the portal follows it all and reads the events feed."""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from api_support import Portal, new_token
from lxml import etree
from support import new_school

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
DATA = Path(__file__).resolve().parents[1] / "data" / "ebis" / "valid"

pytestmark = pytest.mark.e2e


class Fms:
    def __init__(self, endpoint: str, username: str, password: str) -> None:
        self.client = zeep.Client(f"{endpoint}?wsdl")
        self.service = self.client.bind("EprocService", "EprocServiceSoap")
        self.header = self.client.get_element(f"{{{OTS}}}AuthHeader")(Username=username, Password=password)

    def call(self, operation: str, *args: object) -> object:
        return getattr(self.service, operation)(*args, _soapheaders=[self.header])


def _index(text: str) -> list[str]:
    return [d.findtext("DocID") for d in etree.fromstring(text.encode())]


def test_the_whole_story(live_server, live_hub) -> None:  # type: ignore[no-untyped-def]
    username, password = new_school(live_hub, "portal-story-password-1")
    portal = Portal(live_server.base_url, new_token(live_hub, f"story-{username}", accounts=[username]))
    first_event = portal.get("/events", pageSize=1).json()
    start = first_event[0]["id"] if first_event else 1

    # The portal queues a Content Order and an invoice.
    order = portal.queue((DATA / "content-order-full.xml").read_bytes(), account=username)
    invoice = portal.queue((DATA / "invoice-full.xml").read_bytes(), account=username)
    assert order.status_code == 201 and invoice.status_code == 201, (order.text, invoice.text)
    order_id, invoice_id = order.json()["docId"], invoice.json()["docId"]
    assert order.headers["Location"].endswith(f"/api/v1/documents/{order_id}")
    assert portal.get(f"/documents/{order_id}").json()["status"] == "queued"

    # FMS collects them.
    fms = Fms(live_server.endpoint, username, password)
    assert _index(str(fms.call("FetchIndex"))) == [order_id, invoice_id]
    fms.call("FetchDoc", order_id)
    fms.call("FetchDoc", invoice_id)
    collected = portal.get(f"/documents/{invoice_id}").json()
    assert collected["status"] == "collected" and collected["collectCount"] == 1
    fms.call("UpdateDocumentStatus", invoice_id, True)
    assert portal.get(f"/documents/{invoice_id}").json()["status"] == "processed"

    # FMS sends an Authorised Order; the portal takes it once.
    sent = (DATA / "authorised-order-fms.xml").read_text(encoding="utf-8")
    assert fms.call("SendOrder", sent) is True
    waiting = portal.get("/orders", acknowledged="false").json()["items"]
    assert [o["account"] for o in waiting] == [username]
    order_in = waiting[0]["id"]
    xml = portal.get(f"/orders/{order_in}/xml")
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert etree.fromstring(xml.content).tag.endswith("Order")
    assert xml.content.decode("utf-8").split("?>", 1)[1] == sent.split("?>", 1)[1]  # the same document
    acknowledged = portal.post(f"/orders/{order_in}/acknowledge")
    assert acknowledged.status_code == 200 and acknowledged.json()["acknowledgedAt"]
    assert portal.post(f"/orders/{order_in}/acknowledge").json()["acknowledgedAt"] == acknowledged.json()[
        "acknowledgedAt"
    ]  # idempotent
    assert portal.get("/orders", acknowledged="false").json()["items"] == []

    # The events feed tells the whole story, in order.
    story = portal.get("/events", fromEventId=start, pageSize=10000).json()
    assert {e["account"] for e in story} == {username}  # a token limited to one school sees its events only
    types = [e["type"] for e in story]
    assert types == [
        "account.created", "document.queued", "document.queued", "document.collected", "document.collected",
        "document.processed", "order.received", "order.acknowledged",
    ]
    ids = [e["id"] for e in story]
    assert ids == sorted(ids)

    # ...page by page through the Link header, by fromEventId.
    seen: list[int] = []
    response = portal.get("/events", fromEventId=start, pageSize=3)
    while True:
        seen += [e["id"] for e in response.json()]
        link = response.headers.get("Link")
        if not link:
            break
        assert link.endswith('>; rel="next"') and "fromEventId=" in link
        response = portal.get_url(link[1 : link.index(">")])
    assert seen == ids

    # ...and by date range: from inclusive, to exclusive (das-events), to the second.
    first, last = _stamp(story[0]["createdOn"]), _stamp(story[-1]["createdOn"])
    by_date = portal.get("/events", fromDate=first, toDate=_plus_one_second(last), pageSize=10000).json()
    assert [e["id"] for e in by_date] == ids
    assert portal.get("/events", fromDate=first, toDate=first).json() == []
    # fromEventId wins over the dates.
    assert [e["id"] for e in portal.get("/events", fromEventId=start, toDate=first).json()] == ids


def _stamp(iso: str) -> str:
    return iso.replace("-", "").replace(":", "").replace("T", "").rstrip("Z")


def _plus_one_second(stamp: str) -> str:
    from datetime import datetime, timedelta

    return (datetime.strptime(stamp, "%Y%m%d%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
