"""Mapping every error to the fault FMS understands: one template each, words from configuration.

The .NET client tells exceptions apart by the faultstring alone, so the text is the contract.
Internal errors never carry a trace, SQL or a path: only a correlation id that is also logged.
"""

from __future__ import annotations

import logging
import re

from spyne import Fault

from eproc import logs
from eproc.config import FaultMessages
from eproc.services.errors import AuthenticationFailed, DocumentNotFound, InvalidDocument

log = logging.getLogger("eproc.soap")


class InvalidRequest(Exception):
    """The request itself is malformed (not the document inside it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappedFault(Fault):
    """A fault whose wording is already final; the envelope writer only frames it."""

    def __init__(self, client_error: bool, message: str) -> None:
        super().__init__(faultcode="Client" if client_error else "Server", faultstring=message, detail="")
        self.client_error = client_error
        self.message = message


# A real DocID has at most 100 characters; a longer one is echoed shortened, so that a fault is
# never an amplifier for whatever a caller sends.
SHOWN_DOC_ID_LENGTH = 100


def _shown_doc_id(doc_id: str) -> str:
    if len(doc_id) <= SHOWN_DOC_ID_LENGTH:
        return doc_id
    return f"{doc_id[:SHOWN_DOC_ID_LENGTH]}... ({len(doc_id)} characters)"


def _one_line(reason: str) -> str:
    """FMS shows the faultstring in a message box: libxml2's line breaks become spaces."""
    return re.sub(r"\s*[\r\n]+\s*", " ", reason).strip()


def map_error(exc: BaseException, messages: FaultMessages) -> MappedFault:
    """The fault for an exception raised while handling a call (and the call's outcome, for its
    log line and the metrics)."""
    if isinstance(exc, MappedFault):
        return exc
    if isinstance(exc, AuthenticationFailed):
        logs.note(outcome="auth_failed")
        return MappedFault(True, messages.authentication)
    if isinstance(exc, DocumentNotFound):
        logs.note(outcome="not_found")
        return MappedFault(True, messages.document_not_exist.format(doc_id=_shown_doc_id(exc.doc_id)))
    if isinstance(exc, InvalidDocument):
        logs.note(outcome="invalid_document")
        return MappedFault(True, messages.invalid_xml.format(reason=_one_line(exc.reason)))
    if isinstance(exc, InvalidRequest):
        logs.note(outcome="invalid_request")
        return MappedFault(True, messages.invalid_request.format(reason=_one_line(exc.reason)))
    if isinstance(exc, Fault):
        return _map_spyne_fault(exc, messages)
    # The request's correlation id (X-Request-Id), logged with the request's one line.
    correlation_id = logs.internal_error(log, exc)
    return MappedFault(False, messages.internal.format(correlation_id=correlation_id))


# libxml2 via spyne: "<string>:1:0:ERROR:SCHEMASV:SCHEMAV_CVC_DATATYPE_VALID_1_2_1: Element '{ns}X': ..."
_LIBXML_PREFIX = re.compile(r"^.*?:\d+:\d+:ERROR:[A-Z]+:[A-Z0-9_]+:\s*")
_CLARK_NAME = re.compile(r"\{[^}]*\}")
_SPYNE_CLIENT_REASONS = {
    "Client.ResourceNotFound": "the SOAP body names no operation of this service",
    "Client.SoapError": "the request is not a SOAP envelope",
}


def _map_spyne_fault(fault: Fault, messages: FaultMessages) -> MappedFault:
    code = str(fault.faultcode or "")
    if not code.startswith("Client"):
        correlation_id = logs.internal_error(log, fault, what=f"framework fault {code}")
        return MappedFault(False, messages.internal.format(correlation_id=correlation_id))
    logs.note(outcome="invalid_request")
    reason = _SPYNE_CLIENT_REASONS.get(code) or readable_reason(str(fault.faultstring or code))
    if "XmlSyntaxError" in code or "XMLSyntaxError" in code:
        reason = f"the request is not well-formed XML: {reason}"
    return MappedFault(True, messages.invalid_request.format(reason=reason))


def readable_reason(text: str) -> str:
    """libxml2's schema message without its positional prefix and Clark-notation namespaces."""
    text = _LIBXML_PREFIX.sub("", text.strip().splitlines()[0] if text.strip() else text)
    text = _CLARK_NAME.sub("", text)
    text = re.sub(r"\s*\(<string>, line \d+\)$", "", text.strip()).rstrip('"').strip()
    return text or "the request is malformed"
