"""The gunicorn worker class that ``gunicorn.conf.py`` names for production.

It is gunicorn's gevent worker (why gevent: see ``gunicorn.conf.py``) with one change: the
errors gunicorn answers itself, before the app sees the request, take the app's error shape.
A request line over ``limit_request_line`` answers 414 and too many or too large header fields
answer 431, as ``application/problem+json`` with open CORS like every error of the embed
surface, so the widget's ``fetch`` can read them instead of meeting an opaque HTML page. Any
other malformed request keeps gunicorn's own answer. None of them logs the client's address.
"""
from __future__ import annotations

import atexit
import gc
import json
from typing import Any

from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.util import write_nonblock
from gunicorn.workers.ggevent import GeventWorker

from .problems import PROBLEM_TYPE

NO_ADDRESS = ("-", -1)  # what gunicorn's own error handling gets instead of the client's address


def answer_for(exc: BaseException, limit_request_line: int) -> tuple[int, str, str, str] | None:
    """``(status, reason, code, detail)`` for the parse errors answered as problems, else None."""
    if isinstance(exc, LimitRequestLine):
        detail = (f"The request line is longer than {limit_request_line} bytes; "
                  "a page URL may have up to 2,048 characters.")
        return 414, "URI Too Long", "uri-too-long", detail
    if isinstance(exc, LimitRequestHeaders):
        return 431, "Request Header Fields Too Large", "request-header-fields-too-large", \
            "The request's header fields are too many or too large."
    return None


def problem_message(status: int, reason: str, code: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response carrying the problem document; the connection closes."""
    body = json.dumps({"type": PROBLEM_TYPE + code, "title": reason, "status": status,
                       "detail": detail}).encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Access-Control-Allow-Origin: *\r\n"
        "Cross-Origin-Resource-Policy: cross-origin\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class Worker(GeventWorker):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's gevent worker, answering request-line and header limits as problem+json."""

    def load_wsgi(self) -> None:
        """Load the app, then compile the crawler patterns, read the brand marks and build the
        files every page fetches before the first request rather than during it (the first
        beacon, config and script of each worker waited for them: the marks and the minifier
        each take a child process, see ``marks`` and ``assets``), then take what is
        loaded out of the garbage collector's reach: its full collections walked the app's
        100,000-odd objects (modules, patterns, tables), which live as long as the worker, for
        tens of milliseconds during which none of the worker's requests moved."""
        super().load_wsgi()
        from . import assets, platforms, visitors  # here, in the patched worker, like the app's own imports

        visitors.warm()
        for lang in (None, *range(len(assets.LANGS))):
            platforms.registry(lang)
        for name in assets.FIRST_LOAD:
            assets.build(name)
        gc.collect()
        gc.freeze()
        # Given back at exit, before the interpreter's last collection: objects left frozen
        # would be freed only as modules are torn down, after gevent's, and a logging
        # handler's weak reference callback then failed with a traceback in the log.
        atexit.register(gc.unfreeze)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        answer = answer_for(exc, self.cfg.limit_request_line)
        if answer is None:
            super().handle_error(req, client, NO_ADDRESS, exc)
            return
        self.log.warning("Refused with %d: %s", answer[0], exc)
        try:
            write_nonblock(client, problem_message(*answer))
        except OSError:
            self.log.debug("Failed to send error message.")
