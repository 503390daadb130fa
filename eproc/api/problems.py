"""Every error the portal API answers, as RFC 9457 problem details, from one table."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from eproc.services.errors import (
    AlreadyExists,
    AuthenticationFailed,
    Conflict,
    EprocError,
    InvalidDocument,
    InvalidInput,
    NotFound,
)
from eproc.services.tokens import InvalidToken, MissingPermission

PROBLEM_TYPE = "urn:eproc:problem:"
MEDIA_TYPE = "application/problem+json"

# error class -> (status, title, problem type slug); the first class that matches wins.
TABLE: tuple[tuple[type[Exception], int, str, str], ...] = (
    (InvalidToken, 401, "Unauthorized", "invalid-token"),
    (AuthenticationFailed, 401, "Unauthorized", "invalid-token"),
    (MissingPermission, 403, "Forbidden", "insufficient-scope"),
    (InvalidDocument, 422, "Document refused", "document-refused"),
    (NotFound, 404, "Not found", "not-found"),
    (AlreadyExists, 409, "Already exists", "already-exists"),
    (Conflict, 409, "Conflict", "conflict"),
    (InvalidInput, 400, "Bad request", "bad-request"),
)


def problem(status: int, title: str, detail: str | None, slug: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({key: value for key, value in extra.items() if value is not None})
    response = Response(_json(body), status=status, mimetype=MEDIA_TYPE)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif status == 403:
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    return response


def from_error(error: EprocError) -> Response:
    for kind, status, title, slug in TABLE:
        if isinstance(error, kind):
            extra: dict[str, Any] = {}
            if isinstance(error, InvalidDocument) and error.report is not None:
                report = error.report.to_dict()
                extra["errors"] = [_finding(f) for f in report["errors"] + report["warnings"]]
            doc_id = getattr(error, "doc_id", None)
            if doc_id and status == 409:
                extra["docId"] = doc_id
            detail = error.reason if isinstance(error, InvalidDocument) else str(error)
            if status == 401:
                detail = "the bearer token is missing, malformed, expired or revoked"
            return problem(status, title, detail, slug, **extra)
    return problem(400, "Bad request", str(error), "bad-request")


def from_http(error: HTTPException) -> Response:
    status = error.code or 500
    slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(status, "http-error")
    return problem(status, error.name, error.description, slug)


def from_validation(error: ValidationError) -> Response:
    details = []
    for item in error.errors(include_url=False, include_context=False, include_input=False)[:20]:
        where = ".".join(str(part) for part in item.get("loc", ()))
        details.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return problem(400, "Bad request", "; ".join(details) or "the request is malformed", "bad-request")


def _finding(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "ruleId": finding["rule_id"],
        "severity": finding["severity"],
        "path": finding["path"],
        "line": finding.get("line"),
        "message": finding["message"],
    }


def _json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)
