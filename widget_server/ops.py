"""Operator endpoints.

    GET /healthz   alive          the process answers
    GET /readyz    ready          the database answers too
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def alive() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def ready() -> Response | tuple[Response, int]:
    try:
        with db.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
