"""spyne applications for SOAP 1.1 and 1.2, with ASMX-shaped output and explicit error mapping."""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree
from spyne import Application, Fault
from spyne import const as spyne_const
from spyne.protocol.soap import Soap11, Soap12
from spyne.protocol.soap.soap11 import _parse_xml_string

from eproc import logs
from eproc.services.hub import Hub
from eproc.soap.envelope import SERVICE_NS, SOAP11, SOAP12, SoapVersion, fault_envelope, response_parts
from eproc.soap.faults import map_error
from eproc.soap.index import IndexWriter
from eproc.soap.service import OtsService

# spyne logs every Fault with a traceback at ERROR, and a malformed request verbatim (AuthHeader
# password included) on its ".invalid" loggers; eproc maps and logs errors itself, without bodies.
for _name in (
    "spyne.application.client",
    "spyne.application.server",
    "spyne.application",
    "spyne.protocol.soap.soap11.invalid",
    "spyne.protocol.soap.soap12.invalid",
    "spyne.protocol.xml.invalid",
):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


# spyne runs a full gc.collect() at the end of a call at most once a second (spyne/context.py,
# MethodContext.close), to return file descriptors of uploaded files promptly. eproc takes no
# files, and in its heap (~94k long-lived objects) each of those collections took 30-70 ms: the
# whole tail latency. Python's own generational collector still runs; this only stops the forced
# full ones; tests/test_gc.py notices if a spyne upgrade brings them back.
spyne_const.MIN_GC_INTERVAL = float("inf")


class AsmxOutput:
    """Mixin for spyne's SOAP protocols: the response bytes come from :mod:`eproc.soap.envelope`."""

    soap_version: SoapVersion
    event_manager: Any  # spyne's, from the protocol class this is mixed into

    def serialize(self, ctx: Any, message: Any) -> None:
        self.event_manager.fire_event("before_serialize", ctx)
        if ctx.descriptor is not None:
            logs.note(operation=ctx.descriptor.name)
        if ctx.out_error is not None:
            fault = map_error(ctx.out_error, ctx.app.hub.settings.faults)
            ctx.out_error = fault
            ctx.out_document = [fault_envelope(self.soap_version, fault.client_error, fault.message)]
        else:
            result = ctx.out_object[0] if ctx.out_object else None
            logs.note(outcome="ok")
            # In pieces: spyne sends a list of byte strings as they are (Content-Length is their sum).
            ctx.out_document = response_parts(self.soap_version, ctx.descriptor.name, result)
        self.event_manager.fire_event("after_serialize", ctx)

    def create_out_string(self, ctx: Any, charset: Any = None) -> None:
        ctx.out_string = ctx.out_document

    def fault_to_http_response_code(self, fault: Any) -> str:
        return "500 Internal Server Error"


class AsmxSoap11(AsmxOutput, Soap11):
    soap_version = SOAP11
    mime_type = SOAP11.content_type


class AsmxSoap12(AsmxOutput, Soap12):
    soap_version = SOAP12
    mime_type = SOAP12.content_type


# libxml2 refuses a text node over 10,000,000 characters (or bytes of input) unless XML_PARSE_HUGE
# is set, and SendOrder carries the whole Authorised Order as one escaped text node: without this a
# legal order well under EPROC_MAX_REQUEST_BYTES was refused. XML_PARSE_HUGE also lifts the depth
# limit from 256 to 2048, so the envelope is parsed huge only when the text limit is what stopped
# it, and its depth is then checked here against the same 256. DTDs never get this far (the
# endpoint refuses them), entities stay unresolved and the network off, and the body is bounded
# by EPROC_MAX_REQUEST_BYTES before any parser sees it.
ENVELOPE_MAX_DEPTH = 256
_TEXT_LIMIT_MARKERS = ("Text node too long", "Buffer size limit exceeded")


def _deeper_than(root: Any, limit: int) -> bool:
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > limit:
            return True
    return False


class LargeTextInput:
    """Mixin for spyne's SOAP input protocols: envelopes whose one big text node is over libxml2's
    ordinary limit are parsed again with that limit lifted (and nothing else loosened)."""

    parser_kwargs: dict[str, Any]  # spyne's, from the protocol class this is mixed into

    def create_in_document(self, ctx: Any, charset: Any = None) -> None:
        ctx.in_string = list(ctx.in_string)  # a generator over the body in spyne: read it twice
        try:
            super().create_in_document(ctx, charset)  # type: ignore[misc]
        except Fault as fault:
            text = str(fault.faultstring)
            if not any(marker in text for marker in _TEXT_LIMIT_MARKERS):
                raise
            parser = etree.XMLParser(**{**self.parser_kwargs, "huge_tree": True})
            ctx.in_document = _parse_xml_string(ctx.in_string, parser, charset)
            if _deeper_than(ctx.in_document[0], ENVELOPE_MAX_DEPTH):
                raise Fault(
                    "Client.XMLSyntaxError",
                    f"Excessive depth in document: {ENVELOPE_MAX_DEPTH} levels of elements",
                ) from None


class EnvelopeSoap11(LargeTextInput, Soap11):
    pass


class EnvelopeSoap12(LargeTextInput, Soap12):
    pass


class EprocApplication(Application):
    def __init__(self, hub: Hub, index: IndexWriter, in_protocol: Any, out_protocol: Any) -> None:
        super().__init__(
            [OtsService], tns=SERVICE_NS, name="EprocService", in_protocol=in_protocol, out_protocol=out_protocol
        )
        self.hub = hub
        self.index = index

    def call_wrapper(self, ctx: Any) -> Any:
        try:
            # One connection and one transaction for the call's credential read and its operation.
            with self.hub.store.call():
                return super().call_wrapper(ctx)
        except Exception as exc:  # noqa: BLE001 - every error becomes a worded fault, never a trace
            raise map_error(exc, self.hub.settings.faults) from None


def build_applications(hub: Hub, index: IndexWriter) -> dict[str, EprocApplication]:
    """One spyne application per SOAP version: spyne gives an application one input protocol."""
    return {
        "1.1": EprocApplication(hub, index, EnvelopeSoap11(validator="lxml"), AsmxSoap11()),
        "1.2": EprocApplication(hub, index, EnvelopeSoap12(validator="lxml"), AsmxSoap12()),
    }
