"""portal API: events with document, order and data, document withdrawal and idempotency keys, order
acknowledgement, API tokens and their signing keys

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doc_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.add_column(sa.Column("data", sa.Text(), nullable=True))
        batch_op.create_index("ix_event_at", ["at"], unique=False)
    op.execute(
        "UPDATE event SET doc_id = subject WHERE kind IN ('queued', 'collected', 'processed', 'unprocessed', "
        "'expired', 'purged')"
    )

    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=200), nullable=True))
        batch_op.create_index("ix_document_account_number", ["account_id", "document_number"], unique=False)
        batch_op.create_index("ix_document_account_sha256", ["account_id", "sha256"], unique=False)
        batch_op.create_unique_constraint("uq_document_account_id_idempotency_key", ["account_id", "idempotency_key"])

    with op.batch_alter_table("received_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_received_order_account_ack", ["account_id", "acknowledged_at", "id"], unique=False)

    op.create_table(
        "api_token",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("name", name=op.f("uq_api_token_name")),
    )
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )


def downgrade() -> None:
    op.drop_table("signing_key")
    op.drop_table("api_token")
    with op.batch_alter_table("received_order", schema=None) as batch_op:
        batch_op.drop_index("ix_received_order_account_ack")
        batch_op.drop_column("acknowledged_at")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_constraint("uq_document_account_id_idempotency_key", type_="unique")
        batch_op.drop_index("ix_document_account_sha256")
        batch_op.drop_index("ix_document_account_number")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("withdrawn_at")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_at")
        batch_op.drop_column("data")
        batch_op.drop_column("order_id")
        batch_op.drop_column("doc_id")
