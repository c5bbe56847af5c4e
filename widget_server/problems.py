"""One error shape for every machine-facing answer: RFC 9457 ``application/problem+json``."""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, has_request_context, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_TYPE = "https://sharebar.invalid/problems/"


class Problem(Exception):
    """Raise to answer the request with a problem document.

    ``code`` is a stable machine-readable reason (``unknown-service``), ``detail`` the
    human explanation, ``param`` the offending parameter or field when there is one.
    """

    def __init__(self, status: int, code: str, detail: str, param: str | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.param = status, code, detail, param


def problem_response(status: int, code: str, title: str, detail: str, param: str | None = None) -> Response:
    body = {"type": PROBLEM_TYPE + code, "title": title, "status": status, "detail": detail}
    if param:
        body["param"] = param
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if has_request_context():
        g.problem_code = code  # the reason counted in the metrics
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _from_problem(exc: Problem) -> Response:
    title = exc.code.replace("-", " ").capitalize()
    response = problem_response(exc.status, exc.code, title, exc.detail, exc.param)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "-")
    return problem_response(status, code, exc.name or "Error", exc.description or "")


def _from_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(500, "internal-error", "Internal error", "The server failed; nothing was stored.")


UNAVAILABLE_LOG_SECONDS = 60.0
_unavailable_logged: dict[str, float] = {}  # failure kind -> when last logged


def _database_error(exc: Exception) -> Response:
    """503 when the database is unavailable (down, restarting, busy); 500 for any other error."""
    from sqlalchemy.exc import DBAPIError

    from .writer import unavailable

    if isinstance(exc, DBAPIError) and not unavailable(exc):
        return _from_unexpected(exc)
    return _unavailable(exc)


def _unavailable(exc: Exception) -> Response:
    """The database failed or did not commit in time: 503, one log line per kind a minute."""
    cause = getattr(exc, "orig", None) or exc.__cause__ or exc
    kind = type(cause).__name__
    now = time.monotonic()
    if now - _unavailable_logged.get(kind, -UNAVAILABLE_LOG_SECONDS) >= UNAVAILABLE_LOG_SECONDS:
        _unavailable_logged[kind] = now
        log.error("database unavailable (%s: %s); answering 503 (logged once a minute)", kind,
                  str(cause).splitlines()[0][:200] if str(cause) else "")
    response = problem_response(503, "unavailable", "Unavailable",
                                "The server cannot store or read this now; try again shortly.")
    response.headers["Retry-After"] = "2"
    return response


def init_app(app: Flask) -> None:
    from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeout

    from .writer import Unavailable

    app.register_error_handler(Unavailable, _unavailable)
    app.register_error_handler(PoolTimeout, _unavailable)
    for failure in (OperationalError, InterfaceError):
        app.register_error_handler(failure, _database_error)
    app.register_error_handler(Problem, _from_problem)
    app.register_error_handler(HTTPException, _from_http)
    app.register_error_handler(Exception, _from_unexpected)
