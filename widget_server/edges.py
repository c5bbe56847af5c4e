"""What every request and every answer passes through, whatever the blueprint.

Requests: a path or query string that is not UTF-8, or carries a NUL, is refused with 400
before any view sees it. Werkzeug would decode it with replacement characters and let it
through; PostgreSQL refuses a NUL in text, so such a value would otherwise become a 500.

Answers: ``X-Content-Type-Options: nosniff`` on all of them; the server's own HTML (the demo
page) gets a Content-Security-Policy that allows only this server's scripts, styles, images
and connections; everything else (JSON, SVG, Atom, problems) gets one that allows nothing,
so a document opened straight from this server can never run anything.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, Response, request

from .problems import Problem

HTML_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
OTHER_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def refuse_garbled_request() -> None:
    """400 ``invalid-utf8`` or ``invalid-character`` for a path or query that cannot be text."""
    raw_path = request.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    for where, raw in (("path", raw_path), ("query", unquote_to_bytes(request.query_string))):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Problem(400, "invalid-utf8", f"The {where} is not valid UTF-8.") from None
        if "\x00" in text:
            raise Problem(400, "invalid-character", f"The {where} contains a NUL character.")


def security_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    policy = HTML_POLICY if response.mimetype == "text/html" else OTHER_POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    return response


def init_app(app: Flask) -> None:
    app.before_request(refuse_garbled_request)
    app.after_request(security_headers)
