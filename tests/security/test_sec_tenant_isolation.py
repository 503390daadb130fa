"""Tenant isolation as a property: over random accounts, documents and calls (hypothesis, stateful),
an account sees and touches only its own documents and orders, and another's DocID reads exactly
as one that does not exist. Service level, on both backends."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sec_support import DATA, SUPPLIER_DUNS, new_school, queue_quotes
from sqlalchemy import event

from eproc.config import FaultMessages
from eproc.services import admin, authentication, collection, intake
from eproc.services.authentication import Principal
from eproc.services.errors import DocumentNotFound, InvalidDocument
from eproc.services.hub import Hub
from eproc.soap.faults import map_error

ORDER = (DATA / "authorised-order-minimal.xml").read_text()
_duns = itertools.count(100_000_007, 7_919)
_order_numbers = itertools.count(1)


@dataclass
class School:
    username: str
    principal: Principal
    buyer_duns: str


@dataclass
class Doc:
    doc_id: str
    owner: str
    created_at: datetime
    processed: bool = False
    collected: int = 0


def unknown_fault(doc_id: str) -> str:
    return map_error(DocumentNotFound(doc_id), FaultMessages()).message


def index_ids(entries: list[collection.IndexEntry]) -> list[str]:
    return [entry.doc_id for entry in entries]


def make_machine(hub: Hub) -> type[RuleBasedStateMachine]:
    class TenantMachine(RuleBasedStateMachine):
        schools = Bundle("schools")
        documents = Bundle("documents")

        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, Doc] = {}
            self.known: dict[str, School] = {}
            self.orders: dict[str, int] = {}

        @rule(target=schools)
        def add_school(self) -> School:
            buyer = str(next(_duns))
            username, password = new_school(hub, buyer_duns=buyer, prefix="tenant")
            school = School(username, authentication.authenticate(hub, username, password), buyer)
            self.known[username] = school
            self.orders[username] = 0
            return school

        @rule(target=documents, owner=schools)
        def queue(self, owner: School) -> Doc:
            [doc_id] = queue_quotes(hub, owner.username, 1)
            doc = Doc(doc_id, owner.username, admin.show_document(hub, doc_id).created_at)
            self.model[doc_id] = doc
            return doc

        @rule(caller=schools)
        def fetch_index(self, caller: School) -> None:
            listed = index_ids(collection.fetch_index(hub, caller.principal))
            own_unprocessed = [d.doc_id for d in self.model.values() if d.owner == caller.username and not d.processed]
            assert sorted(listed) == sorted(own_unprocessed)

        @rule(caller=schools, data=st.data())
        def fetch_index_from_date(self, caller: School, data: st.DataObject) -> None:
            own = [d for d in self.model.values() if d.owner == caller.username]
            dates = [datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)]
            dates += [d.created_at for d in own] + [d.created_at for d in self.model.values()]
            begin = data.draw(st.sampled_from(dates))
            listed = index_ids(collection.fetch_index_from_date(hub, caller.principal, begin))
            assert sorted(listed) == sorted(d.doc_id for d in own if d.created_at > begin)

        @rule(caller=schools, doc=documents)
        def fetch_doc(self, caller: School, doc: Doc) -> None:
            if doc.owner == caller.username:
                data = collection.fetch_doc(hub, caller.principal, doc.doc_id)
                assert f"<Owner>{caller.username}</Owner>".encode() in data
                doc.collected += 1
            else:
                self._refused_as_unknown(lambda: collection.fetch_doc(hub, caller.principal, doc.doc_id), doc.doc_id)

        @rule(caller=schools, doc=documents, processed=st.booleans())
        def update_status(self, caller: School, doc: Doc, processed: bool) -> None:
            if doc.owner == caller.username:
                changed = collection.update_document_status(hub, caller.principal, doc.doc_id, processed)
                assert changed is (processed != doc.processed)
                doc.processed = processed
            else:
                self._refused_as_unknown(
                    lambda: collection.update_document_status(hub, caller.principal, doc.doc_id, processed), doc.doc_id
                )

        @rule(
            caller=schools,
            doc_id=st.one_of(
                st.from_regex(r"(ORD|INV|CRN|QUO)-[A-Z2-7]{24}", fullmatch=True),
                # NUL is left to test_a_doc_id_with_a_nul_reads_as_unknown: no XML can carry it, so it
                # never reaches the service through SOAP, and PostgreSQL refuses it (see there).
                st.text(
                    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=120
                ),
            ),
        )
        def unknown_doc_id(self, caller: School, doc_id: str) -> None:
            if doc_id in self.model:
                return
            self._refused_as_unknown(lambda: collection.fetch_doc(hub, caller.principal, doc_id), doc_id)
            self._refused_as_unknown(
                lambda: collection.update_document_status(hub, caller.principal, doc_id, True), doc_id
            )

        @rule(sender=schools, owner=schools)
        def send_order(self, sender: School, owner: School) -> None:
            """An Authorised Order naming ``owner``'s establishment, sent by ``sender``."""
            number = f"T/{next(_order_numbers):06d}"
            document = ORDER.replace("<DUNS>123456789</DUNS>", f"<DUNS>{owner.buyer_duns}</DUNS>").replace(
                "HIL/000732", number
            )
            assert f"<DUNS>{SUPPLIER_DUNS}</DUNS>" in document
            if sender.username == owner.username:
                receipt = intake.receive_order(hub, sender.principal, document)
                assert (receipt.order_number, receipt.duplicate) == (number, False)
                self.orders[sender.username] += 1
            else:
                with pytest.raises(InvalidDocument) as refused:
                    intake.receive_order(hub, sender.principal, document)
                assert "DUNS" in refused.value.reason

        def _refused_as_unknown(self, call, doc_id: str) -> None:  # type: ignore[no-untyped-def]
            with pytest.raises(DocumentNotFound) as refused:
                call()
            # The same exception, the same words, as for a DocID that does not exist at all.
            assert type(refused.value) is DocumentNotFound
            assert str(refused.value) == str(DocumentNotFound(doc_id))
            assert map_error(refused.value, FaultMessages()).message == unknown_fault(doc_id)

        @invariant()
        def nothing_changed_but_what_the_owner_did(self) -> None:
            for username in self.known:
                stored = {d.doc_id: d for d in admin.list_documents(hub, username)}
                expected = {d.doc_id: d for d in self.model.values() if d.owner == username}
                assert stored.keys() == expected.keys()
                for doc_id, doc in expected.items():
                    assert (stored[doc_id].processed, stored[doc_id].collect_count) == (doc.processed, doc.collected)
                assert len(admin.list_orders(hub, username)) == self.orders[username]

    return TenantMachine


