"""The portal API's typed request and response models; the OpenAPI document is generated from them.

Field names are camelCase on the wire (``docId``, ``queuedAt``); times are ISO 8601 UTC with ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, RootModel
from pydantic.alias_generators import to_camel
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode


def _utc(moment: datetime) -> str:
    # isoformat, not strftime: the same text, but strftime goes through the C library's time zone
    # code, ~0.15 ms a call in a worker whose caches the request's intake has just filled.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


UtcTime = Annotated[datetime, PlainSerializer(_utc, return_type=str, when_used="json")]

DocumentTypeName = Literal["order", "invoice", "creditnote", "quote"]
DocumentStatusName = Literal["queued", "collected", "processed", "expired", "withdrawn"]
PERMISSION_NAMES = ("StoreDocument", "ReadDocument", "ReadOrder", "ReadEvent", "ManageAccount", "ManageWebhook")


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = GenerateJsonSchema,
        mode: JsonSchemaMode = "validation",
        *,
        union_format: Literal["any_of", "primitive_type_array"] = "any_of",
    ) -> dict[str, Any]:
        """The model's JSON schema, made once per class and arguments.

        flask-openapi3 asks for a query model's schema on every request (to find its list fields);
        made afresh that is ~1 ms, most of the API's own cost per call. A copy is handed out, so no
        caller can change the cached one.
        """
        key = (cls, by_alias, ref_template, schema_generator, mode, union_format)
        schema = _JSON_SCHEMAS.get(key)
        if schema is None:
            schema = super().model_json_schema(by_alias, ref_template, schema_generator, mode,
                                               union_format=union_format)
            _JSON_SCHEMAS[key] = schema
        copied: dict[str, Any] = _copy(schema)
        return copied


_JSON_SCHEMAS: dict[tuple[object, ...], dict[str, Any]] = {}


def _copy(value: Any) -> Any:
    """A JSON schema's copy: its dicts and lists new, its leaves (str, numbers, None) shared, as
    they cannot be changed; what ``copy.deepcopy`` gives, at a fraction of its cost per request."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


class Finding(ApiModel):
    rule_id: str
    severity: Literal["error", "warning"]
    path: str
    line: int | None = None
    message: str


class ValidationReport(ApiModel):
    accepted: bool
    doc_type: str | None = None
    rule_set_version: str
    errors: list[Finding]
    warnings: list[Finding]
    findings_truncated: bool = False
    metadata: dict[str, Any] | None = None


class Problem(ApiModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[Finding] | None = None
    doc_id: str | None = None


class Document(ApiModel):
    doc_id: str
    account: str
    type: DocumentTypeName
    number: str | None = None
    status: DocumentStatusName
    queued_at: UtcTime
    first_collected_at: UtcTime | None = None
    last_collected_at: UtcTime | None = None
    collect_count: int
    processed_at: UtcTime | None = None
    expires_at: UtcTime
    withdrawn_at: UtcTime | None = None
    report: ValidationReport | None = None


class DocumentList(ApiModel):
    items: list[Document]
    next: str | None = None


class QueueQuery(ApiModel):
    account: str | None = Field(default=None, max_length=100, description="the school account (default: by DUNS)")
    type: DocumentTypeName | None = Field(default=None, description="the type to queue as (default: from the XML)")


class DocumentListQuery(ApiModel):
    account: str | None = Field(default=None, max_length=100)
    status: DocumentStatusName | None = None
    type: DocumentTypeName | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    after: str | None = Field(default=None, max_length=40, description="the cursor from a previous page's next link")


class DocumentPath(ApiModel):
    doc_id: str = Field(max_length=100)


class Order(ApiModel):
    id: int
    account: str
    order_number: str
    revision: int
    received_at: UtcTime
    acknowledged_at: UtcTime | None = None
    accepted: bool
    warnings: int


class OrderDetail(Order):
    report: ValidationReport | None = None
    revisions: list[int]


class OrderList(ApiModel):
    items: list[Order]
    next: str | None = None


class OrderListQuery(ApiModel):
    account: str | None = Field(default=None, max_length=100)
    acknowledged: bool | None = None
    page_size: int = Field(default=100, ge=1, le=1000)
    after: str | None = Field(default=None, max_length=40)


class OrderPath(ApiModel):
    id: int = Field(ge=1, le=2**63 - 1)


class Account(ApiModel):
    username: str
    establishment: str
    buyer_duns: str
    supplier_duns: str
    account_number: str | None = None
    language: str
    currency: str
    enabled: bool
    failed_logins: int
    locked_until: UtcTime | None = None
    password_changed_at: UtcTime
    created_at: UtcTime


class AccountWithPassword(Account):
    password: str = Field(description="shown once: give it to the school for its FMS")


class AccountList(ApiModel):
    items: list[Account]


class AccountCreate(ApiModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@\-]+$")
    establishment: str = Field(min_length=1, max_length=200)
    buyer_duns: str = Field(pattern=r"^\d{9}$")
    supplier_duns: str = Field(pattern=r"^\d{9}$")
    account_number: str | None = Field(default=None, max_length=100)
    language: str = Field(default="en", max_length=10)
    currency: str = Field(default="GBP", min_length=3, max_length=3)


class AccountPatch(ApiModel):
    establishment: str | None = Field(default=None, min_length=1, max_length=200)
    buyer_duns: str | None = Field(default=None, pattern=r"^\d{9}$")
    supplier_duns: str | None = Field(default=None, pattern=r"^\d{9}$")
    account_number: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=10)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    enabled: bool | None = None


class AccountPath(ApiModel):
    username: str = Field(max_length=100)


class NewPassword(ApiModel):
    username: str
    password: str = Field(description="shown once")


class Event(ApiModel):
    id: int
    type: str
    created_on: UtcTime
    account: str | None = None
    doc_id: str | None = None
    order_id: int | None = None
    data: dict[str, Any]


class EventList(RootModel[list[Event]]):
    """The events feed answers a JSON array, as das-events does."""


class EventQuery(ApiModel):
    from_date: str | None = Field(default=None, pattern=r"^\d{14}$", description="yyyyMMddHHmmss, UTC, inclusive")
    to_date: str | None = Field(default=None, pattern=r"^\d{14}$", description="yyyyMMddHHmmss, UTC, exclusive")
    from_event_id: int | None = Field(default=None, ge=0, le=2**63 - 1, description="inclusive; wins over dates")
    page_size: int = Field(default=1000, ge=1, le=10000)
    page_number: int = Field(default=1, ge=1, le=1_000_000)
    type: list[str] | None = Field(default=None, description="only events of these types (repeatable)")
    account: str | None = Field(default=None, max_length=100)
