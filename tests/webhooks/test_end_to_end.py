"""End to end over real HTTP: ``eproc serve`` with its webhook worker, a portal making an endpoint
through the API, FMS (zeep) sending an Authorised Order, and a receiver started by the test."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import zeep
from hook_support import FAST, Portal, Receiver, new_token
from standardwebhooks.webhooks import Webhook
from support import new_school, start_server

from eproc.services.hub import Hub

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
ORDER = Path(__file__).resolve().parents[1] / "data" / "ebis" / "valid" / "authorised-order-fms.xml"

pytestmark = pytest.mark.e2e


def authorised_order(number: str) -> str:
    """The FMS fixture with another order number (its checksum then only draws a warning)."""
    return ORDER.read_text(encoding="utf-8").replace("HIL/000731", number)


def test_an_authorised_order_from_fms_reaches_the_receiver_signed(live_database: str, live_hub: Hub) -> None:
    receiver = Receiver().start()
    server = start_server(live_database, env=FAST, worker=True)
    try:
        username, password = new_school(live_hub, "webhook-e2e-password-1")
        token = new_token(live_hub, f"hooks-{username}", ["ManageWebhook", "ReadOrder"], [username])
        portal = Portal(server.base_url, token)
        made = portal.call("POST", "/webhooks", {"url": receiver.url, "events": ["order.received"],
                                                 "description": "the order system"})
        assert made.status_code == 201, made.text
        webhook, secret = made.json(), made.json()["secret"]
        assert secret.startswith("whsec_") and webhook["accounts"] == [username]
        assert "secret" not in portal.call("GET", f"/webhooks/{webhook['id']}").json()

        client = zeep.Client(f"{server.endpoint}?wsdl")
        service = client.bind("EprocService", "EprocServiceSoap")
        header = client.get_element(f"{{{OTS}}}AuthHeader")(Username=username, Password=password)
        sent = authorised_order("HIL/E2E-1")
        assert service.SendOrder(sent, _soapheaders=[header]) is True
        returned = time.monotonic()

        [request] = receiver.wait_for(1, timeout=20)
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "order.received"
        data = payload["data"]
        assert data["account"] == username and data["orderNumber"] == "HIL/E2E-1" and data["revision"] == 1
        assert data["xml"].split("?>", 1)[-1] == sent.split("?>", 1)[-1]
        assert portal.call("GET", f"/orders/{data['orderId']}").status_code == 200
        assert request.at - returned < 5  # measured properly by bench/bench_webhooks.py

        log = portal.call("GET", f"/webhooks/{webhook['id']}/deliveries").json()["items"]
        deadline = time.monotonic() + 10
        while log[0]["status"] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker records the answer just after the receiver has it
            log = portal.call("GET", f"/webhooks/{webhook['id']}/deliveries").json()["items"]
        assert log[0]["status"] == "delivered" and log[0]["messageId"] == request.headers["webhook-id"]
        assert [a["statusCode"] for a in log[0]["history"]] == [200]
    finally:
        server.stop()
        receiver.stop()
    assert any("webhook worker started" in line for line in server.log)


def test_serve_without_worker_sends_nothing(live_database: str, live_hub: Hub) -> None:
    receiver = Receiver().start()
    server = start_server(live_database, env=FAST)  # --no-worker
    try:
        token = new_token(live_hub, f"hooks-off-{time.monotonic_ns()}", ["ManageWebhook"])
        portal = Portal(server.base_url, token)
        made = portal.call("POST", "/webhooks", {"url": receiver.url, "events": ["webhook.created"]}).json()
        assert portal.call("POST", f"/webhooks/{made['id']}/test").status_code == 202
        time.sleep(0.5)  # ten polls of a worker, had one been started
        assert receiver.requests == []
        log = json.loads(portal.call("GET", f"/webhooks/{made['id']}/deliveries").text)["items"]
        assert log[0]["status"] == "pending"
        portal.call("DELETE", f"/webhooks/{made['id']}")
    finally:
        server.stop()
        receiver.stop()
