"""The Alembic scripts build exactly the schema the models describe, and take it down again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, event, inspect, text
from support import BACKENDS, create_postgres_database

from eproc.store.migrate import downgrade, upgrade
from eproc.store.models import Base

TABLES = {"account", "document", "received_order", "event", "api_token", "signing_key", "webhook_endpoint",
          "webhook_delivery", "webhook_attempt", "familiar_address", "login_bucket", "address_failure"}


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    database = create_postgres_database()
    yield database.url
    database.drop()


def test_upgrade_from_empty_matches_the_models_and_downgrade_removes_everything(empty_database):
    upgrade(empty_database)
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= TABLES
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            indexes = {ix["name"] for ix in inspect(connection).get_indexes("document")}
            assert {"ix_document_account_unprocessed", "ix_document_account_created"} <= indexes
        downgrade(empty_database)
        with engine.connect() as connection:
            assert not TABLES & set(inspect(connection).get_table_names())
        upgrade(empty_database)  # and back up again, as a redeploy after a rollback would
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_the_event_log_of_an_earlier_release_gets_the_dotted_types(empty_database):
    upgrade(empty_database, "0001")
    engine = create_engine(empty_database)
    old = ["queued", "collected", "purged", "order_received", "password_changed", "login_failed", "login_locked",
           "login_locked", "account_created"]
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO account (id, username, password_hash, credential_version, password_changed_at, "
                "establishment_name, buyer_duns, supplier_duns, language, currency, enabled, failed_logins, "
                "created_at, updated_at) VALUES (1, 's', 'x', 1, CURRENT_TIMESTAMP, 'S', '123456789', '987654321', "
                "'en', 'GBP', true, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))
            for n, kind in enumerate(old):
                # The second lockout is an address's: it names no account.
                connection.execute(text(
                    "INSERT INTO event (at, kind, account_id, subject) VALUES (CURRENT_TIMESTAMP, :kind, :account, "
                    ":subject)"
                ), {"kind": kind, "account": None if n == 7 else 1, "subject": f"ORD-{n}"})
        upgrade(empty_database)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT type, doc_id FROM event ORDER BY id")).all()
        assert [row[0] for row in rows] == [
            "document.queued", "document.collected", "document.purged", "order.received",
            "account.password_changed", "login.failed", "account.locked", "login.address_locked", "account.created",
        ]
        assert [row[1] for row in rows[:3]] == ["ORD-0", "ORD-1", "ORD-2"]  # documents' events name them
        downgrade(empty_database, "0001")
        with engine.connect() as connection:
            kinds = [row[0] for row in connection.execute(text("SELECT kind FROM event ORDER BY id"))]
        assert kinds == old
    finally:
        engine.dispose()


ACCOUNT_ROW = (
    "INSERT INTO account (id, username, password_hash, credential_version, password_changed_at, "
    "establishment_name, buyer_duns, supplier_duns, language, currency, enabled, failed_logins, "
    "created_at, updated_at) VALUES (:id, :username, 'x', 1, CURRENT_TIMESTAMP, 'S', '123456789', '987654321', "
    "'en', 'GBP', true, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


def _outbox_counts(connection) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
            for table in ("event", "webhook_delivery", "webhook_attempt")]


def test_dropping_the_event_account_key_keeps_the_outbox_and_still_clears_a_deleted_account(empty_database):
    """0007 rebuilds the event table on SQLite, where the old table's drop would cascade to every
    webhook delivery and attempt; and an account's deletion still clears its events' account (the
    old key's ON DELETE SET NULL, now a trigger), both ways."""
    upgrade(empty_database, "0006")
    engine = create_engine(empty_database)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _foreign_keys(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.execute("PRAGMA foreign_keys=ON")  # as eproc's connections have them

    try:
        with engine.begin() as connection:
            for account_id in (1, 2):
                connection.execute(text(ACCOUNT_ROW), {"id": account_id, "username": f"s{account_id}"})
            for event_id, account_id in ((1, 1), (2, 2)):
                connection.execute(text("INSERT INTO event (id, at, type, account_id) VALUES "
                                        "(:id, CURRENT_TIMESTAMP, 'document.queued', :account)"),
                                   {"id": event_id, "account": account_id})
            connection.execute(text(
                "INSERT INTO webhook_endpoint (id, url, events, secret, enabled, created_by, created_at, updated_at) "
                "VALUES (1, 'https://example.test/hook', 'document.queued', 'whsec_x', true, 'admin', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO webhook_delivery (id, endpoint_id, event_id, message_id, event_type, payload, status, "
                "attempts, next_attempt_at, created_at) VALUES (1, 1, 1, 'msg_1', 'document.queued', '{}', "
                "'pending', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(text("INSERT INTO webhook_attempt (id, delivery_id, at, duration_ms) "
                                    "VALUES (1, 1, CURRENT_TIMESTAMP, 5)"))
        for target in ("head", "0006", "head"):
            (upgrade if target == "head" else downgrade)(empty_database, target)
            with engine.connect() as connection:
                assert _outbox_counts(connection) == [2, 1, 1], target
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM account WHERE id = 1"))
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, account_id FROM event ORDER BY id")).all()
            assert [tuple(row) for row in rows] == [(1, None), (2, 2)]
            assert _outbox_counts(connection) == [2, 1, 1]
        downgrade(empty_database, "0006")  # and the key comes back over what the trigger left
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM account WHERE id = 2"))
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id, account_id FROM event ORDER BY id")).all()
            assert [tuple(row) for row in rows] == [(1, None), (2, None)]
    finally:
        engine.dispose()
