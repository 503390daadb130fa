"""``/api/v1/documents``: queue, validate, list, show, download and withdraw documents."""

from __future__ import annotations

from flask import Response, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict

from eproc.api import models
from eproc.api.app import API_PREFIX, BEARER, body_bytes, grant, hub, json_response
from eproc.api.paging import decode_cursor, encode_cursor, next_url
from eproc.services import documents, intake, validation
from eproc.services.documents import DocumentRecord
from eproc.services.errors import InvalidInput

tag = Tag(name="documents", description="documents queued for schools' FMS to collect")
blueprint = APIBlueprint("documents", __name__, url_prefix=f"{API_PREFIX}/documents", abp_tags=[tag],
                         abp_security=[BEARER])

ERRORS: ResponseDict = {400: models.Problem, 401: models.Problem, 403: models.Problem, 404: models.Problem}
XML_MEDIA_TYPES = ("application/xml", "text/xml")
MAX_IDEMPOTENCY_KEY = 200


def _out(record: DocumentRecord) -> models.Document:
    return models.Document(
        doc_id=record.doc_id,
        account=record.account,
        type=record.type,  # type: ignore[arg-type]
        number=record.number,
        status=record.status,
        queued_at=record.queued_at,
        first_collected_at=record.first_collected_at,
        last_collected_at=record.last_collected_at,
        collect_count=record.collect_count,
        processed_at=record.processed_at,
        expires_at=record.expires_at,
        withdrawn_at=record.withdrawn_at,
        report=_report(record.report) if record.report else None,
    )


def _report(report: dict) -> models.ValidationReport:  # type: ignore[type-arg]
    def findings(items: list) -> list[models.Finding]:  # type: ignore[type-arg]
        return [
            models.Finding(rule_id=f["rule_id"], severity=f["severity"], path=f["path"], line=f.get("line"),
                           message=f["message"])
            for f in items
        ]

    return models.ValidationReport(
        accepted=report["accepted"],
        doc_type=report.get("doc_type"),
        rule_set_version=report["rule_set_version"],
        errors=findings(report.get("errors", [])),
        warnings=findings(report.get("warnings", [])),
        findings_truncated=report.get("findings_truncated", False),
        metadata=report.get("metadata"),
    )


def _xml_body() -> bytes:
    media = (request.mimetype or "").lower()
    if media not in XML_MEDIA_TYPES:
        raise InvalidInput(f"send the document as application/xml or text/xml, not {media or 'no Content-Type'}")
    return body_bytes()


@blueprint.post(
    "",
    summary="Queue a document for a school's FMS",
    responses={200: models.Document, 201: models.Document, 409: models.Problem, 413: models.Problem,
               422: models.Problem, **ERRORS},
)
def queue(query: models.QueueQuery) -> Response:
    allowed = grant("StoreDocument")
    data = _xml_body()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters")
    queued = intake.queue_document(
        hub(), data, username=query.account, requested_type=query.type, idempotency_key=key,
        scope=allowed.account_ids,
    )
    record = documents.record_of_queued(queued) or documents.get_document(
        hub(), queued.doc_id, scope=allowed.account_ids
    )
    status = 200 if queued.duplicate else 201
    headers = {"Location": f"{request.host_url.rstrip('/')}{API_PREFIX}/documents/{queued.doc_id}"}
    return json_response(_out(record), status, headers)


@blueprint.post(
    "/validate",
    summary="Check a document as queueing would, storing nothing",
    responses={200: models.ValidationReport, 413: models.Problem, **ERRORS},
)
def validate(query: models.QueueQuery) -> Response:
    allowed = grant("StoreDocument")
    data = _xml_body()
    if query.account is not None:
        documents.check_account_in_scope(hub(), query.account, allowed.account_ids)
    report = validation.validate_document(hub(), data, requested_type=query.type, username=query.account)
    return json_response(_report(report.to_dict()))


@blueprint.get("", summary="List documents, oldest first", responses={200: models.DocumentList, **ERRORS})
def list_documents(query: models.DocumentListQuery) -> Response:
    allowed = grant("ReadDocument")
    rows = documents.list_documents(
        hub(), scope=allowed.account_ids, username=query.account, status=query.status, doc_type=query.type,
        after=decode_cursor(query.after), page_size=query.page_size,
    )
    following = next_url(after=encode_cursor(rows[-1].id)) if len(rows) == query.page_size else None
    return json_response(models.DocumentList(items=[_out(r) for r in rows], next=following))


@blueprint.get("/<docId>", summary="A document's status and report", responses={200: models.Document, **ERRORS})
def show(path: models.DocumentPath) -> Response:
    allowed = grant("ReadDocument")
    return json_response(_out(documents.get_document(hub(), path.doc_id, scope=allowed.account_ids)))


@blueprint.get("/<docId>/xml", summary="The exact bytes queued", responses=ERRORS)
def xml(path: models.DocumentPath) -> Response:
    allowed = grant("ReadDocument")
    return Response(documents.document_xml(hub(), path.doc_id, scope=allowed.account_ids), mimetype="application/xml")


@blueprint.delete(
    "/<docId>", summary="Withdraw a document: FMS no longer lists or fetches it",
    responses={200: models.Document, 409: models.Problem, **ERRORS},
)
def withdraw(path: models.DocumentPath) -> Response:
    allowed = grant("StoreDocument")
    return json_response(_out(documents.withdraw_document(hub(), path.doc_id, scope=allowed.account_ids)))
