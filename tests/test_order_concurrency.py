"""SendOrder from several workers at once: an identical re-send is stored once, revisions never clash."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import unique_name

from eproc.services import accounts, admin, intake

ORDER = (Path(__file__).parent / "data" / "ebis" / "valid" / "authorised-order-fms.xml").read_text(encoding="utf-8")


def make_school(hub) -> accounts.Principal:
    username = unique_name()
    _view, password = accounts.create_account(
        hub, username, establishment_name="School", buyer_duns="123456789", supplier_duns="987654321"
    )
    return accounts.authenticate(hub, username, password)


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
    assert {o.xml for o in stored} == set(amendments)
