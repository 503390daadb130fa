"""The baseline: a bare spyne service with eproc's six operations and AuthHeader, answering fixed
strings (no database, no password check, no escaping of our own).

It is what the framework alone costs per call, and what ``bench.bench_fms`` divides eproc's cost by.
It is served by the same gunicorn set-up as eproc (``eproc.server.serve``: sync worker, same
options, ``gc.freeze()`` after the worker has loaded), with only the WSGI application swapped.
The index it returns lists ``BENCH_DOCUMENTS`` fixed DocIDs (env, default 50), so that a client
runs the same 1 + 2 x N calls against it as against eproc.
"""

from __future__ import annotations

import os
from typing import Any

from spyne import Application, Boolean, ComplexModel, DateTime, ServiceBase, Unicode, rpc
from spyne import const as spyne_const
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
DOCUMENT = "<Quote><N>1</N></Quote>"
# bench_fetchdoc: FetchDoc answers the text of this file instead (a large document).
if os.environ.get("BENCH_FETCHDOC_FILE"):
    DOCUMENT = open(os.environ["BENCH_FETCHDOC_FILE"], encoding="utf-8").read()  # noqa: SIM115 - read once at import


def fixed_index(count: int) -> str:
    rows = "".join(
        f"<Document><DocID>BARE-{n:06d}</DocID><DocType>Quote</DocType><CreateDate>2026-12-01T09:00:00Z</CreateDate>"
        "</Document>"
        for n in range(count)
    )
    return f'<?xml version="1.0" encoding="utf-8"?>\n<DocumentIndex>{rows}</DocumentIndex>'


class AuthHeader(ComplexModel):
    __namespace__ = OTS
    _type_info = [("Username", Unicode), ("Password", Unicode)]


INDEX = fixed_index(int(os.environ.get("BENCH_DOCUMENTS", "50")))


class BareService(ServiceBase):
    __in_header__ = AuthHeader

    @rpc(_returns=Unicode)
    def ChangePassword(ctx: Any) -> str:  # noqa: N802
        return "new-password"

    @rpc(_returns=Unicode)
    def FetchIndex(ctx: Any) -> str:  # noqa: N802
        return INDEX

    @rpc(DateTime(min_occurs=1, nillable=False), _returns=Unicode)
    def FetchIndexFromDate(ctx: Any, BeginDate: Any) -> str:  # noqa: N802, N803
        return INDEX

    @rpc(Unicode, Boolean(min_occurs=1, nillable=False), _returns=Boolean)
    def UpdateDocumentStatus(ctx: Any, DocID: str, Processed: bool) -> bool:  # noqa: N802, N803
        return True

    @rpc(Unicode, _returns=Unicode)
    def FetchDoc(ctx: Any, DocID: str) -> str:  # noqa: N802, N803
        return DOCUMENT

    @rpc(Unicode, _returns=Boolean)
    def SendOrder(ctx: Any, Document: str) -> bool:  # noqa: N802, N803
        return True


def application() -> WsgiApplication:
    # eproc turns spyne's forced once-a-second gc.collect() off; so does the baseline, so that the
    # ratio is about eproc's own work, not about a collection eproc no longer runs.
    spyne_const.MIN_GC_INTERVAL = float("inf")
    app = Application([BareService], tns=OTS, name="BareService", in_protocol=Soap11(validator="lxml"),
                      out_protocol=Soap11())
    return WsgiApplication(app, max_content_length=16 * 1024 * 1024)


def serve() -> None:
    """``eproc.server.serve`` on a free port, one worker, with this application instead of eproc's."""
    from eproc import server
    from eproc.config import load_settings
    from eproc.front import FrontLimits

    server.EprocServer.load = lambda self: application()  # type: ignore[method-assign]
    # Pinned or not as eproc's own server is (EPROC_PIN_WORKERS), so that both run alike.
    server.serve("127.0.0.1", 0, 1, limits=FrontLimits(pin_workers=load_settings().pin_workers))
