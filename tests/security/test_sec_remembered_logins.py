"""FetchDoc and UpdateDocumentStatus with a login this worker remembers (issue 12): the account is
not read first, the statement that collects or marks checks it (on PostgreSQL one statement with
the event, on SQLite the UPDATE of the transaction). Any change to the account's credentials made
elsewhere (another worker, the CLI) still refuses the old password at once, and the refused call
changes nothing."""

from __future__ import annotations

import pytest
from sec_support import CREDENTIAL_CHANGES, call, change_credentials, new_school
from support import in_process_service, make_settings, quote_xml

from eproc.services import authentication, intake
from eproc.services.clock import ManualClock
from eproc.services.hub import Hub, build_hub
from eproc.store.models import Document

PASSWORD = "remembered-login-password-1"
REFUSED = b"AuthenticationException: The username or password supplied is not valid."


def fetch(endpoint, username: str, password: str, doc_id: str):  # type: ignore[no-untyped-def]
    return call(endpoint, "FetchDoc", username, password, f"<DocID>{doc_id}</DocID>")


def mark(endpoint, username: str, password: str, doc_id: str):  # type: ignore[no-untyped-def]
    return call(endpoint, "UpdateDocumentStatus", username, password,
                f"<DocID>{doc_id}</DocID><Processed>true</Processed>")


def document(hub: Hub, doc_id: str) -> Document:
    with hub.unit_of_work() as uow:
        found = uow.documents.by_doc_id(doc_id)
        assert found is not None
        return found


def warm_worker(database_url: str, clock: ManualClock | None = None, **extra: str):  # type: ignore[no-untyped-def]
    """A worker (its own hub and cache) that has served the school twice: the login is remembered."""
    hub = build_hub(make_settings(database_url, **extra), clock=clock)
    username, _ = new_school(hub, PASSWORD)
    doc_id = intake.queue_document(hub, quote_xml(), username=username, requested_type="quote").doc_id
    app = in_process_service(hub=hub).endpoint
    for _ in range(2):
        assert fetch(app, username, PASSWORD, doc_id).status == 200
    assert document(hub, doc_id).collect_count == 2
    return hub, app, username, doc_id


@pytest.mark.parametrize("change", [*CREDENTIAL_CHANGES, "lockout"])
def test_a_change_made_elsewhere_refuses_the_remembered_login_and_changes_nothing(database_url: str, change: str):
    hub, app, username, doc_id = warm_worker(database_url, EPROC_LOGIN_FAILURE_LIMIT="2")
    other = build_hub(make_settings(database_url, EPROC_LOGIN_FAILURE_LIMIT="2"))  # another worker
    if change == "lockout":
        for n in range(2):  # two different wrong passwords from this worker's own address
            assert REFUSED in call(app, "FetchIndex", username, f"guess-{n}").body
    else:
        change_credentials(other, username, PASSWORD, change)
    for operation in (fetch, mark):
        response = operation(app, username, PASSWORD, doc_id)
        assert response.status == 500 and REFUSED in response.body, response.body
    after = document(hub, doc_id)
    assert (after.collect_count, after.processed) == (2, False)


def test_a_remembered_previous_password_ends_with_its_grace_period(database_url: str):
    """Cache and familiar address both outlast the grace period here, so the remembered login
    itself is what must end with it."""
    clock = ManualClock()
    hub, app, username, doc_id = warm_worker(
        database_url, clock, EPROC_PASSWORD_GRACE_HOURS="1", EPROC_CREDENTIAL_CACHE_SECONDS="7200",
        EPROC_LOGIN_FAMILIAR_TOUCH_SECONDS="7200",
    )
    authentication.change_password(hub, authentication.authenticate(hub, username, PASSWORD))
    for _ in range(2):  # the old password, now the previous one, is remembered in its slot
        assert fetch(app, username, PASSWORD, doc_id).status == 200
    clock.advance(hours=1, seconds=1)
    response = fetch(app, username, PASSWORD, doc_id)
    assert response.status == 500 and REFUSED in response.body
    assert document(hub, doc_id).collect_count == 4


def test_another_schools_document_is_not_found_with_a_remembered_login(database_url: str):
    hub, app, username, doc_id = warm_worker(database_url)
    other, _ = new_school(hub, "another-school-password-1")
    theirs = intake.queue_document(hub, quote_xml("<N>theirs</N>"), username=other, requested_type="quote").doc_id
    for operation in (fetch, mark):
        response = operation(app, username, PASSWORD, theirs)
        assert response.status == 500 and b"does not exist" in response.body, response.body
    assert (document(hub, theirs).collect_count, document(hub, theirs).processed) == (0, False)
    assert mark(app, username, PASSWORD, doc_id).status == 200
    assert document(hub, doc_id).processed is True
