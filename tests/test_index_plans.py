"""FetchIndex and FetchIndexFromDate read through the per-account indexes, so their cost grows with the
caller's documents, not with the whole queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from eproc.store.models import Account, Document
from eproc.store.repositories import DocumentRepository


def plan(session, query) -> str:  # type: ignore[no-untyped-def]
    compiled = query.compile(session.bind, compile_kwargs={"literal_binds": True})
    if session.bind.dialect.name == "sqlite":
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(row[-1]) for row in rows)
    return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")).all())


def captured_query(session, call):  # type: ignore[no-untyped-def]
    """The SELECT a repository function runs, captured instead of executed."""
    captured = []
    original = session.execute

    def capture(query, *args, **kwargs):  # type: ignore[no-untyped-def]
        captured.append(query)
        return original(query, *args, **kwargs)

    session.execute = capture
    call()
    session.execute = original
    return captured[0]


def fill_queue_of_other_schools(hub, rows: int = 3000) -> None:
    """A busy queue: thousands of other schools' documents, a few of account 1's, statistics fresh."""
    now = datetime.now(UTC)
    with Session(hub.store.engine) as session, session.begin():
        for account_id in (1, 2):
            session.add(
                Account(
                    id=account_id,
                    username=f"s{account_id}",
                    password_hash="x",
                    credential_version=1,
                    password_changed_at=now,
                    establishment_name="S",
                    buyer_duns="123456789",
                    supplier_duns="987654321",
                    language="en",
                    currency="GBP",
                    enabled=True,
                    failed_logins=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        session.flush()
        template = {
            "doc_type": "quote",
            "xml": b"<Quote/>",
            "sha256": "0" * 64,
            "created_at": now,
            "processed": False,
            "collect_count": 0,
            "expires_at": now + timedelta(days=1),
        }
        session.execute(
            insert(Document),
            [
                {**template, "doc_id": f"QUO-{n}", "account_id": 1 if n < 3 else 2, "processed": n % 2 == 0}
                for n in range(rows)
            ],
        )
    with Session(hub.store.engine) as session, session.begin():
        session.execute(text("ANALYZE"))


def test_index_queries_use_the_account_indexes(hub):
    fill_queue_of_other_schools(hub)
    now = datetime.now(UTC)
    with Session(hub.store.engine) as session:
        documents = DocumentRepository(session)
        unprocessed = captured_query(session, lambda: documents.unprocessed_index(1, now))
        since = captured_query(session, lambda: documents.index_created_after(1, now, now))
        for query in (unprocessed, since):
            shown = plan(session, query)
            assert "ix_document_account_" in shown, shown
            assert "Seq Scan" not in shown and "SCAN document" not in shown, shown
