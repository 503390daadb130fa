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
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from eproc.services.errors import Conflict, CredentialsChanged
from eproc.store.repositories import (
    AccountRepository,
    AddressFailureRepository,
    DocumentRepository,
    EventRepository,
    FamiliarAddressRepository,
    LoginBucketRepository,
    LoginChanged,
    OrderRepository,
    SigningKeyRepository,
    TokenRepository,
)
from eproc.store.webhooks import WebhookRepository


@dataclass
class CallSession:
    """The one connection of an FMS or API call (``Store.call``), checked out at its first use.

    ``busy`` while a unit of work holds it. On PostgreSQL a read or a one-statement unit of work
    runs on it in autocommit mode: one round trip for the statement, none for BEGIN and COMMIT.
    Under READ COMMITTED (the default) every statement of a transaction takes its own snapshot
    anyway, so a read in a transaction of its own sees what it would have seen as the first
    statement of the operation's; what needs several statements to be atomic still gets a
    transaction. SQLite's driver opens a transaction only before a write, so there the connection
    is simply shared.
    """

    engine: Engine
    connection: Connection | None = None
    busy: bool = False
    autocommit: bool = False

    @property
    def can_autocommit(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def used(self) -> bool:
        return self.connection is not None

    def connect(self, *, autocommit: bool) -> Connection:
        """The call's connection, in autocommit mode or not.

        The mode is psycopg's own switch, set between transactions, where it costs no round trip;
        not SQLAlchemy's isolation-level option, whose switch and reset at check-in cost more CPU
        per call than the statement they saved (the pool's rollback at check-in is a no-op for
        an idle connection either way). The switch is read from the driver each time, so a
        connection SQLAlchemy replaced after a disconnect starts in the default mode again."""
        if self.connection is None:
            self.connection = self.engine.connect()
        if self.can_autocommit:
            driver = self.connection.connection.driver_connection
            if driver is not None and driver.autocommit != autocommit:
                driver.autocommit = autocommit
        self.autocommit = autocommit and self.can_autocommit
        return self.connection

    def close(self) -> None:
        # Given back to the pool, which turns autocommit off again (eproc/store/db.py), whatever
        # state a failure left the connection in.
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


R = TypeVar("R")
T = TypeVar("T")


class _Repository(Generic[R]):
    """A repository of the unit of work, made on its first use in the ``with`` block: an FMS call
    uses one or two of the ten, and making all of them cost more than its statement's binding."""

    def __init__(self, make: Callable[[Session], R]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, uow: UnitOfWork, owner: Any = None) -> R:
        made = uow._repositories
        repository = made.get(self._name)
        if repository is None:
            repository = made[self._name] = self._make(uow._require())
        return repository  # type: ignore[return-value]  # made by self._make, so an R


class UnitOfWork:
    accounts = _Repository(AccountRepository)
    documents = _Repository(DocumentRepository)
    orders = _Repository(OrderRepository)
    events = _Repository(EventRepository)
    tokens = _Repository(TokenRepository)
    signing_keys = _Repository(SigningKeyRepository)
    webhooks = _Repository(WebhookRepository)
    familiar_addresses = _Repository(FamiliarAddressRepository)
    login_buckets = _Repository(LoginBucketRepository)
    address_failures = _Repository(AddressFailureRepository)

    def __init__(
        self, sessions: sessionmaker[Session], shared: CallSession | None = None, *, one_statement: bool = False
    ) -> None:
        self._sessions = sessions
        # The connection of the call this unit of work runs in (Store.call), if any: it is the
        # call's to close, so that the credential read and the operation use one connection. A unit
        # of work opened while another holds it (nested) gets a session of its own, as outside a call.
        self._call = shared
        self._one_statement = one_statement
        self._shared: Session | None = None
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._repositories: dict[str, object] = {}
        # Whether this unit of work is the first user of the call's connection (see once_more_if_dropped).
        self._first_on_connection = False
        #: Whether each statement commits by itself (PostgreSQL, in a call, asked for
        #: ``one_statement``): the use case must then change what it changes in one statement.
        self.autocommit = False

    def __enter__(self) -> UnitOfWork:
        if self._call is not None and not self._call.busy:
            self._call.busy = True
            self._first_on_connection = not self._call.used
            connection = self._call.connect(autocommit=self._one_statement)
            self.autocommit = self._call.autocommit
            # The session takes over the transaction SQLAlchemy began for a read made on the
            # connection before it (the credential read), so that read needs no COMMIT of its own.
            self._shared = Session(bind=connection, expire_on_commit=False, join_transaction_mode="control_fully")
        self._session = self._shared if self._shared is not None else self._sessions()
        self._repositories = {}
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
            # close() ends the transaction (rolling back whatever was not committed) and detaches
            # the objects with what they had loaded, so a use case may still read them afterwards;
            # a rollback would expire them. A session over the call's connection leaves the
            # connection open: it is the call's to give back.
            session.close()
            if self._shared is not None:
                assert self._call is not None
                self._call.busy = False
                self._shared = None
            self._after_commit = []
        if isinstance(error, IntegrityError):
            # A flush inside a repository call hit a unique key: say so in the domain's words.
            raise Conflict("a concurrent change took the same key first") from None
        if isinstance(error, LoginChanged):
            # A statement that checks the caller's login found the account changed: the caller
            # authenticates afresh (eproc/soap/service.py).
            raise CredentialsChanged() from None

    def once_more_if_dropped(self, statement: Callable[[], T]) -> T:
        """Run the unit of work's one statement; if it was the first sent on the call's connection
        and that connection turns out to have been dropped (a database restart, an administrator's
        kill), run it once more on a fresh one, as the credential read is (Store.credential_state).
        The statement failed with its connection, so it was not applied; or, if the connection
        broke after the server had committed it, it is applied again, as FMS's own retry of the
        failed call would apply it."""
        try:
            return statement()
        except DBAPIError as error:
            if not (self._first_on_connection and error.connection_invalidated and self._call is not None):
                raise
            self._first_on_connection = False
            self._require().rollback()
            self._call.connect(autocommit=self.autocommit)  # the new connection starts in the default mode
            return statement()

    def commit(self) -> None:
        session = self._require()
        if self.autocommit and not (session.new or session.dirty or session.deleted):
            # Each statement has committed itself: a COMMIT would change nothing (the ORM's
            # commit machinery cost 0.1 ms a call). Objects added to the session would still be
            # flushed, so none is lost.
            self._run_after_commit()
            return
        try:
            session.commit()
        except IntegrityError:
            raise Conflict("a concurrent change took the same key first") from None
        self._run_after_commit()

    def _run_after_commit(self) -> None:
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
