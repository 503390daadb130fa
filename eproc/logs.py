"""eproc's log lines: one format for every process (time, level, process), JSON lines on request,
a correlation id per request, and internal errors told once.

The entry points (``eproc`` commands, ``eproc serve``'s gunicorn, ``wsgi.py``) call
:func:`configure`; nothing below them installs handlers. What a request is doing (its correlation
id, operation, account, outcome) lives in a :class:`RequestContext` that the WSGI application
opens per request; every line logged while it is open carries it.

Never logged: passwords (an AuthHeader, a token) and document bodies. Only the fields named here
reach a line, and exception text is cut to its first line (SQLAlchemy appends statements there).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

# An incoming X-Request-Id is adopted only when it cannot smuggle anything into a log line or a
# fault text: short, and of characters that need no escaping anywhere.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# How many distinct errors a process remembers having shown the traceback of; past this a new
# kind of error is still logged, in one line, with a note.
MAX_REMEMBERED_ERRORS = 1000
SHOWN_MESSAGE_LENGTH = 300


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


def safe_request_id(incoming: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is safe to echo and log, else a new id."""
    if incoming and _SAFE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_correlation_id()


@dataclass
class RequestContext:
    """What one request is: filled in as it goes (the SOAP layer names the operation, the login
    the account), read by the request's log line and its metrics."""

    correlation_id: str
    interface: str = "other"
    operation: str = "-"
    account: str | None = None
    outcome: str | None = None
    # An internal error, kept for the request's one log line instead of a line of its own.
    error: BaseException | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("eproc_request", default=None)


def begin_request(correlation_id: str) -> RequestContext:
    context = RequestContext(correlation_id)
    _current.set(context)
    return context


def end_request() -> None:
    # Set, not reset with a token: a server may close the response from another context than the
    # one that called the application, and a token cannot be used there.
    _current.set(None)


def current() -> RequestContext | None:
    return _current.get()


def correlation_id() -> str:
    """The current request's correlation id, or a fresh one outside a request."""
    context = _current.get()
    return context.correlation_id if context is not None else new_correlation_id()


def note(*, operation: str | None = None, account: str | None = None, outcome: str | None = None) -> None:
    """Record what the current request is doing (nothing outside a request)."""
    context = _current.get()
    if context is None:
        return
    if operation is not None:
        context.operation = operation
    if account is not None:
        context.account = account
    if outcome is not None:
        context.outcome = outcome


# --- internal errors: one line per request, the traceback once per distinct error ---------------

_shown_errors: set[tuple[str, str, int]] = set()
_shown_lock = threading.Lock()


def error_key(error: BaseException) -> tuple[str, str, int]:
    """An error's kind: its type and where it was raised (the innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1] if frames else None
    kind = f"{type(error).__module__}.{type(error).__qualname__}"
    return kind, where.filename if where else "?", (where.lineno or 0) if where else 0


def first_time(error: BaseException) -> bool:
    """True the first time this process sees this kind of error (so its traceback is worth a log)."""
    key = error_key(error)
    with _shown_lock:
        if key in _shown_errors or len(_shown_errors) >= MAX_REMEMBERED_ERRORS:
            return False
        _shown_errors.add(key)
        return True


def describe(error: BaseException) -> str:
    """``TypeName: first line of the message``, bounded."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(text) > SHOWN_MESSAGE_LENGTH:
        text = text[:SHOWN_MESSAGE_LENGTH] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def internal_error(logger: logging.Logger, error: BaseException, what: str = "internal error") -> str:
    """Report an unexpected error; the correlation id to quote in the answer.

    Inside a request the error is kept for the request's own log line (one line per failing
    request); outside one it is logged now. Either way the traceback is shown the first time this
    process meets that kind of error only, so a database outage is not 8 KB per request.
    """
    context = _current.get()
    if context is not None:
        context.error = error
        context.outcome = "server_error"
        return context.correlation_id
    cid = new_correlation_id()
    log_error_once(logger, f"{what} [correlation id {cid}]", error, {"correlation_id": cid})
    return cid


def log_error_once(logger: logging.Logger, message: str, error: BaseException, fields: dict[str, Any]) -> None:
    shown = first_time(error)
    suffix = "" if shown else " (traceback logged earlier for this kind of error)"
    logger.error(
        "%s: %s%s", message, describe(error), suffix,
        exc_info=(type(error), error, error.__traceback__) if shown else None,
        extra={"eproc": fields},
    )


# --- formatting -----------------------------------------------------------------------------------

# The context fields a line may carry, in the order they are shown.
CONTEXT_FIELDS = ("correlation_id", "operation", "account", "outcome", "duration")


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None)
    # isoformat, not strftime (the same text; strftime costs ~0.15 ms a line once caches are cold).
    return moment.isoformat(timespec="milliseconds") + "Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context: the request it belongs to, overlaid by what the call site gave."""
    fields: dict[str, Any] = {}
    context = _current.get()
    if context is not None:
        fields["correlation_id"] = context.correlation_id
        if context.operation != "-":
            fields["operation"] = context.operation
        if context.account:
            fields["account"] = context.account
    given = getattr(record, "eproc", None)
    if isinstance(given, dict):
        fields.update({key: value for key, value in given.items() if value is not None})
    return fields


def _traceback_text(exc_info: Any) -> str:
    lines = traceback.format_exception(*exc_info)
    # SQLAlchemy puts bound parameters on a line of their own; eproc's engines hide them, and this
    # keeps any other engine's out of the log too.
    return "".join(line for line in lines if not line.lstrip().startswith("[parameters:")).rstrip()


class PlainFormatter(logging.Formatter):
    """``2026-12-02T15:04:05.123Z INFO [4711] eproc.access: message [id=... op=...]``"""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        shown = " ".join(f"{_short(key)}={fields[key]}" for key in CONTEXT_FIELDS if key in fields)
        line = f"{_timestamp(record)} {record.levelname} [{record.process}] {record.name}: {record.getMessage()}"
        if shown:
            line += f" [{shown}]"
        if record.exc_info:
            line += "\n" + _traceback_text(record.exc_info)
        return line


def _short(key: str) -> str:
    return {"correlation_id": "id", "operation": "op"}.get(key, key)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, process, logger, message and the context fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "process": record.process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["traceback"] = _traceback_text(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else PlainFormatter()


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when the line is written (click's test runner and
    gunicorn both replace it), so a handler installed once never writes to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


_configured: dict[str, str] = {}


def configure(log_format: str = "plain", level: str = "info") -> None:
    """Install eproc's one handler on the root logger (replacing an earlier one of eproc's): every
    library's warnings in the same format, eproc's own lines from ``level`` up."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StderrHandler):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    logging.getLogger("eproc").setLevel(level.upper())
    _configured.update(format=log_format, level=level)


def configured_format() -> str:
    """The format :func:`configure` was last given ('plain' before it is called)."""
    return _configured.get("format", "plain")
