"""``/api/v1/webhooks`` in process: the contract's operations, ManageWebhook, tenants, and hostile
input answered as problem details."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hook_support import new_token
from support import new_school
from werkzeug.test import Client

from eproc.services.hub import Hub
from eproc.web import create_app

JSON = {"Content-Type": "application/json"}
RECEIVER = "https://hooks.example.org/eproc"


class Api:
    def __init__(self, hub: Hub, token: str) -> None:
        self.client = Client(create_app(hub=hub))
        self.auth = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None, **query: Any) -> Any:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.open(f"/api/v1{path}", method=method, data=data, query_string=query,
                                headers={**self.auth, **(JSON if data is not None else {})})


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status and body["detail"]
    return body


@pytest.fixture
def api(hub: Hub) -> Api:
    return Api(hub, new_token(hub, "hooks-admin", ["ManageWebhook"]))


def test_create_show_list_patch_test_deliveries_retry_delete(hub: Hub, api: Api) -> None:
    made = api.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received", "document.processed"],
                                           "description": "order system"})
    assert made.status_code == 201
    body = made.get_json()
    assert body["secret"].startswith("whsec_") and body["accounts"] is None and body["enabled"] is True
    assert body["createdBy"] == "token:hooks-admin"
    assert made.headers["Location"] == f"/api/v1/webhooks/{body['id']}"
    path = f"/webhooks/{body['id']}"
    shown = api.call("GET", path).get_json()
    assert "secret" not in shown and shown["events"] == ["document.processed", "order.received"]
    assert [w["id"] for w in api.call("GET", "/webhooks").get_json()["items"]] == [body["id"]]

    changed = api.call("PATCH", path, {"enabled": False, "events": ["order.received"]}).get_json()
    assert changed["enabled"] is False and changed["disabledReason"] and changed["events"] == ["order.received"]
    problem(api.call("POST", f"{path}/test"), 409)  # a disabled endpoint is sent nothing
    api.call("PATCH", path, {"enabled": True})

    ping = api.call("POST", f"{path}/test")
    assert ping.status_code == 202 and ping.get_json()["eventType"] == "webhook.test"
    log = api.call("GET", f"{path}/deliveries").get_json()["items"]
    assert [d["status"] for d in log] == ["pending"] and log[0]["history"] == []
    assert api.call("GET", f"{path}/deliveries", failed="true").get_json()["items"] == []
    retried = api.call("POST", f"{path}/deliveries/{log[0]['id']}/retry")
    assert retried.status_code == 202 and retried.get_json()["messageId"] == log[0]["messageId"]

    assert api.call("DELETE", path).status_code == 204
    problem(api.call("GET", path), 404)
    problem(api.call("POST", f"{path}/deliveries/{log[0]['id']}/retry"), 404)


@pytest.mark.parametrize("body, says", [
    ({"url": "ftp://example.org/x", "events": ["order.received"]}, "http"),
    ({"url": "http://127.0.0.1:8080/", "events": ["order.received"]}, "loopback"),
    ({"url": "http://192.168.1.10/", "events": ["order.received"]}, "private"),
    ({"url": "http://169.254.169.254/latest", "events": ["order.received"]}, "link-local"),
    ({"url": "https://a:b@example.org/", "events": ["order.received"]}, "password"),
    ({"url": "https://example.org/\r\nX-Evil: 1", "events": ["order.received"]}, "control"),
    ({"url": "https://example.org/" + "a" * 2100, "events": ["order.received"]}, "url"),
    ({"url": RECEIVER, "events": ["order.shipped"]}, "unknown event type"),
    ({"url": RECEIVER, "events": ["webhook.test"]}, "unknown event type"),
    ({"url": RECEIVER, "events": []}, "events"),
    ({"url": RECEIVER}, "events"),
    ({"url": RECEIVER, "events": ["order.received"], "extra": 1}, "extra"),
    ({"url": RECEIVER, "events": "order.received"}, "events"),
])
def test_bad_input_is_a_400_problem_that_says_what(api: Api, body: dict[str, Any], says: str) -> None:
    assert says in problem(api.call("POST", "/webhooks", body), 400)["detail"]
    assert api.call("GET", "/webhooks").get_json()["items"] == []


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    problem(api.call("POST", "/webhooks", raw=b"{not json"), 400)


def test_unknown_or_malformed_ids_are_404(api: Api) -> None:
    for path in ("/webhooks/999", "/webhooks/0", "/webhooks/99999999999", "/webhooks/abc",
                 "/webhooks/999/deliveries", "/webhooks/1/deliveries/1/retry"):
        method = "POST" if path.endswith("retry") else "GET"
        response = api.call(method, path)
        assert response.status_code in (400, 404), (path, response.status_code)
        assert response.mimetype == "application/problem+json"
    problem(api.call("POST", "/webhooks/999/test"), 404)


def test_without_manage_webhook_it_is_403(hub: Hub) -> None:
    reader = Api(hub, new_token(hub, "reader", ["ReadOrder"]))
    response = reader.call("GET", "/webhooks")
    problem(response, 403)
    assert "insufficient_scope" in response.headers["WWW-Authenticate"]


def test_a_limited_token_manages_only_its_own_accounts_endpoints(hub: Hub, api: Api) -> None:
    mine, _ = new_school(hub)
    theirs, _ = new_school(hub)
    limited = Api(hub, new_token(hub, "limited", ["ManageWebhook"], [mine]))
    everyone = api.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"]}).get_json()
    other = api.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"],
                                           "accounts": [theirs]}).get_json()
    # Naming another tenant's account reads as an unknown account; naming none means its own.
    problem(limited.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"],
                                               "accounts": [theirs]}), 404)
    own = limited.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"]}).get_json()
    assert own["accounts"] == [mine]
    assert [w["id"] for w in limited.call("GET", "/webhooks").get_json()["items"]] == [own["id"]]
    for foreign in (everyone["id"], other["id"]):
        for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/deliveries"),
                               ("POST", "/test")):
            body = {"enabled": False} if method == "PATCH" else None
            problem(limited.call(method, f"/webhooks/{foreign}{suffix}", body), 404)
    # Nor can it widen its own endpoint to every account or to another tenant.
    problem(limited.call("PATCH", f"/webhooks/{own['id']}", {"accounts": [theirs]}), 404)
    assert limited.call("PATCH", f"/webhooks/{own['id']}", {"accounts": None}).get_json()["accounts"] == [mine]


def test_another_endpoints_delivery_cannot_be_retried_through_this_one(hub: Hub, api: Api) -> None:
    first = api.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"]}).get_json()
    second = api.call("POST", "/webhooks", {"url": RECEIVER, "events": ["order.received"]}).get_json()
    delivery = api.call("POST", f"/webhooks/{first['id']}/test").get_json()
    problem(api.call("POST", f"/webhooks/{second['id']}/deliveries/{delivery['id']}/retry"), 404)
