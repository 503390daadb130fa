"""Errors a use case reports to its caller; each door (SOAP, CLI) words them for its audience."""

from __future__ import annotations


class EprocError(Exception):
    """Base of every error a caller can cause."""


class AuthenticationFailed(EprocError):
    """Unknown user, wrong password, disabled or locked account: deliberately indistinguishable."""


class DocumentNotFound(EprocError):
    def __init__(self, doc_id: str) -> None:
        super().__init__(f"document {doc_id!r} does not exist")
        self.doc_id = doc_id


class InvalidDocument(EprocError):
    """The XML is not something eproc accepts; ``reason`` names the first problem and where."""

    def __init__(self, reason: str, report: object | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.report = report


class AccountError(EprocError):
    """An admin asked for something about accounts that cannot be done (unknown, duplicate, bad DUNS)."""


class NoMatchingAccount(InvalidDocument):
    """The DUNS handshake found no account for a document's buyer and supplier DUNS."""
