"""The unit of work: one session and the repositories over it; it commits only when told.

Leaving the ``with`` block without :meth:`UnitOfWork.commit` rolls everything back, so a use case
that raises half-way leaves nothing behind; the objects it read stay readable after the block.
The database's refusals of a duplicate key become the domain's
:class:`~eproc.services.errors.Conflict`, so the use cases need not know SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eproc.services.errors import Conflict
from eproc.store.repositories import (
    AccountRepository,
    AddressFailureRepository,
    DocumentRepository,
    EventRepository,
    FamiliarAddressRepository,
    LoginBucketRepository,
    OrderRepository,
    SigningKeyRepository,
    TokenRepository,
)
from eproc.store.webhooks import WebhookRepository


@dataclass
class CallSession:
    """The one session of an FMS call (``Store.call``); ``busy`` while a unit of work holds it."""

    session: Session
    busy: bool = False


class UnitOfWork:
    accounts: AccountRepository
    documents: DocumentRepository
    orders: OrderRepository
    events: EventRepository
    tokens: TokenRepository
    signing_keys: SigningKeyRepository
    webhooks: WebhookRepository
    familiar_addresses: FamiliarAddressRepository
    login_buckets: LoginBucketRepository
    address_failures: AddressFailureRepository

    def __init__(self, sessions: sessionmaker[Session], shared: CallSession | None = None) -> None:
        self._sessions = sessions
        # The session of the FMS call this unit of work runs in (Store.call), if any: it is the
        # call's to close, so that the credential read and the operation use one connection. A unit
        # of work opened while another holds it (nested) gets a session of its own, as outside a call.
        self._call = shared
        self._shared: Session | None = None
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []

    def __enter__(self) -> UnitOfWork:
        if self._call is not None and not self._call.busy:
            self._call.busy = True
            self._shared = self._call.session
        session = self._shared if self._shared is not None else self._sessions()
        self._session = session
        self.accounts = AccountRepository(session)
        self.documents = DocumentRepository(session)
        self.orders = OrderRepository(session)
        self.events = EventRepository(session)
        self.tokens = TokenRepository(session)
        self.signing_keys = SigningKeyRepository(session)
        self.webhooks = WebhookRepository(session)
        self.familiar_addresses = FamiliarAddressRepository(session)
        self.login_buckets = LoginBucketRepository(session)
        self.address_failures = AddressFailureRepository(session)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        session = self._require()
        try:
            if error is not None:
                session.rollback()
        finally:
            self._session = None
            # A shared session is the call's to close (rolling back what no unit of work committed).
            # close() ends the transaction (rolling back whatever was not committed) and detaches
            # the objects with what they had loaded, so a use case may still read them afterwards;
            # a rollback would expire them.
            if self._shared is None:
                session.close()
            else:
                # Detached as close() would: the next unit of work of the call reads afresh.
                session.expunge_all()
                assert self._call is not None
                self._call.busy = False
                self._shared = None
            self._after_commit = []
        if isinstance(error, IntegrityError):
            # A flush inside a repository call hit a unique key: say so in the domain's words.
            raise Conflict("a concurrent change took the same key first") from None

    def commit(self) -> None:
        try:
            self._require().commit()
        except IntegrityError:
            raise Conflict("a concurrent change took the same key first") from None
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what has been done so far is committed (never if it is rolled
        back): the metrics count only changes that happened."""
        self._after_commit.append(callback)

    def _require(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'with' block")
        return self._session
