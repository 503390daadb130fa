"""``/api/v1/events``: the events feed, with das-events' parameters and an id-based next link."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict

from eproc.api import models
from eproc.api.app import API_PREFIX, BEARER, grant, hub, json_response
from eproc.api.paging import next_url
from eproc.services import events
from eproc.services.documents import scoped_account_ids
from eproc.services.errors import InvalidInput

tag = Tag(name="events", description="every state change, in order (das-events semantics)")
blueprint = APIBlueprint("events", __name__, url_prefix=f"{API_PREFIX}/events", abp_tags=[tag],
                         abp_security=[BEARER])
ERRORS: ResponseDict = {400: models.Problem, 401: models.Problem, 403: models.Problem, 404: models.Problem}


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{name} {value!r} is not a date and time yyyyMMddHHmmss") from None


@blueprint.get("", summary="The events feed, ordered by id", responses={200: models.EventList, **ERRORS})
def feed(query: models.EventQuery) -> Response:
    allowed = grant("ReadEvent")
    account_ids = scoped_account_ids(hub(), query.account, allowed.account_ids)
    page = events.feed(
        hub(),
        events.EventQuery(
            from_date=_moment(query.from_date, "fromDate"),
            to_date=_moment(query.to_date, "toDate"),
            from_event_id=query.from_event_id,
            page_size=query.page_size,
            page_number=query.page_number,
            types=tuple(query.type or ()),
            account_ids=account_ids,
        ),
    )
    body = models.EventList(
        [
            models.Event(id=e.id, type=e.type, created_on=e.at, account=e.account, doc_id=e.doc_id,
                         order_id=e.order_id, data=e.data)
            for e in page
        ]
    )
    headers = {}
    if len(page) == query.page_size:
        # Continue by id: as cheap at the millionth event as at the first, unlike pageNumber.
        following = next_url(fromEventId=page[-1].id + 1, pageNumber=1)
        headers["Link"] = f'<{following}>; rel="next"'
    return json_response(body, 200, headers)
