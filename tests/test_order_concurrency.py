"""SendOrder from several workers at once: an identical re-send is stored once, revisions never clash."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import new_school

from eproc.services import admin, authentication, intake

ORDER = (Path(__file__).parent / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")


def make_school(hub) -> authentication.Principal:
    username, password = new_school(hub)
    return authentication.authenticate(hub, username, password)


def test_identical_concurrent_resends_are_stored_once(hub):
    school = make_school(hub)
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda _: intake.receive_order(hub, school, ORDER), range(16)))
    assert len({r.order_id for r in receipts}) == 1
    assert sum(not r.duplicate for r in receipts) == 1
    assert len(admin.list_orders(hub, school.username)) == 1


def test_concurrent_amendments_get_distinct_revisions(hub):
    school = make_school(hub)
    amendments = [ORDER.replace("<Amount>", f"<Amount>{n}", 1) for n in range(1, 7)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        receipts = list(pool.map(lambda doc: intake.receive_order(hub, school, doc), amendments))
    assert sorted(r.revision for r in receipts) == [1, 2, 3, 4, 5, 6]
    stored = admin.list_orders(hub, school.username)
    assert sorted(o.revision for o in stored) == [1, 2, 3, 4, 5, 6]
    assert {admin.show_order(hub, o.id).xml for o in stored} == {a.encode() for a in amendments}


def test_a_document_string_is_stored_as_utf8_with_a_declaration_that_says_so(hub):
    """SendOrder's Document is characters: whatever encoding its declaration names (FMS may send
    utf-16), the bytes stored are UTF-8 and the stored declaration says utf-8."""
    school = make_school(hub)
    assert ORDER.startswith('<?xml version="1.0" encoding="utf-8"?>')
    sent = ORDER.replace('encoding="utf-8"', 'encoding="utf-16"', 1)
    receipt = intake.receive_order(hub, school, sent)
    assert admin.show_order(hub, receipt.order_id).xml == ORDER.encode("utf-8")


def test_holding_a_school_makes_the_next_holder_wait(hub):
    """What revision numbering (and the one-at-a-time SendOrder) relies on, on both backends: while one
    unit of work holds a school's row, another one's hold waits until the first commits. (SQLite has
    no SELECT ... FOR UPDATE: a read there held nothing, and six concurrent amendments could then
    exhaust their retries.)"""
    school = make_school(hub)
    held, released = threading.Event(), []

    def first() -> None:
        with hub.unit_of_work() as uow:
            uow.accounts.hold(school.account_id)
            held.set()
            time.sleep(0.3)
            released.append(time.monotonic())
            uow.commit()

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    with hub.unit_of_work() as uow:
        uow.accounts.hold(school.account_id)
        acquired = time.monotonic()
    thread.join()
    assert released and acquired >= released[0]
