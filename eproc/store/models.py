"""SQLAlchemy 2.0 typed models: accounts, queued documents, received orders, the event log."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A naming convention from day one: Alembic can then name, compare and drop constraints on every
# backend, including SQLite in batch mode.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned in UTC, aware, on every backend.

    SQLite keeps no offset, so a naive value read back is UTC by construction; a naive value
    written is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    """A school's login to this supplier's service, and what its documents must carry."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The password before the last ChangePassword: valid until the new one is used once or the
    # grace period ends, because FMS may never have received the ChangePassword response.
    previous_password_hash: Mapped[str | None] = mapped_column(String(255))
    previous_password_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Bumped on every credential change; verified-credential caches in every worker key on it.
    credential_version: Mapped[int] = mapped_column(Integer, default=1)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    establishment_name: Mapped[str] = mapped_column(String(200))
    buyer_duns: Mapped[str] = mapped_column(String(9))
    supplier_duns: Mapped[str] = mapped_column(String(9))
    account_number: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(10), default="en")
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # A copy of the *familiar* login bucket (LoginBucket, bucket "familiar"): the school's own
    # lockout, kept here so the warm login path needs one narrow read of this row only.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_account_duns", "buyer_duns", "supplier_duns"),)


class Document(Base):
    """A document queued for one school's FMS to collect: content order, invoice, credit note, quote."""

    __tablename__ = "document"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(100), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    doc_type: Mapped[str] = mapped_column(String(16))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    document_number: Mapped[str | None] = mapped_column(String(100))
    document_date: Mapped[str | None] = mapped_column(String(40))
    buyer_duns: Mapped[str | None] = mapped_column(String(9))
    supplier_duns: Mapped[str | None] = mapped_column(String(9))
    line_count: Mapped[int | None] = mapped_column(Integer)
    total_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    report_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    first_collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    collect_count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Withdrawn by the supplier: FMS no longer lists or fetches it.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The portal's Idempotency-Key, unique per account: a re-send answers the first document.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    # FetchIndex walks (account, processed, created); FetchIndexFromDate walks (account, created):
    # both cost grows with that account's documents, not with the table.
    __table_args__ = (
        Index("ix_document_account_unprocessed", "account_id", "processed", "created_at"),
        Index("ix_document_account_created", "account_id", "created_at"),
        Index("ix_document_expires_at", "expires_at"),
        # The purge's two batch selects (migration 0006): unprocessed past expiry, processed past
        # retention, each walked from its oldest row.
        Index("ix_document_processed_expires", "processed", "expires_at"),
        Index("ix_document_processed_at", "processed", "processed_at"),
        # Duplicate detection at queueing: the same bytes, or the same document number, pending.
        Index("ix_document_account_number", "account_id", "document_number"),
        Index("ix_document_account_sha256", "account_id", "sha256"),
        UniqueConstraint("account_id", "idempotency_key"),
    )


class ReceivedOrder(Base):
    """An Authorised Order FMS sent back with SendOrder; an amended re-send is a new revision."""

    __tablename__ = "received_order"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    order_number: Mapped[str] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(Integer)
    report_json: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the supplier's order system said it has taken the order (the portal API).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    # Durable duplicate detection: the same order re-sent by FMS is stored once, whichever worker
    # receives it; a revision number is taken once per order.
    __table_args__ = (
        UniqueConstraint("account_id", "order_number", "sha256"),
        UniqueConstraint("account_id", "order_number", "revision"),
        Index("ix_received_order_account_ack", "account_id", "acknowledged_at", "id"),
    )


class Event(Base):
    """Append-only log of every state change (types: ``eproc/services/events.py``)."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    type: Mapped[str] = mapped_column(String(64))
    # No foreign key (migration 0007): checking it cost about 5 us per event written, a third of a
    # purge's time in the database. A trigger on account clears the account of a deleted
    # account's events, as the key's ON DELETE SET NULL did.
    account_id: Mapped[int | None] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)
    doc_id: Mapped[str | None] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # JSON: what the portal API's feed and webhooks carry beyond the columns.
    data: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_event_account_at", "account_id", "at"),
        Index("ix_event_at", "at"),
        Index("ix_event_type_id", "type", "id"),
    )


class ApiToken(Base):
    """A portal API token: the JWT's ``jti`` is this row's id; revoking it ends the token everywhere."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    permissions: Mapped[str] = mapped_column(Text)  # comma-separated
    accounts: Mapped[str | None] = mapped_column(Text)  # comma-separated usernames; None: every account
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SigningKey(Base):
    """A key API tokens are signed with; the newest signs, every one verifies."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())



class WebhookEndpoint(Base):
    """A portal's subscription: where to POST which event types (of which accounts), signed how."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(Text)  # comma-separated event types
    # Comma-separated account ids; None: every account (and the events that name none).
    accounts: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # The token (by name) or "cli" that made it: who to ask about it.
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookDelivery(Base):
    """The outbox: one event owed to one endpoint, written in the transaction of the change itself.

    Deleted with its event (retention) or its endpoint; ``message_id`` is the ``webhook-id`` every
    attempt carries, so a receiver can de-duplicate.
    """

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("event.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # The exact body, made once: every retry sends the same bytes (only the timestamp header moves).
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Held by a worker while it sends; once passed, another worker may take it (a killed worker).
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        # The worker's claim walks (status, next attempt); the log, (endpoint, id).
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_delivery_event", "event_id"),
    )


class WebhookAttempt(Base):
    """One POST of a delivery: when, the answer's status (None: no answer), how long, what went wrong."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("webhook_delivery.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    worker: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "id"),)
class FamiliarAddress(Base):
    """A client address (IPv4, or an IPv6 /64) an account has logged in from: *familiar* while
    ``last_seen_at`` is within ``EPROC_LOGIN_FAMILIAR_DAYS``. Failures from familiar and
    unfamiliar addresses are counted apart (``services/smart_lockout.py``)."""

    __tablename__ = "familiar_address"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LoginBucket(Base):
    """Failed logins against one account from its familiar or its unfamiliar addresses.

    ``failures`` counts distinct wrong passwords (``recent_digests`` holds keyed hashes of the last
    few, never a password); ``window_*`` is the hourly budget of guesses (unfamiliar bucket).
    """

    __tablename__ = "login_bucket"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)  # "familiar" | "unfamiliar"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lock_reason: Mapped[str | None] = mapped_column(String(200))
    recent_digests: Mapped[str] = mapped_column(String(400), default="")
    window_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    window_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AddressFailure(Base):
    """Failed logins from one client address, shared by every worker and machine (one upsert per
    failure): ``failures`` within the window that started at ``window_started_at``."""

    __tablename__ = "address_failure"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_address_failure_last_seen_at", "last_seen_at"),)
