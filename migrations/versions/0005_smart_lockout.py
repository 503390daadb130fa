"""smart lockout: familiar addresses, failures per bucket, the address throttle in the database

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "familiar_address",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_familiar_address_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "address", name=op.f("pk_familiar_address")),
    )
    op.create_table(
        "login_bucket",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lock_reason", sa.String(length=200), nullable=True),
        sa.Column("recent_digests", sa.String(length=400), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_login_bucket_account_id_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "bucket", name=op.f("pk_login_bucket")),
    )
    op.create_table(
        "address_failure",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lockouts", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_address_failure")),
    )
    with op.batch_alter_table("address_failure", schema=None) as batch_op:
        batch_op.create_index("ix_address_failure_last_seen_at", ["last_seen_at"], unique=False)
    # The old per-username count mixed every address together: it now means the familiar bucket's,
    # and no address is familiar yet, so start every account clean.
    account = sa.table("account", sa.column("failed_logins", sa.Integer), sa.column("locked_until", sa.DateTime(timezone=True)))
    op.execute(account.update().values(failed_logins=0, locked_until=None))


def downgrade() -> None:
    with op.batch_alter_table("address_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_address_failure_last_seen_at")
    op.drop_table("address_failure")
    op.drop_table("login_bucket")
    op.drop_table("familiar_address")
