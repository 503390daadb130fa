"""The outbox learns who subscribes from each event's own insert, not from a remembered list that
could be stale: an endpoint added, disabled, enabled again or removed by another process counts for
the very next event of a process that has been emitting all along."""

from __future__ import annotations

import os
import subprocess
import sys

from hook_support import FAST
from sqlalchemy import func, select
from support import make_settings, server_environment

from eproc.services.events import EventType, emit
from eproc.services.hub import build_hub
from eproc.store.db import Store, make_engine
from eproc.store.models import Event, WebhookDelivery

# Run in a process of its own: the change is committed there, by code sharing nothing with ours.
CHANGE = """
import sys
from eproc.config import get_settings
from eproc.services import webhooks
from eproc.services.hub import build_hub
hub = build_hub(get_settings())
action, argument = sys.argv[1], sys.argv[2]
if action == "add":
    view, _ = webhooks.create_webhook(hub, "http://127.0.0.1:9/", [argument])
    print(view.id)
elif action == "remove":
    webhooks.remove_webhook(hub, int(argument))
else:
    webhooks.update_webhook(hub, int(argument), enabled=action == "enable")
"""


def _change(database_url: str, action: str, argument: str) -> str:
    env = {**os.environ, **server_environment(database_url, **FAST)}
    done = subprocess.run([sys.executable, "-c", CHANGE, action, argument], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_endpoint_changes_made_by_another_process_count_for_the_next_event(database_url: str) -> None:
    hub = build_hub(make_settings(database_url, **FAST))
    # The emitting side on a store and engine of its own, as another worker would have.
    emitter = Store(make_engine(database_url))

    def deliveries_owed(subject: str) -> int:
        with emitter.unit_of_work() as uow:
            emit(uow, EventType.ACCOUNT_ENABLED, hub.now(), subject=subject)
            uow.commit()
        query = (select(func.count()).select_from(WebhookDelivery)
                 .join(Event, Event.id == WebhookDelivery.event_id).where(Event.subject == subject))
        with hub.store.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    try:
        assert deliveries_owed("before any endpoint") == 0
        assert deliveries_owed("still none") == 0  # whatever the emitting process remembers is warm

        wanted = _change(database_url, "add", "account.enabled")
        assert deliveries_owed("after add") == 1
        _change(database_url, "add", "document.queued")
        assert deliveries_owed("another type added") == 1  # the second endpoint does not want it

        _change(database_url, "disable", wanted)
        assert deliveries_owed("after disable") == 0
        _change(database_url, "enable", wanted)
        assert deliveries_owed("after enable") == 1
        _change(database_url, "remove", wanted)
        assert deliveries_owed("after remove") == 0
    finally:
        emitter.engine.dispose()


def test_an_endpoint_changed_in_the_same_unit_of_work_counts_for_its_event(database_url: str) -> None:
    """The webhook's own ``webhook.updated`` event sees the change made just before it, unflushed."""
    from eproc.services import webhooks

    hub = build_hub(make_settings(database_url, **FAST))
    view, _ = webhooks.create_webhook(hub, "http://127.0.0.1:9/", ["webhook.updated"])
    webhooks.update_webhook(hub, view.id, enabled=False)
    webhooks.update_webhook(hub, view.id, enabled=True)  # its own event: enabled again, so owed
    with hub.store.engine.connect() as connection:
        types = connection.execute(
            select(Event.data).join(WebhookDelivery, Event.id == WebhookDelivery.event_id)
        ).scalars().all()
    assert len(types) == 1 and '"enabled": true' in (types[0] or ""), types
