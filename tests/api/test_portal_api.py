"""The portal API in process (the same WSGI application gunicorn serves): authentication and
permissions, tenants, duplicates, withdrawal, accounts, paging, and hostile input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import new_token
from support import new_school
from werkzeug.test import Client

from eproc.services import tokens
from eproc.services.clock import ManualClock
from eproc.services.hub import Hub, build_hub
from eproc.web import create_app

DATA = Path(__file__).resolve().parents[1] / "data" / "ebis" / "valid"
ORDER = (DATA / "content-order-full.xml").read_bytes()
XML = {"Content-Type": "application/xml"}


class Api:
    def __init__(self, hub: Hub, token: str | None = None) -> None:
        self.client = Client(create_app(hub=hub))
        self.token = token

    def headers(self, extra: dict[str, str] | None = None, token: str | None = None) -> dict[str, str]:
        chosen = token if token is not None else self.token
        return {**({"Authorization": f"Bearer {chosen}"} if chosen else {}), **(extra or {})}

    def get(self, path: str, token: str | None = None, **query: Any) -> Any:
        return self.client.get(f"/api/v1{path}", query_string=query, headers=self.headers(token=token))

    def post(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None,
             token: str | None = None, **query: Any) -> Any:
        return self.client.post(f"/api/v1{path}", data=data, query_string=query,
                                headers=self.headers(headers, token))

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(f"/api/v1{path}", data=json.dumps(body),
                                 headers=self.headers({"Content-Type": "application/json"}))

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self.headers())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["type"]
    return body


@pytest.fixture
def school(hub: Hub) -> str:
    return new_school(hub)[0]


@pytest.fixture
def api(hub: Hub) -> Api:
    return Api(hub, new_token(hub, "everything"))


# --- authentication and permissions ---------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwdw==", "Bearer a.b.c"])
def test_missing_or_malformed_tokens_are_401(hub: Hub, header: str | None) -> None:
    client = Client(create_app(hub=hub))
    response = client.get("/api/v1/documents", headers={"Authorization": header} if header else {})
    _problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_revoked_token_is_401_from_the_next_call(hub: Hub) -> None:
    api = Api(hub, new_token(hub, "soon-revoked"))
    assert api.get("/documents").status_code == 200
    tokens.revoke_token(hub, "soon-revoked")
    _problem(api.get("/documents"), 401)


def test_an_expired_token_is_401(settings: Any) -> None:
    clock = ManualClock()
    hub = build_hub(settings, clock=clock)
    api = Api(hub, new_token(hub, "short-lived", expires_days=1))
    assert api.get("/documents").status_code == 200
    clock.advance(days=1, seconds=1)
    _problem(api.get("/documents"), 401)


def test_a_token_is_401_from_the_second_its_expiry_claim_names(settings: Any) -> None:
    # The token's row says it is still valid (this hub's clock stands still); its signed expiry,
    # checked against real time on every call even once its signature is known good, says not.
    clock = ManualClock(datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=2))
    hub = build_hub(settings, clock=clock)
    api = Api(hub, new_token(hub, "expiring", expires_days=1))
    assert api.get("/documents").status_code == 200
    time.sleep(2.1)
    _problem(api.get("/documents"), 401)


def test_a_token_signed_by_another_key_is_401(hub: Hub, settings: Any) -> None:
    import jwt

    claims = {"jti": "x", "iss": "eproc", "iat": 1, "permissions": ["ReadDocument"]}
    forged = jwt.encode(claims, "a guessed key that is long enough for HS256", algorithm="HS256",
                        headers={"kid": "0123456789abcdef"})
    _problem(Api(hub, forged).get("/documents"), 401)
    unsigned = jwt.encode({"jti": "x", "iss": "eproc", "iat": 1}, key=None, algorithm="none")  # type: ignore[arg-type]
    _problem(Api(hub, unsigned).get("/documents"), 401)


def test_a_missing_permission_is_403(hub: Hub, school: str) -> None:
    reader = Api(hub, new_token(hub, "reader", ["ReadDocument"]))
    response = reader.post("/documents", ORDER, XML)
    body = _problem(response, 403)
    assert "StoreDocument" in body["detail"]
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    _problem(reader.get("/orders"), 403)
    _problem(reader.get("/events"), 403)
    _problem(reader.get("/accounts"), 403)


def test_tokens_survive_key_rotation_until_the_old_keys_are_dropped(hub: Hub) -> None:
    api = Api(hub, new_token(hub, "before-rotation"))
    tokens.rotate_signing_key(hub)
    assert api.get("/documents").status_code == 200
    after = Api(hub, new_token(hub, "after-rotation"))
    tokens.drop_old_signing_keys(hub)
    _problem(api.get("/documents"), 401)
    assert after.get("/documents").status_code == 200


def test_another_workers_tokens_are_accepted(settings: Any) -> None:
    # Two hubs are two workers (or machines) sharing one database.
    first, second = build_hub(settings), build_hub(settings)
    token = new_token(first, "shared")
    assert Api(second, token).get("/documents").status_code == 200


def test_last_use_is_recorded_coarsely(settings: Any) -> None:
    clock = ManualClock()
    hub = build_hub(settings, clock=clock)
    api = Api(hub, new_token(hub, "used"))
    api.get("/documents")
    first = tokens.list_tokens(hub)[0].last_used_at
    clock.advance(seconds=60)
    api.get("/documents")
    assert tokens.list_tokens(hub)[0].last_used_at == first  # no write on every call
    clock.advance(minutes=5)
    api.get("/documents")
    assert tokens.list_tokens(hub)[0].last_used_at == clock.now()


# --- tenants ----------------------------------------------------------------------------------------


def test_another_accounts_document_is_404_to_a_limited_token(hub: Hub, api: Api) -> None:
    ours = new_school(hub)[0]
    theirs = new_school(hub, buyer_duns="111111111")[0]
    other = api.post("/documents", ORDER.replace(b"<DUNS>123456789</DUNS>", b"<DUNS>111111111</DUNS>"), XML)
    assert other.status_code == 201, other.get_data(as_text=True)
    doc_id = other.get_json()["docId"]
    limited = Api(hub, new_token(hub, "ours-only", accounts=[ours]))
    for call in (lambda: limited.get(f"/documents/{doc_id}"), lambda: limited.get(f"/documents/{doc_id}/xml"),
                 lambda: limited.delete(f"/documents/{doc_id}"), lambda: limited.get("/documents", account=theirs)):
        body = _problem(call(), 404)
        assert doc_id not in json.dumps(body) or "docId" in body["detail"]
    unknown = _problem(limited.get("/documents/ORD-DOESNOTEXIST"), 404)
    assert unknown["title"] == "Not found"
    assert limited.get("/documents").get_json()["items"] == []
    assert api.get(f"/documents/{doc_id}").status_code == 200
    # ...and it cannot queue for the other school either.
    _problem(limited.post("/documents", ORDER.replace(b"<DUNS>123456789</DUNS>", b"<DUNS>111111111</DUNS>"), XML),
             422)


# --- queueing -----------------------------------------------------------------------------------------


def test_queue_resend_conflict_withdraw(hub: Hub, api: Api, school: str) -> None:
    first = api.post("/documents", ORDER, XML)
    assert first.status_code == 201
    doc_id = first.get_json()["docId"]
    again = api.post("/documents", ORDER, XML)
    assert again.status_code == 200 and again.get_json()["docId"] == doc_id  # stored once
    changed = ORDER.replace(b"</Order>", b"<!-- amended -->\n</Order>")
    conflict = _problem(api.post("/documents", changed, XML), 409)
    assert conflict["docId"] == doc_id and doc_id in conflict["detail"]
    withdrawn = api.delete(f"/documents/{doc_id}")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    replacement = api.post("/documents", changed, XML)
    assert replacement.status_code == 201 and replacement.get_json()["docId"] != doc_id
    listed = api.get("/documents", status="withdrawn").get_json()["items"]
    assert [d["docId"] for d in listed] == [doc_id]


def test_idempotency_key(hub: Hub, api: Api, school: str) -> None:
    key = {"Idempotency-Key": "basket-1001", **XML}
    first = api.post("/documents", ORDER, key)
    api.delete(f"/documents/{first.get_json()['docId']}")
    again = api.post("/documents", ORDER, key)
    assert again.status_code == 200 and again.get_json()["docId"] == first.get_json()["docId"]
    other = ORDER.replace(b"</Order>", b"<!-- other -->\n</Order>")
    _problem(api.post("/documents", other, key), 409)


def test_a_refused_document_is_422_with_its_findings(hub: Hub, api: Api, school: str) -> None:
    broken = ORDER.replace(b"<DUNS>987654321</DUNS>", b"<DUNS>98765432</DUNS>")
    body = _problem(api.post("/documents", broken, XML), 422)
    assert body["errors"] and {"ruleId", "severity", "path", "line", "message"} <= set(body["errors"][0])
    assert api.get("/documents").get_json()["items"] == []


def test_validate_stores_nothing(hub: Hub, api: Api, school: str) -> None:
    report = api.post("/documents/validate", ORDER, XML, account=school)
    assert report.status_code == 200 and report.get_json()["accepted"] is True
    assert api.get("/documents").get_json()["items"] == []


def test_a_processed_document_cannot_be_withdrawn(hub: Hub, api: Api) -> None:
    from eproc.services import collection
    from eproc.services.authentication import authenticate

    username, password = new_school(hub, "processed-school-pw1")
    doc_id = api.post("/documents", ORDER, XML).get_json()["docId"]
    collection.update_document_status(hub, authenticate(hub, username, password), doc_id, True)
    body = _problem(api.delete(f"/documents/{doc_id}"), 409)
    assert "processed" in body["detail"]
    assert api.get(f"/documents/{doc_id}").get_json()["status"] == "processed"


# --- hostile input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", XML, 422),
        (b"<Order", XML, 422),
        (b"", XML, 422),
        (b"\xff\xfe\x00<", XML, 422),
        (b'{"docId": 1}', {"Content-Type": "application/json"}, 400),
        (ORDER, {}, 400),
    ],
)
def test_hostile_documents_get_a_clear_error_and_store_nothing(
    hub: Hub, api: Api, school: str, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = api.post("/documents", body, headers)
    _problem(response, status)
    assert api.get("/documents").get_json()["items"] == []


def test_a_body_over_the_limit_is_413(settings: Any) -> None:
    import dataclasses

    hub = build_hub(dataclasses.replace(settings, max_request_bytes=4096))
    new_school(hub)
    api = Api(hub, new_token(hub, "small"))
    _problem(api.post("/documents", b"<a>" + b"x" * 5000 + b"</a>", XML), 413)


@pytest.mark.parametrize(
    "query",
    [{"pageSize": "0"}, {"pageSize": "10001"}, {"pageSize": "abc"}, {"pageNumber": "0"}, {"fromDate": "2026-01-01"},
     {"fromDate": "20261301000000"}, {"fromEventId": "-1"}, {"fromDate": "20260102000000", "toDate": "20260101000000"},
     {"type": "no.such.type"}],
)
def test_bad_event_parameters_are_400_naming_them(api: Api, query: dict[str, str]) -> None:
    body = _problem(api.get("/events", **query), 400)
    assert any(name in body["detail"] for name in query)


def test_bad_list_parameters_are_400(api: Api) -> None:
    _problem(api.get("/documents", pageSize="1001"), 400)
    _problem(api.get("/documents", after="not-a-cursor"), 400)
    _problem(api.get("/documents", status="lost"), 400)
    _problem(api.get("/orders", acknowledged="maybe"), 400)


def test_documents_page_by_cursor(hub: Hub, api: Api, school: str) -> None:
    ids = []
    for n in range(5):
        document = ORDER.replace(b"BSK-20261103-0042", f"BSK-PAGE-{n}".encode())
        response = api.post("/documents", document, XML)
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.get_json()["docId"])
    seen: list[str] = []
    page = api.get("/documents", pageSize=2).get_json()
    while True:
        seen += [d["docId"] for d in page["items"]]
        if not page["next"]:
            break
        assert page["next"].startswith("http")
        page = api.client.get(page["next"], headers=api.headers()).get_json()
    assert seen == ids


# --- accounts -------------------------------------------------------------------------------------------


def test_accounts_create_show_patch_reset_unlock(hub: Hub, api: Api) -> None:
    created = api.client.post("/api/v1/accounts", json={
        "username": "api-school", "establishment": "API Primary", "buyerDuns": "333333333",
        "supplierDuns": "987654321"}, headers=api.headers())
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert len(body["password"]) == 24 and "hash" not in json.dumps(body).lower()
    shown = api.get("/accounts/api-school").get_json()
    assert "password" not in shown and shown["buyerDuns"] == "333333333"
    patched = api.patch("/accounts/api-school", {"establishment": "API Primary Academy", "enabled": False})
    assert patched.status_code == 200 and patched.get_json()["enabled"] is False
    assert patched.get_json()["establishment"] == "API Primary Academy"
    _problem(api.patch("/accounts/api-school", {"buyerDuns": "12"}), 400)
    _problem(api.patch("/accounts/api-school", {"password": "x" * 20}), 400)
    reset = api.post("/accounts/api-school/reset-password")
    assert reset.status_code == 200 and len(reset.get_json()["password"]) == 24
    assert api.post("/accounts/api-school/unlock").status_code == 200
    _problem(api.client.post("/api/v1/accounts", json={
        "username": "api-school", "establishment": "Again", "buyerDuns": "333333333",
        "supplierDuns": "987654321"}, headers=api.headers()), 409)
    _problem(api.client.post("/api/v1/accounts", data=b'{"username": "a", "username": "b"',
                             headers=api.headers({"Content-Type": "application/json"})), 400)
    _problem(api.get("/accounts/nobody-here"), 404)


def test_a_limited_token_cannot_create_accounts_or_see_others(hub: Hub) -> None:
    ours = new_school(hub)[0]
    other = new_school(hub)[0]
    limited = Api(hub, new_token(hub, "limited-admin", ["ManageAccount"], accounts=[ours]))
    assert [a["username"] for a in limited.get("/accounts").get_json()["items"]] == [ours]
    _problem(limited.get(f"/accounts/{other}"), 404)
    _problem(limited.client.post("/api/v1/accounts", json={
        "username": "sneaky", "establishment": "X", "buyerDuns": "444444444", "supplierDuns": "987654321"},
        headers=limited.headers()), 403)


@pytest.mark.parametrize("field", ["establishment", "accountNumber"])
def test_control_characters_in_account_fields_are_400(api: Api, field: str) -> None:
    body = {"username": "ctl-school", "establishment": "Ctl", "buyerDuns": "555555555", "supplierDuns": "987654321",
            field: "bad\x00value"}
    _problem(api.client.post("/api/v1/accounts", json=body, headers=api.headers()), 400)
    _problem(api.get("/accounts/ctl-school"), 404)


def test_ids_no_row_can_have_read_as_not_found(api: Api) -> None:
    # A NUL would make PostgreSQL refuse the query: it must never get that far.
    _problem(api.get("/documents/ORD-\x00X"), 404)
    _problem(api.get("/documents", account="a\x00b"), 404)
    _problem(api.get("/orders", account="a\x00b"), 404)
    _problem(api.get("/events", account="a\x00b"), 404)
