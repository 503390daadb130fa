"""The OpenAPI document is valid OpenAPI 3.1, and the live server keeps to it (schemathesis)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from api_support import new_token
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import new_school
from werkzeug.test import Client

from eproc.web import create_app

pytestmark = pytest.mark.e2e


def test_the_document_is_valid_openapi_3_1(hub: Any) -> None:
    response = Client(create_app(hub=hub)).get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert {"/api/v1/documents", "/api/v1/orders", "/api/v1/events", "/api/v1/accounts"} <= set(document["paths"])


def test_the_rendered_docs_are_served_locally(hub: Any) -> None:
    client = Client(create_app(hub=hub))
    page = client.get("/api/docs", follow_redirects=True)
    assert page.status_code == 200 and b"swagger" in page.data.lower()
    assert b"cdn" not in page.data.lower() and b"unpkg" not in page.data.lower()
    assert client.get("/api/docs/swagger/js/swagger-ui-bundle.js").status_code == 200


def test_the_live_api_keeps_to_its_document(live_server: Any, live_hub: Any) -> None:
    """Every operation, with examples generated from the document (bounded): no 5xx, and every
    answer (status, media type, body) is one the document describes."""
    new_school(live_hub)
    token = new_token(live_hub, f"schemathesis-{id(live_hub)}")
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/api/v1/openapi.json")
    checks = (status_code_conformance, content_type_conformance, response_schema_conformance)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def exercise(case: Any) -> None:
            response = case.call(base_url=live_server.base_url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
            case.validate_response(response, checks=checks)

        exercise()