def test_an_account_sees_and_touches_only_its_own(hub: Hub) -> None:
    run_state_machine_as_test(
        make_machine(hub),
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_another_accounts_doc_id_costs_what_an_unknown_one_costs(hub: Hub) -> None:
    """No timing oracle: another account's DocID and an unknown one send the database the very same
    statements (one indexed lookup, no second query, no verify), differing only in the DocID.

    Compared first by the statements themselves: a tight timed comparison (medians within 1.25x)
    failed on a loaded machine without any change in the code, while a second query for "exists but
    not yours" (the real leak) changes this trace every time. The clock is kept only as a coarse
    check on work outside the database."""
    owner, _ = new_school(hub, prefix="owner")
    [theirs] = queue_quotes(hub, owner, 1)
    caller, password = new_school(hub, prefix="caller")
    principal = authentication.authenticate(hub, caller, password)
    unknown = "QUO-" + "A" * 24

    def trace(doc_id: str) -> list[str]:
        statements: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(hub.store.engine, "before_cursor_execute", record)
        try:
            with pytest.raises(DocumentNotFound):
                collection.fetch_doc(hub, principal, doc_id)
        finally:
            event.remove(hub.store.engine, "before_cursor_execute", record)
        return statements

    trace(theirs), trace(unknown)  # warm: the same caches on both sides
    theirs_statements, unknown_statements = trace(theirs), trace(unknown)
    assert theirs_statements, "fetch_doc sent nothing to the database"
    assert theirs_statements == unknown_statements

    # And no work outside the database either (a password verify, a sleep): the fastest of many
    # interleaved calls, which load cannot make faster, within a factor that such work would
    # exceed many times over.
    def timed(doc_id: str) -> float:
        start = time.perf_counter()
        with pytest.raises(DocumentNotFound):
            collection.fetch_doc(hub, principal, doc_id)
        return time.perf_counter() - start

    fastest = {"theirs": float("inf"), "unknown": float("inf")}
    for _ in range(100):
        fastest["theirs"] = min(fastest["theirs"], timed(theirs))
        fastest["unknown"] = min(fastest["unknown"], timed(unknown))
    assert 0.5 < fastest["theirs"] / fastest["unknown"] < 2.0, fastest


def test_a_doc_id_with_a_nul_reads_as_unknown(hub: Hub) -> None:
    """Defence in depth: SOAP cannot deliver a NUL (the hostile-input tests show the envelope is
    refused), but the use case should still answer DocumentNotExist rather than a database error."""
    username, password = new_school(hub)
    principal = authentication.authenticate(hub, username, password)
    for doc_id in ("a\x00b", "\x00"):
        with pytest.raises(DocumentNotFound):
            collection.fetch_doc(hub, principal, doc_id)
        with pytest.raises(DocumentNotFound):
            collection.update_document_status(hub, principal, doc_id, True)
