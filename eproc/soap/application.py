"""spyne applications for SOAP 1.1 and 1.2, with ASMX-shaped output and explicit error mapping."""

from __future__ import annotations

import logging

from spyne import Application
from spyne.protocol.soap import Soap11, Soap12

from eproc.services.hub import Hub
from eproc.soap.envelope import SERVICE_NS, SOAP11, SOAP12, SoapVersion, fault_envelope, response_envelope
from eproc.soap.faults import map_error
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


class AsmxOutput:
    """Mixin for spyne's SOAP protocols: the response bytes come from :mod:`eproc.soap.envelope`."""

    soap_version: SoapVersion

    def serialize(self, ctx, message):  # type: ignore[no-untyped-def]
        self.event_manager.fire_event("before_serialize", ctx)
        if ctx.out_error is not None:
            fault = map_error(ctx.out_error, ctx.app.hub.settings.faults)
            ctx.out_error = fault
            ctx.out_document = fault_envelope(self.soap_version, fault.client_error, fault.message)
        else:
            result = ctx.out_object[0] if ctx.out_object else None
            ctx.out_document = response_envelope(self.soap_version, ctx.descriptor.name, result)
        self.event_manager.fire_event("after_serialize", ctx)

    def create_out_string(self, ctx, charset=None):  # type: ignore[no-untyped-def]
        ctx.out_string = [ctx.out_document]

    def fault_to_http_response_code(self, fault):  # type: ignore[no-untyped-def]
        return "500 Internal Server Error"


class AsmxSoap11(AsmxOutput, Soap11):
    soap_version = SOAP11
    mime_type = SOAP11.content_type


class AsmxSoap12(AsmxOutput, Soap12):
    soap_version = SOAP12
    mime_type = SOAP12.content_type


class EprocApplication(Application):
    def __init__(self, hub: Hub, in_protocol, out_protocol) -> None:  # type: ignore[no-untyped-def]
        super().__init__(
            [OtsService], tns=SERVICE_NS, name="EprocService", in_protocol=in_protocol, out_protocol=out_protocol
        )
        self.hub = hub

    def call_wrapper(self, ctx):  # type: ignore[no-untyped-def]
        try:
            return super().call_wrapper(ctx)
        except Exception as exc:  # noqa: BLE001 - every error becomes a worded fault, never a trace
            raise map_error(exc, self.hub.settings.faults) from None


def build_applications(hub: Hub) -> dict[str, EprocApplication]:
    """One spyne application per SOAP version: spyne gives an application one input protocol."""
    return {
        "1.1": EprocApplication(hub, Soap11(validator="lxml"), AsmxSoap11()),
        "1.2": EprocApplication(hub, Soap12(validator="lxml"), AsmxSoap12()),
    }
