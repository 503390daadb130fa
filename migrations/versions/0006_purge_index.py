"""purge index: the purge's batch selects walk an index to the first rows due

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:50:00

A purge batch is "documents unprocessed and past expiry" or "processed before the retention
cut-off", a bounded number at a time. With only ``ix_document_expires_at`` such a select on a
1M-row table read the whole table per batch (276 ms with nothing to purge); with these two it
reads only the rows it deletes.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_document_processed_expires", "document", ["processed", "expires_at"])
    op.create_index("ix_document_processed_at", "document", ["processed", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_document_processed_at", table_name="document")
    op.drop_index("ix_document_processed_expires", table_name="document")
