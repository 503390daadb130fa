"""The Alembic scripts build exactly the schema the models describe, and take it down again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
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
