"""The supplier portal's HTTP API: a Flask application with its OpenAPI 3.1 document generated from
the typed models (flask-openapi3, pydantic v2), mounted at ``/api`` in eproc's WSGI application.

Every view calls the use cases in ``eproc.services`` (the same ones the CLI and SOAP call), never
the store or ``ebis`` directly; errors are answered as problem details from one table.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from flask import Response, g, redirect, request
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from eproc import logs
from eproc.api import problems
from eproc.services.errors import EprocError
from eproc.services.hub import Hub
from eproc.services.tokens import Grant, verify_token

API_PREFIX = "/api/v1"
BEARER: dict[str, list[str]] = {"bearer": []}
SECURITY_SCHEMES: dict[str, Any] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def hub() -> Hub:
    value = g.get("eproc_hub")
    assert isinstance(value, Hub)
    return value


def grant(permission: str) -> Grant:
    """The caller's verified token, which must carry ``permission`` (401 / 403 otherwise)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    verified = verify_token(hub(), token.strip() if scheme.lower() == "bearer" else None)
    verified.require(permission)
    return verified


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = model.model_dump_json(by_alias=True)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def body_bytes() -> bytes:
    """The request body, bounded by ``EPROC_MAX_REQUEST_BYTES`` (413 past it, before it is read)."""
    return request.get_data(cache=False)


def create_api(eproc_hub: Hub) -> OpenAPI:
    from eproc.api import accounts, documents, events, orders, webhooks

    app = OpenAPI(
        __name__,
        info=Info(
            title="eproc supplier portal API",
            version="1",
            description=(
                "Queue eBIS-XML documents for schools' FMS, follow them, collect the Authorised Orders FMS "
                "sends back, and read the events feed. Authenticate with `Authorization: Bearer <token>` "
                "(`eproc token create`)."
            ),
        ),
        security_schemes=SECURITY_SCHEMES,
        doc_prefix="/api/docs",
        doc_url="/openapi.json",
        validation_error_status=400,
        validation_error_callback=problems.from_validation,
    )
    app.config["MAX_CONTENT_LENGTH"] = eproc_hub.settings.max_request_bytes
    # JSON bodies are small; the limit above also bounds form parsing, which the API never uses.
    app.url_map.strict_slashes = False

    @app.before_request
    def _bind_hub() -> None:
        g.eproc_hub = eproc_hub
        # The route, not the path: a bounded name for the log line and the metrics' label.
        logs.note(operation=f"{request.method} {request.url_rule.rule}" if request.url_rule else "unmatched")

    @app.errorhandler(EprocError)
    def _domain_error(error: EprocError) -> Response:
        return problems.from_error(error)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError) -> Response:
        return problems.from_validation(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        return problems.from_http(error)

    @app.errorhandler(Exception)
    def _internal_error(error: Exception) -> Response:
        # Logged with the request's one line (the traceback once per kind of error); the caller
        # gets the correlation id and nothing of the error itself.
        correlation_id = logs.internal_error(logging.getLogger("eproc.api"), error)
        detail = f"an internal error occurred (correlation id {correlation_id})"
        return problems.problem(500, "Internal Server Error", detail, "internal-error", correlationId=correlation_id)

    for blueprint in (documents.blueprint, orders.blueprint, accounts.blueprint, events.blueprint, webhooks.blueprint):
        app.register_api(blueprint)

    flask_wsgi = app.wsgi_app

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> Any:
        # One connection and one transaction for the call's token read and its use case (as a
        # SOAP call's credential read and operation): one pool checkout per request.
        with eproc_hub.store.call():
            return flask_wsgi(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]

    document: dict[str, str] = {}

    @app.get(f"{API_PREFIX}/openapi.json", doc_ui=False)
    def _openapi() -> Response:
        if "json" not in document:  # generated once per worker, on first request
            document["json"] = json.dumps(openapi_document(app))
        return Response(document["json"], mimetype="application/json")

    @app.get("/api/docs", doc_ui=False)
    def _docs() -> Any:
        return redirect("/api/docs/swagger", code=302)

    return app


def openapi_document(app: OpenAPI) -> dict[str, Any]:
    """The generated document, with what the models cannot say: XML request bodies and headers."""
    spec: dict[str, Any] = copy.deepcopy(app.api_doc)
    paths = spec.get("paths", {})
    xml_body = {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "description": "an eBIS-XML 3.09 document"}}
            for media in ("application/xml", "text/xml")
        },
    }
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "a re-send with the same key answers the document stored the first time",
    }
    for path in (f"{API_PREFIX}/documents", f"{API_PREFIX}/documents/validate"):
        operation = paths.get(path, {}).get("post")
        if operation is not None:
            operation["requestBody"] = xml_body
            if path.endswith("/documents"):
                operation.setdefault("parameters", []).append(idempotency)
    for operations in paths.values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").endswith("/Problem"):
                    # Errors are RFC 9457 problem details, and say so in their media type.
                    content[problems.MEDIA_TYPE] = content.pop("application/json")
    for raw in (f"{API_PREFIX}/documents/{{docId}}/xml", f"{API_PREFIX}/orders/{{id}}/xml"):
        operation = paths.get(raw, {}).get("get")
        if operation is not None:
            operation["responses"]["200"] = {
                "description": "the exact bytes",
                "content": {"application/xml": {"schema": {"type": "string"}}},
            }
    return spec
