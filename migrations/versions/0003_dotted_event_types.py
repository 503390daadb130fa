"""dotted event types: event.kind becomes event.type, with the names the portal API publishes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The kinds before this revision and the types they become (eproc/services/events.py).
RENAMED = {
    "queued": "document.queued",
    "collected": "document.collected",
    "processed": "document.processed",
    "unprocessed": "document.unprocessed",
    "expired": "document.expired",
    "withdrawn": "document.withdrawn",
    "purged": "document.purged",
    "order_received": "order.received",
    "order_duplicate": "order.duplicate",
    "order_acknowledged": "order.acknowledged",
    "password_changed": "account.password_changed",
    "login_failed": "login.failed",
    "account_created": "account.created",
    "account_updated": "account.updated",
    "account_disabled": "account.disabled",
    "account_enabled": "account.enabled",
    "account_unlocked": "account.unlocked",
    "token_created": "token.created",
    "token_revoked": "token.revoked",
}


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("kind", new_column_name="type", existing_type=sa.String(length=32),
                              type_=sa.String(length=64), existing_nullable=False)
    event = sa.table("event", sa.column("type", sa.String), sa.column("account_id", sa.Integer))
    for old, new in RENAMED.items():
        op.execute(event.update().where(event.c.type == old).values(type=new))
    # One kind used to cover both lockouts: a username's names its account, an address's none.
    op.execute(event.update().where(event.c.type == "login_locked", event.c.account_id.is_not(None))
               .values(type="account.locked"))
    op.execute(event.update().where(event.c.type == "login_locked").values(type="login.address_locked"))
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_type_id", ["type", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_type_id")
    event = sa.table("event", sa.column("type", sa.String))
    op.execute(event.update().where(event.c.type.in_(["account.locked", "login.address_locked"]))
               .values(type="login_locked"))
    for old, new in RENAMED.items():
        op.execute(event.update().where(event.c.type == new).values(type=old))
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.alter_column("type", new_column_name="kind", existing_type=sa.String(length=64),
                              type_=sa.String(length=32), existing_nullable=False)
