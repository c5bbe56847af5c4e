"""The hot paths without Flask's request machinery: a beacon, a page's counts, a site's config.

Every page with the bar asks for ``/v1/config`` (or ``/v1/counts``), and every share posts
``/v1/events``. In a profile of a gunicorn worker under load, Flask's request context, URL
matching, seven hooks and Werkzeug's request and response objects cost as much as checking
and storing the beacon itself. This WSGI middleware, inside any ``ProxyFix``, answers the
well-formed requests of these three endpoints itself, with the functions the Flask views
use (``embed.store_beacon``, ``config_answer``, ``counts_answer``), the same headers, the
same closing log record (``logs.request_done``) and the same metrics (``metrics.count``).

Everything else goes to Flask, which answers as it always did: other paths and methods, a
query that is not plain UTF-8, a beacon without a length or over the limit, conditional
requests, and any request that met an exception here. That one is handed to the Flask view
in the environ (``embed.MET``), which raises it at once, so Flask's error handlers answer it
(problem document, ``Retry-After``, log record, metrics, the refusal noted for the owner)
without the work, or the beacon's write, being done twice.

The first such request goes to Flask as well, so that its hooks that run once per process
(the in-server aggregator's candidate thread) have started. Once per app is once per
process: gunicorn forks its workers before any request, and each of them (or the master,
with ``--preload``) makes the app before it serves.
"""
from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from werkzeug.datastructures import Accept
from werkzeug.http import HTTP_STATUS_CODES, http_date, parse_accept_header

from . import assets, edges, embed, logs, metrics

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE",
               "HTTP_IF_RANGE", "HTTP_RANGE")


def status_line(code: int) -> str:
    """As Werkzeug writes it: ``204 NO CONTENT``."""
    return f"{code} {HTTP_STATUS_CODES[code].upper()}"


def query_args(query: str) -> dict[str, str] | None:
    """The query's parameters, the first value of each as ``request.args.get`` gives it; None
    for a query Flask refuses (not UTF-8, a NUL) or decodes its own way."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    args: dict[str, str] = {}
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            return None
        args.setdefault(name, value)
    return args


class Lane:
    """The WSGI middleware; ``next`` is the app it wraps (Flask's ``wsgi_app``)."""

    def __init__(self, app: Flask, next_app: WSGIApp):
        self.app, self.next = app, next_app
        self._warm = False  # Flask has answered one of the lane's requests
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any], StartResponse], Iterable[bytes]]] = {
            ("POST", "/v1/events"): self.beacon,
            ("GET", "/v1/config"): lambda environ, start: self.page_view(
                environ, start, "embed.site_config", embed.config_answer),
            ("GET", "/v1/counts"): lambda environ, start: self.page_view(
                environ, start, "embed.page_counts", embed.counts_answer),
        }
        # What every answer here carries, as Flask's hooks set it (embed.open_cors, edges).
        self.common = [*embed.CORS.items(), ("X-Content-Type-Options", "nosniff"),
                       ("Content-Security-Policy", edges.OTHER_POLICY)]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        if route is None:
            return self.next(environ, start_response)
        if not self._warm:  # the first: Flask's once-per-process hooks
            self._warm = True
            return self.next(environ, start_response)
        return route(environ, start_response)

    def beacon(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        if environ.get("QUERY_STRING") or not length.isdigit() or int(length) > self.app.config["MAX_BEACON_BYTES"]:
            return self.next(environ, start_response)  # Flask refuses it, or reads it its own way
        started = time.perf_counter()
        body = environ["wsgi.input"].read(int(length))
        arrival = embed.Arrival(body, environ.get("CONTENT_TYPE"), environ.get("HTTP_ORIGIN"),
                                environ.get("REMOTE_ADDR") or "", environ.get("HTTP_USER_AGENT", ""))
        request_id = logs.begin_request(environ.get("HTTP_X_REQUEST_ID"))
        _, met = self._run(embed.store_beacon, arrival)
        if met is not None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self._to_flask(environ, start_response, met, request_id)
        start_response(status_line(204), [*self.common, (logs.HEADER, request_id)])
        self._done("POST", metrics.BEACON_ENDPOINT, 204, started)
        return []

    def page_view(self, environ: dict[str, Any], start_response: StartResponse, endpoint: str,
                  answer: Callable[[Mapping[str, str]], dict[str, Any]]) -> Iterable[bytes]:
        args = query_args(environ.get("QUERY_STRING", ""))
        if args is None or any(name in environ for name in CONDITIONAL):
            return self.next(environ, start_response)
        started = time.perf_counter()
        request_id = logs.begin_request(environ.get("HTTP_X_REQUEST_ID"))
        data, met = self._run(answer, args)
        if met is not None:
            return self._to_flask(environ, start_response, met, request_id)
        body = (self.app.json.dumps(data, separators=(",", ":")) + "\n").encode("utf-8")
        etag = hashlib.sha1(body).hexdigest()
        headers = [("Content-Type", "application/json"), ("Cache-Control", embed.PAGE_VIEW_CACHE),
                   ("Date", http_date())]
        if len(body) >= assets.MIN_COMPRESS and accepts_gzip(environ):
            body = assets.gzipped(body)
            headers += [("ETag", f'W/"{etag}"'), ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        else:
            headers.append(("ETag", f'"{etag}"'))
        headers += [("Content-Length", str(len(body))), *self.common, (logs.HEADER, request_id)]
        start_response(status_line(200), headers)
        self._done("GET", endpoint, 200, started)
        return [body]

    def _run(self, work: Callable[..., Any], *args: Any) -> tuple[Any, Exception | None]:
        """``work(*args)`` in the app's context: what it returned, or what it raised."""
        with self.app.app_context():
            try:
                return work(*args), None
            except Exception as exc:  # Flask's error handlers answer it: see _to_flask
                return None, exc

    def _to_flask(self, environ: dict[str, Any], start_response: StartResponse, met: Exception,
                  request_id: str) -> Iterable[bytes]:
        """Flask answers what the request met, under the id the lane's records carry."""
        environ[embed.MET] = met
        environ["HTTP_X_REQUEST_ID"] = request_id
        return self.next(environ, start_response)

    @staticmethod
    def _done(method: str, endpoint: str, status: int, started: float) -> None:
        metrics.count(endpoint, method, status, started)
        logs.request_done(method, endpoint, status, started)


def accepts_gzip(environ: Mapping[str, Any]) -> bool:
    return parse_accept_header(environ.get("HTTP_ACCEPT_ENCODING"), Accept).quality("gzip") > 0


def init_app(app: Flask) -> None:
    """Put the lane in front of Flask (inside any proxy fix, so addresses are the clients')."""
    app.wsgi_app = Lane(app, app.wsgi_app)  # type: ignore[method-assign]
