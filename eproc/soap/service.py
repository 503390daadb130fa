"""The six FMS operations as a spyne service, behind the AuthHeader.

spyne parses the envelope, validates the body against the operation's schema (``validator="lxml"``:
without it ``<Processed>yes</Processed>`` would silently become ``false``) and dispatches by the body
element. Responses and faults are written by :mod:`eproc.soap.envelope`, not by spyne.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from spyne import Boolean, ComplexModel, DateTime, ServiceBase, Unicode, rpc

from eproc import logs
from eproc.ebis import decode_document
from eproc.services import authentication, collection, intake
from eproc.services.authentication import Principal
from eproc.services.errors import AuthenticationFailed, CredentialsChanged, DocumentNotFound
from eproc.soap.envelope import SERVICE_NS
from eproc.soap.faults import InvalidRequest


class AuthHeader(ComplexModel):
    __namespace__ = SERVICE_NS
    _type_info = [("Username", Unicode), ("Password", Unicode)]


# Value types are required and not nillable, as in the ASMX WSDL: a .NET DateTime or bool is
# always sent, so an absent one is a malformed request, never a default.
RequiredDateTime = DateTime(min_occurs=1, nillable=False)
RequiredBoolean = Boolean(min_occurs=1, nillable=False)


# The WSGI environ key under which the endpoint leaves the caller's address (proxy headers
# already weighed) for the failed-login limits.
CLIENT_ADDRESS_KEY = "eproc.client_address"


def _credentials(ctx: Any) -> tuple[str | None, str | None, str | None]:
    """The AuthHeader's username and password, and the caller's address."""
    header_doc = ctx.in_header_doc
    if header_doc is not None:
        auth_headers = [e for e in header_doc if e.tag == f"{{{SERVICE_NS}}}AuthHeader"]
        if len(auth_headers) > 1:
            raise InvalidRequest("the SOAP header carries more than one AuthHeader; send exactly one")
    header = ctx.in_header
    environ = getattr(ctx.transport, "req_env", None) or {}
    # A missing AuthHeader is a failed login like any other: counted, logged, the same fault.
    username, password = (header.Username, header.Password) if header is not None else (None, None)
    return username, password, environ.get(CLIENT_ADDRESS_KEY)


def _principal(ctx: Any) -> Principal:
    principal = authentication.authenticate(ctx.app.hub, *_credentials(ctx))
    logs.note(account=principal.username)  # the log line names who called; never the password
    return principal


T = TypeVar("T")


def _collecting(ctx: Any, act: Callable[[Principal], T]) -> T:
    """FetchDoc and UpdateDocumentStatus, the calls of every import: their use cases check the
    login in the statement that acts on it, so a login this worker remembers is tried first
    without reading the account; if the account has changed since, the full authentication
    decides, as for every other operation."""
    hub = ctx.app.hub
    remembered = authentication.remembered(hub, *_credentials(ctx))
    if remembered is not None:
        try:
            result = act(remembered)
        except CredentialsChanged:
            pass
        except DocumentNotFound:
            # Refused after the statement found the login good: the line names who called.
            logs.note(account=remembered.username)
            raise
        else:
            logs.note(account=remembered.username)
            return result
    for _ in range(authentication.CHANGED_UNDER_US_RETRIES):
        try:
            return act(_principal(ctx))
        except CredentialsChanged:  # changed again between the login's read and the statement
            continue
    raise AuthenticationFailed()


class OtsService(ServiceBase):
    __in_header__ = AuthHeader

    @rpc(_returns=Unicode)
    def ChangePassword(ctx) -> str:  # noqa: N802 - the wire names are the contract
        return authentication.change_password(ctx.app.hub, _principal(ctx))

    @rpc(_returns=Unicode)
    def FetchIndex(ctx) -> str:  # noqa: N802
        return ctx.app.index.write(collection.fetch_index(ctx.app.hub, _principal(ctx)))

    @rpc(RequiredDateTime, _returns=Unicode)
    def FetchIndexFromDate(ctx, BeginDate: datetime) -> str:  # noqa: N802, N803
        principal = _principal(ctx)
        return ctx.app.index.write(collection.fetch_index_from_date(ctx.app.hub, principal, BeginDate))

    @rpc(Unicode, RequiredBoolean, _returns=Boolean)
    def UpdateDocumentStatus(ctx, DocID: str, Processed: bool) -> bool:  # noqa: N802, N803
        _collecting(ctx, lambda principal: collection.update_document_status(
            ctx.app.hub, principal, DocID or "", Processed))
        return True  # the ASMX contract: true once the status is as asked, changed or not

    @rpc(Unicode, _returns=Unicode)
    def FetchDoc(ctx, DocID: str) -> str:  # noqa: N802, N803
        data = _collecting(ctx, lambda principal: collection.fetch_doc(ctx.app.hub, principal, DocID or ""))
        return decode_document(data)

    @rpc(Unicode, _returns=Boolean)
    def SendOrder(ctx, Document: str) -> bool:  # noqa: N802, N803
        intake.receive_order(ctx.app.hub, _principal(ctx), Document or "")
        return True
