"""schemathesis against ``/api/openapi.json``: every operation, with a partner token that may
do everything on a registered site, gets generated valid and invalid input and must answer
without a 5xx, with a status, content type, headers and body its description allows, and
refuse (4xx) what the description says is invalid.

Bounded for CI: a fixed number of examples per operation, derandomized (the same cases on
every run), no deadline (a loaded machine is not a failure).
"""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, negative_data_rejection, not_a_server_error,
                                 response_headers_conformance, response_schema_conformance,
                                 status_code_conformance)

from conftest import Registered, issue_token, register
from widget_server import openapi, sites, tokens

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]


@pytest.fixture
def fuzzed(app: Flask) -> tuple[Flask, Registered, str]:
    """The app with one site that publishes everything, and a token with every scope."""
    site = register(app)
    with app.app_context():
        sites.update_settings(site.id, {"public_leaderboard": True, "public_activity": True})
    return app, site, issue_token(app, [site.id], tuple(tokens.SCOPES))[1]


# The document the server serves at /api/openapi.json (tests/test_openapi.py checks they are one).
schema = schemathesis.openapi.from_dict(openapi.document())


def aim_at_the_site(case: Any, site: Registered) -> None:
    """Point well-formed site ids and keys at the registered site, so that generated calls
    get past "no such site" to the code behind it."""
    query = case.query if isinstance(case.query, dict) else {}
    if isinstance(query.get("site_id"), str) and query["site_id"].isdigit():
        query["site_id"] = str(site.id)
    if "site" in query and isinstance(query["site"], str):
        query["site"] = site.key
    if isinstance(case.body, dict) and isinstance(case.body.get("site"), str):
        case.body["site"] = site.key


@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_description(case: Any, fuzzed: tuple[Flask, Registered, str]) -> None:
    app, site, token = fuzzed
    aim_at_the_site(case, site)
    # identity: WSGI calls get the body as sent, and schemathesis does not unzip it
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
