"""The one error vocabulary of the use cases; each door (SOAP, CLI, HTTP) words them with one table.

A use case raises the error that says what went wrong in the domain's terms; it never knows which
door the call came through. The store raises :class:`Conflict` for what the database refused
(a unique key taken by a concurrent writer), so that no use case needs to know SQL's exceptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the report is the document standard's; only its type is needed here
    from eproc.ebis.report import ValidationReport


class EprocError(Exception):
    """Base of every error a caller can cause."""


class InvalidInput(EprocError):
    """An argument is malformed (a username with spaces, a DUNS of 8 digits, an unknown type)."""


class NotFound(EprocError):
    """The thing named does not exist (or is not the caller's to see)."""


class AlreadyExists(EprocError):
    """The thing to be created exists already (an account of that name)."""


class Conflict(EprocError):
    """The request contradicts the current state (a concurrent writer took the same key first)."""


class DuplicateDocument(Conflict):
    """Another document with the same number is already pending for the account (``doc_id``)."""

    def __init__(self, message: str, doc_id: str) -> None:
        super().__init__(message)
        self.doc_id = doc_id


class DatabaseUnavailable(EprocError):
    """The database cannot be reached or opened (server down, wrong host, login refused)."""


class SchemaNotReady(EprocError):
    """The database is reachable but not at the schema this code needs: 'eproc db upgrade' fixes it."""


class StorageRefused(EprocError):
    """The database is reachable and migrated but refused the work: read-only, full, locked."""


class AuthenticationFailed(EprocError):
    """Unknown user, wrong password, disabled or locked account: deliberately indistinguishable."""


class CredentialsChanged(EprocError):
    """The account's credentials are no longer those a remembered login was verified against (or
    the login was never checked against the account): authenticate afresh, then try again. Never
    an answer to a caller: the SOAP layer handles it (eproc/soap/service.py)."""


class DocumentNotFound(NotFound):
    """An FMS call named a DocID that is unknown, expired, or another account's: all read alike."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"document {doc_id!r} does not exist")
        self.doc_id = doc_id


class InvalidDocument(EprocError):
    """The XML is not something eproc accepts; ``reason`` names the first problem and where.

    ``report`` is the whole validation report when the document got as far as being checked.
    """

    def __init__(self, reason: str, report: ValidationReport | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.report = report


class NoMatchingAccount(InvalidDocument):
    """The DUNS handshake found no account for a document's buyer and supplier DUNS."""
