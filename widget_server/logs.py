"""Logs: one line per record on stderr, JSON or text, each tagged with its request's id.

``WIDGET_LOG_FORMAT`` chooses: ``json`` (one object per line, for log collectors), ``text``
(for a person at a terminal), or ``auto`` (the default: text when stderr is a terminal, as
with ``widget-server run`` or ``demo`` in a shell; JSON otherwise, as under gunicorn started by
a process manager or a container runtime).

Every request gets an id: the incoming ``X-Request-ID`` when it is short and made of safe
characters (a proxy's id then ties both logs together), else a new random one. It is answered
in the ``X-Request-ID`` header and set on every log record made during the request, whatever
the logger, as ``request_id``.

What is logged never includes a client's address, user agent, query string or token: records
name the endpoint, not the path with its parameters.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "taskName"}
log = logging.getLogger("widget_server.requests")
# The id of the request being answered: a context variable rather than Flask's ``g``, because
# the hot paths (``lane.py``) answer without a Flask request context; under gevent each
# greenlet has its own value.
_request_id: ContextVar[str | None] = ContextVar("sharebar_request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The incoming id when it is sane, else a new random one (32 hex digits; 128 random bits,
    without ``uuid4``'s object, made for every beacon)."""
    if header and SANE_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def current_request_id() -> str | None:
    return _request_id.get()


def begin_request(header: str | None) -> str:
    """The request's id (see :func:`request_id_from`), set for the records logged until the
    next request of this thread or greenlet begins."""
    request_id = request_id_from(header)
    _request_id.set(request_id)
    return request_id


def request_done(method: str, endpoint: str, status: int, started: float | None) -> None:
    """The one record that ends each request (``started``: its ``perf_counter``); records
    logged after it have no request id.

    It is made for every beacon. Through ``logging`` (a record, the handlers' lock, the
    formatter's encoder) it cost a beacon 40 µs of CPU in a gevent worker under load, a fifth
    of the beacon's own work. So when the only place it would go is Sharebar's own JSON
    handler, the line is written there directly (``direct_handler``), the same line the
    formatter would write; else it is logged as any record, for whatever handler or filter
    was added (a test's capture, an embedding app's).
    """
    elapsed = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    if log.isEnabledFor(logging.INFO) and not _written_directly(method, endpoint, status, elapsed):
        # Made as ``log.info`` would, but without looking up the caller's file and line in the
        # stack: no format of Sharebar's shows them.
        log.handle(log.makeRecord(log.name, logging.INFO, "(unknown file)", 0, "%s %s %s", (method, endpoint, status),
                                  None, extra={"method": method, "endpoint": endpoint, "status": status,
                                               "duration_ms": elapsed}))
    _request_id.set(None)


def _written_directly(method: str, endpoint: str, status: int, elapsed: float | None) -> bool:
    """Write the request record's JSON line straight to Sharebar's handler, when it is the
    only place the record would go; False when it is not, or the write failed (then the
    record goes through ``logging``, whose handler reports the failure its own way)."""
    handler = direct_handler()
    if handler is None:
        return False
    message, fields = _done_fields(method, endpoint, status)
    line = "".join((_time_field(time.time()), message, _request_id_field(_request_id.get()), fields,
                    "null" if elapsed is None else repr(elapsed), "}\n"))
    try:
        with handler.lock:  # type: ignore[union-attr]  # made by the handler's __init__
            handler.stream = sys.stderr
            handler.stream.write(line)
            handler.stream.flush()
    except Exception:  # noqa: BLE001  # a closed or broken stream: logging's own handling
        return False
    return True


def direct_handler() -> StderrHandler | None:
    """Sharebar's JSON handler when it is the only one a request record would reach, with no
    filter on the way and no level above INFO; else None."""
    root = logging.root
    if len(root.handlers) != 1 or root.filters:
        return None
    handler = root.handlers[0]
    if not isinstance(handler, StderrHandler) or type(handler.formatter) is not JSONFormatter or handler.filters \
            or handler.level > logging.INFO:
        return None
    node: logging.Logger | None = log
    while node is not None and node is not root:
        if node.handlers or node.filters or not node.propagate:
            return None
        node = node.parent
    return handler


@lru_cache(maxsize=4)
def _time_prefix(second: int) -> str:
    """``{"time": "2026-11-30T04:13:38`` for a whole second, as JSONFormatter writes it."""
    return '{"time": "' + datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _time_field(now: float) -> str:
    """The record's fields from its time (to the millisecond, as ``JSONFormatter``'s) to its logger."""
    second = int(now)
    return f'{_time_prefix(second)}.{int((now - second) * 1000):03d}+00:00", "level": "info", ' \
           '"logger": "widget_server.requests", '


def _request_id_field(request_id: str | None) -> str:
    return "" if not request_id else f'"request_id": "{request_id}", '  # SANE_ID: nothing to escape


@lru_cache(maxsize=256)
def _done_fields(method: str, endpoint: str, status: int) -> tuple[str, str]:
    """The record's message field, and its fields from ``method`` to ``"duration_ms": ``: the
    same for every request of a method, endpoint and status."""
    message, method_, endpoint_ = (_ENCODER.encode(text) for text in (f"{method} {endpoint} {status}", method, endpoint))
    return f'"message": {message}, ', \
        f'"method": {method_}, "endpoint": {endpoint_}, "status": {int(status)}, "duration_ms": '


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # made once: ``json.dumps`` with options makes one a call


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line; a traceback goes in ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners and click swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def chosen_format(setting: object, stderr_is_tty: bool) -> str:
    """``json`` or ``text`` for the ``LOG_FORMAT`` setting (checked by ``settings``)."""
    value = str(setting or "auto").strip().lower()
    if value == "auto":
        return "text" if stderr_is_tty else "json"
    return value


def install_record_factory() -> None:
    """Give every log record a ``request_id`` attribute (None outside a request); once."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "adds_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    factory.adds_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message``, ``-`` for records outside a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record = logging.makeLogRecord({**vars(record), "request_id": "-"})  # other handlers see None
        return super().format(record)


def configure(fmt: str) -> None:
    """Send records to stderr in ``fmt``, replacing an earlier setup: Sharebar's from INFO up,
    other libraries' at their own level (WARNING unless they say otherwise).

    The handler sits on the root logger so that a library's warning is a JSON line too;
    gunicorn's own loggers do not propagate there, and keep their own format.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    logging.getLogger("widget_server").setLevel(logging.INFO)


def _assign_id() -> None:
    g.request_id = begin_request(request.headers.get(HEADER))
    g.log_started = time.perf_counter()


def _answer_id(response: Response) -> Response:
    response.headers[HEADER] = g.get("request_id") or begin_request(None)
    request_done(request.method, request.endpoint or "unmatched", response.status_code, g.get("log_started"))
    return response


def init_app(app: Flask) -> None:
    install_record_factory()
    configure(chosen_format(app.config["LOG_FORMAT"], sys.stderr.isatty()))
    app.before_request(_assign_id)
    app.after_request(_answer_id)
