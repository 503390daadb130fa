"""`eproc purge` keeps received orders and events for their own retention periods, in batches."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from support import make_settings, new_school, run_cli

from eproc.services import admin, authentication, housekeeping, intake
from eproc.services.clock import ManualClock
from eproc.services.hub import build_hub

DATA = Path(__file__).parent / "data" / "ebis" / "valid"
ORDER = (DATA / "authorised-order-fms.xml").read_text(encoding="utf-8")


def hub_at(database_url: str, clock: ManualClock, **settings: str):
    return build_hub(make_settings(database_url, EPROC_PURGE_BATCH_SIZE="2", **settings), clock=clock)


def test_orders_and_events_past_their_retention_are_purged_in_batches(database_url):
    clock = ManualClock()
    hub = hub_at(database_url, clock, EPROC_ORDER_RETENTION_DAYS="30", EPROC_EVENT_RETENTION_DAYS="60")
    username, password = new_school(hub)
    school = authentication.authenticate(hub, username, password)
    for number in range(5):  # five revisions: five stored orders
        intake.receive_order(hub, school, ORDER.replace("HIL/000731", f"HIL/00{number}"))
    events_then = len(admin.list_events(hub))
    clock.advance(days=31)
    intake.receive_order(hub, school, ORDER.replace("HIL/000731", "HIL/recent"))

    assert housekeeping.purge(hub, dry_run=True) == housekeeping.PurgeResult(0, 0, True, orders=5, events=0)
    assert housekeeping.purge(hub) == housekeeping.PurgeResult(0, 0, False, orders=5, events=0)
    assert [o.order_number for o in admin.list_orders(hub, username)] == ["HIL/recent"]

    clock.advance(days=30)  # the first events are now 61 days old; the last order's 30
    result = housekeeping.purge(hub)
    assert (result.orders, result.events) == (0, events_then)
    assert len(admin.list_orders(hub, username)) == 1
    assert all(e.at > clock.now() - timedelta(days=60) for e in admin.list_events(hub))


def test_a_retention_of_zero_keeps_for_ever(database_url):
    clock = ManualClock()
    hub = hub_at(database_url, clock, EPROC_ORDER_RETENTION_DAYS="0", EPROC_EVENT_RETENTION_DAYS="0")
    username, password = new_school(hub)
    intake.receive_order(hub, authentication.authenticate(hub, username, password), ORDER)
    clock.advance(days=10_000)
    assert housekeeping.purge(hub) == housekeeping.PurgeResult(0, 0, False, orders=0, events=0)


def test_purge_json(database_url):
    result = run_cli(database_url, "purge", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"dry_run": True, "documents": 0, "expired": 0, "processed": 0,
                                         "orders": 0, "events": 0}


def test_the_defaults_are_documented():
    settings = make_settings("sqlite://")
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for variable, value in (("EPROC_ORDER_RETENTION_DAYS", settings.order_retention_days),
                            ("EPROC_EVENT_RETENTION_DAYS", settings.event_retention_days)):
        assert f"`{variable}` | {value} |" in readme or f"`{variable}` | `{value}` |" in readme


def test_every_setting_is_in_the_readme():
    import dataclasses

    from eproc.config import Settings

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `EPROC_")]
    missing = []
    for field in dataclasses.fields(Settings):
        if field.name == "faults":
            continue
        variable = f"EPROC_{field.name.upper()}"
        prefix = next((p for p in ("EPROC_LOGIN_",) if variable.startswith(p)), None)
        if not any(f"`{variable}`" in row or (prefix and f"`{prefix}*`" in row) for row in rows):
            missing.append(variable)
    assert missing == []
