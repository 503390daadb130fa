"""event log without a foreign key: an account's deletion still clears its events' account

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:20:00

The foreign key from ``event.account_id`` to ``account`` was checked on every event written:
a row-level trigger and a lookup in ``account`` per event, on PostgreSQL about 5 us each, a third
of what a million-document purge costs the database (two events a document: ~10 of 27 us per
document). Events are written only by the service, with the account of the row they are about,
which the service has just read; the one thing the key did beyond that, clearing the account of
an account's events when the account is deleted (ON DELETE SET NULL), an AFTER DELETE trigger
on ``account`` now does, on both databases.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION event_account_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE event SET account_id = NULL WHERE account_id = OLD.id;
    RETURN OLD;
END
$$
"""
_PG_TRIGGER = (
    "CREATE TRIGGER account_deleted_clears_events AFTER DELETE ON account "
    "FOR EACH ROW EXECUTE FUNCTION event_account_deleted()"
)
_SQLITE_TRIGGER = (
    "CREATE TRIGGER account_deleted_clears_events AFTER DELETE ON account FOR EACH ROW "
    "BEGIN UPDATE event SET account_id = NULL WHERE account_id = OLD.id; END"
)
_OUTBOX = ("webhook_delivery", "webhook_attempt")


def _keeping_the_outbox(alter: Callable[[], None]) -> None:
    """Run ``alter`` on the event table, keeping the webhook outbox's rows on SQLite: there the
    table is copied and the old one dropped, and with foreign keys on (as eproc's connections
    have them, and they cannot be turned off inside the migration's transaction) the drop deletes
    every delivery (ON DELETE CASCADE) and attempt. They are set aside and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in _OUTBOX:
            op.execute(f"CREATE TEMP TABLE kept_{table} AS SELECT * FROM {table}")  # noqa: S608
    alter()
    if sqlite:
        for table in _OUTBOX:
            op.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")  # noqa: S608
            op.execute(f"DROP TABLE kept_{table}")


def _drop_key() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_constraint("fk_event_account_id_account", type_="foreignkey")


def _add_key() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_event_account_id_account", "account", ["account_id"], ["id"],
                                    ondelete="SET NULL")


def upgrade() -> None:
    _keeping_the_outbox(_drop_key)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER account_deleted_clears_events" + (
        " ON account" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION event_account_deleted()")
    # An event whose account is gone (none should be) would stop the key being added back.
    op.execute("UPDATE event SET account_id = NULL WHERE account_id IS NOT NULL "
               "AND account_id NOT IN (SELECT id FROM account)")
    _keeping_the_outbox(_add_key)
