"""The Alembic scripts build exactly the schema the models describe, and take it down again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from support import BACKENDS, create_postgres_database

from eproc.store.migrate import downgrade, upgrade
from eproc.store.models import Base

TABLES = {"account", "document", "received_order", "event"}


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
