"""The OpenAPI 3.1 description of every endpoint, served at ``/api/openapi.json``.

Built from the same constants the code checks against (services, metrics, periods,
properties, scopes), so the document cannot drift from them; ``tests/test_openapi.py``
checks it against the routes and real answers.
"""
from __future__ import annotations

from typing import Any

from . import platforms, query, stats, tokens

JSON = "application/json"
PROBLEM = "application/problem+json"
Schema = dict[str, Any]


def ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def problem(description: str) -> Schema:
    return {"description": description, "content": {PROBLEM: {"schema": ref("Problem")}}}


def ok(description: str, schema: Schema, media: str = JSON, headers: Schema | None = None) -> Schema:
    answer: Schema = {"description": description, "content": {media: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def param(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def obj(properties: Schema, required: list[str] | None = None, extra: bool = False) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = required
    return schema


STRING: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}
NULLABLE_COUNT: Schema = {"type": ["integer", "null"], "minimum": 0}
LIFT: Schema = {"type": ["number", "null"], "description": "clickbacks / shares, 2 decimals; null without shares"}
METRIC_VALUE: Schema = {"type": ["integer", "number", "null"]}

SITE_KEY = param("site", "The site's public key (from `widget-server sites create`).",
                 {"type": "string", "minLength": 1}, required=True)
PAGE_URL = param("url", "The page's URL, on one of the site's domains.",
                 {"type": "string", "minLength": 1, "maxLength": 2048}, required=True)
DAY = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
RATE_LIMITED = {**problem("Too many requests from this client; `Retry-After` says when to try again."),
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}}


def whole(maximum: int, default: int | None = None) -> Schema:
    """A whole number from 1 to ``maximum`` (a query parameter the server parses)."""
    schema: Schema = {"type": "integer", "minimum": 1, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return schema


def comma_list(names: tuple[str, ...] | list[str], item: str | None = None) -> Schema:
    """A comma list of ``names`` (or of strings matching the pattern ``item``)."""
    one = item or "(" + "|".join(names) + ")"
    return {"type": "string", "pattern": f"^{one}(,{one})*$"}


def stats_parameters(*names: str) -> list[Schema]:
    """References to the shared stats parameters, ``site_id`` first."""
    return [ref(name, "parameters") for name in ("site_id", *names)]


PARAMETERS: Schema = {
    "site_id": param("site_id", "The site's numeric id; one the token names.",
                     {"type": "string", "pattern": "^[1-9][0-9]{0,11}$"}, required=True),
    "period": param("period", "Days relative to `date`: `day`, the last `7d`/`30d`, the calendar `month`, "
                    "the last `6mo`/`12mo` calendar months, or `custom` (needs `date=START,END`).",
                    {"type": "string", "enum": list(query.PERIODS), "default": "30d"}),
    "date": param("date", "The reference day `YYYY-MM-DD` (default today, UTC), or for `period=custom` "
                  "`START,END`, ascending, at most 731 days; days from "
                  f"{query.FIRST_DAY} to {query.LAST_DAY}.", {"type": "string", "pattern": f"^{DAY}(,{DAY})?$"}),
    "metrics": param("metrics", "Comma list of " + ", ".join(query.METRICS) + ", each at most once.",
                     {**comma_list(query.METRICS), "default": "shares"}),
    "filters": param("filters", "`PROPERTY==A|B;PROPERTY!=C`: `;` is AND, `|` alternatives, `!=` excludes; "
                     "`\\;`, `\\|` and `\\\\` are literal. Properties: " + ", ".join(query.PROPERTIES) + ".",
                     STRING),
    "property": param("property", "What to break down by.", {"type": "string", "enum": list(query.PROPERTIES)},
                      required=True),
    "interval": param("interval", "Bucket size; default `month` for 6mo and 12mo, else `date`.",
                      {"type": "string", "enum": [*query.INTERVALS, "day"]}),
    "limit": param("limit", "Rows per page.", whole(query.MAX_LIMIT, 100)),
    "page": param("page", "Page of rows, from 1.", whole(query.MAX_PAGE, 1)),
    "order_by": param("order_by", "What the pages are ranked by.",
                      {"type": "string", "enum": list(query.ORDERS), "default": "shares"}),
    "format": param("format", "`csv` answers CSV (so does `Accept: text/csv`).",
                    {"type": "string", "enum": list(query.FORMATS)}),
}

METRIC_PROPERTIES: Schema = {
    "shares": COUNT, "clickbacks": COUNT, "bot_shares": COUNT, "bot_clickbacks": COUNT,
    "sharers": NULLABLE_COUNT, "visitors": NULLABLE_COUNT, "lift": LIFT,
    "actions": COUNT, "action_shares": COUNT,
    "share_rate": {"type": ["number", "null"], "description": "action_shares / actions, 2 decimals; null without actions"},
}

QUERY_ECHO = obj({
    "site_id": {"type": "integer"}, "period": STRING,
    "date_range": {"type": "array", "items": {"type": "string", "format": "date"}, "minItems": 2, "maxItems": 2},
    "metrics": {"type": "array", "items": STRING}, "filters": STRING, "property": STRING, "order_by": STRING,
}, ["site_id", "period", "date_range", "metrics"])


def results(schema: Schema) -> Schema:
    return obj({"results": schema, "query": ref("QueryEcho"), "warning": STRING}, ["results", "query"])


def beacon_schemas() -> Schema:
    common = {
        "site": {"type": "string", "description": "the site key"},
        "url": {"type": "string", "maxLength": 2048},
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$", "description": "unique per event; retries reuse it"},
    }
    code = {"type": "string", "pattern": "^[A-Za-z0-9_-]{6,40}$"}
    verb = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{1,31}$",
            "description": "like, comment, upvote, favorite, read, upload, or a verb the site defined"}
    share = obj({**common, "type": {"const": "share"}, "service": {"enum": list(platforms.SERVICE_IDS)},
                 "title": {"type": "string"}, "code": {**code, "description": "the share code the shared link carries"},
                 "action": {**verb, "description": "the action this share followed (like-and-share)"}},
                ["type", "site", "url", "service", "id"], extra=True)
    action = obj({**common, "type": {"const": "action"}, "verb": verb, "title": {"type": "string"},
                  "actor": {"type": "string", "description": "an actor token signed with the site's secret (README)"}},
                 ["type", "site", "url", "verb", "id"], extra=True)
    clickback = obj({**common, "type": {"const": "clickback"}, "code": {**code, "description": "the code the link carried"},
                     "referrer": {"type": "string", "description": "document.referrer; only its host is kept"}},
                    ["type", "site", "url", "code", "id"], extra=True)
    return {
        "ShareBeacon": share, "ClickbackBeacon": clickback, "ActionBeacon": action,
        "Beacon": {"oneOf": [ref("ShareBeacon"), ref("ClickbackBeacon"), ref("ActionBeacon")],
                   "discriminator": {"propertyName": "type",
                                     "mapping": {"share": "#/components/schemas/ShareBeacon",
                                                 "clickback": "#/components/schemas/ClickbackBeacon",
                                                 "action": "#/components/schemas/ActionBeacon"}}},
    }


def schemas() -> Schema:
    page_row = {"page": {"type": "string", "format": "uri"}, "title": {"type": ["string", "null"]}}
    return {
        "Problem": obj({"type": {"type": "string", "format": "uri"}, "title": STRING, "status": {"type": "integer"},
                        "detail": STRING, "param": STRING}, ["type", "title", "status", "detail"]),
        **beacon_schemas(),
        "Counts": obj({"url": STRING, "total": COUNT, "services": {"type": "object", "additionalProperties": COUNT}},
                      ["url", "total", "services"]),
        "SiteConfig": obj({"site": {"type": "object", "properties": {"services": {"type": "array", "items": STRING}},
                                    "description": "the bar's settings the widget needs; those at their default "
                                                   "are left out, but the services"},
                           "counts": {**ref("Counts"), "description": "the page's counts, when the site shows "
                                                                    "counts or `counts=1` asks for them"},
                           "lang": {"enum": [0, 1, 2], "description": "the names' language: zh-CN, zh-TW, en"},
                           "services": {"type": "object", "additionalProperties": {"type": "object"},
                                        "description": "the site's services as the widget draws them (platforms.registry)"},
                           "activity": {"type": "boolean", "description": "left out: false"},
                           "float_mobile": {"enum": ["reserve", "collapse"], "description": "left out: reserve"},
                           "t": {"type": "object", "additionalProperties": STRING,
                                 "description": "the bar's own words in that language"},
                           "refused": {"type": "object", "properties": {"type": STRING, "detail": STRING},
                                       "description": "for a url outside the site's domains: the problem its "
                                                      "beacons will meet (foreign-domain), for the widget's warning"}},
                          ["site", "lang", "services", "t"]),
        "QueryEcho": QUERY_ECHO,
        "Aggregate": results({"type": "object", "additionalProperties": obj({"value": METRIC_VALUE}, ["value"])}),
        "Timeseries": results({"type": "array", "items": {"type": "object", "required": ["date"], "properties": {
            "date": {"type": "string", "format": "date"}, **METRIC_PROPERTIES}}}),
        "Breakdown": results({"type": "array", "items": {"type": "object", "properties": {
            **{prop: {"type": "string"} for prop in query.PROPERTIES}, "title": {"type": ["string", "null"]},
            **METRIC_PROPERTIES}}}),
        "Leaderboard": results({"type": "array", "items": obj(
            {**page_row, "shares": COUNT, "clickbacks": COUNT, "lift": LIFT}, ["page", "title"])}),
        "LongTail": results({"type": "array", "items": obj(
            {"age": {"enum": list(stats.AGES), "description": "whole days from the share to the click-back"},
             "clickbacks": COUNT}, ["age", "clickbacks"])}),
        "PublicLeaderboard": obj({
            "period": STRING, "order_by": {"enum": list(query.ORDERS)},
            "results": {"type": "array", "items": obj(
                {**page_row, "shares": COUNT, "clickbacks": COUNT, "lift": {"type": "number"}}, ["page", "title"])},
        }, ["period", "order_by", "results"]),
        "Health": obj({"status": {"const": "ok"}}, ["status"]),
        "Readiness": obj({
            "status": {"enum": ["ok", "degraded", "unavailable"]},
            "database": {"enum": ["ok", "unreachable", "timeout"]},
            "schema": {"enum": ["ok", "empty", "outdated", "newer", "unknown"]},
            "redis": {"enum": ["ok", "off", "unreachable", "timeout"]},
            "detail": {"type": "array", "items": STRING}}, ["status", "database", "schema", "redis", "detail"]),
        **feed_schemas(),
    }


def feed_schemas() -> Schema:
    actor = {"oneOf": [{"type": "null"}, obj({"type": {"const": "Person"}, "id": STRING, "name": {"type": ["string", "null"]},
                                              "icon": obj({"type": STRING, "url": STRING})}, ["type", "id"])]}
    activity = obj({
        "type": {"type": "string", "description": "Like, Create, Add, Read or Activity"}, "id": STRING, "verb": STRING,
        "summary": STRING, "actor": actor, "published": {"type": "string", "format": "date-time"},
        "object": obj({"type": STRING, "id": STRING, "url": STRING, "name": STRING}, ["type", "url"]),
    }, ["type", "id", "verb", "summary", "actor", "object", "published"])
    return {
        "Activity": activity,
        "FeedPage": obj({"@context": {}, "type": {"const": "OrderedCollectionPage"}, "id": STRING,
                         "orderedItems": {"type": "array", "items": ref("Activity")}, "next": STRING},
                        ["@context", "type", "id", "orderedItems"]),
        "RecentActivity": obj({"items": {"type": "array", "items": obj({
            "verb": STRING, "url": STRING, "title": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
            "published": STRING}, ["verb", "url", "title", "name", "published"])}}, ["items"]),
        "Deleted": obj({"deleted": COUNT}, ["deleted"]),
    }


def partner_errors(scope: str) -> Schema:
    return {
        "401": problem("No token, or one that is garbled, unknown, expired or revoked."),
        "403": problem(f"The token lacks the `{scope}` scope (`insufficient-scope`)."),
        "404": problem("No such site or item, or not one the token names: the same answer."),
    }


def feed_paths() -> Schema:
    feed_params = [ref("site_id", "parameters"),
                   param("verb", "Comma list of verbs to keep (the site's own included).",
                         comma_list([], "[a-z][a-z0-9_-]{1,31}")),
                   param("page", "Only the actions on this page URL.", {"type": "string", "minLength": 1, "maxLength": 2048}),
                   param("limit", "Items per page, at most 100.", whole(100, 20)),
                   param("before", "The `next` link's cursor: items older than this id.", whole(2**62)),
                   param("lang", "Language of the summaries.", {"type": "string", "enum": ["zh-CN", "zh-TW", "en"]})]
    partner = {"tags": ["partner"], "security": [{"partnerToken": []}]}
    return {
        "/api/v1/feed": {"get": {**partner, "summary": "The action feed, Activity Streams 2.0, newest first",
                                 "parameters": feed_params, "responses": {
                                     "200": ok("One page; `next` links the following one.", ref("FeedPage"),
                                               "application/activity+json"),
                                     "400": problem("A parameter is not acceptable."), **partner_errors("feed:read")}}},
        "/api/v1/feed.atom": {"get": {"summary": "The action feed as Atom, for feed readers", "tags": ["partner"],
                                      "parameters": [param("token", "The feed token from `widget-server feeds url`.",
                                                           STRING, required=True), *feed_params[1:]],
                                      "responses": {"200": ok("Atom 1.0.", STRING, "application/atom+xml"),
                                                    "400": problem("A parameter is not acceptable."),
                                                    "401": problem("Not a feed token, or a revoked one.")}}},
        "/api/v1/actions/{action_id}": {"delete": {
            **partner, "summary": "Delete one action (and take it out of the totals)",
            "parameters": [{"name": "action_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                           ref("site_id", "parameters")],
            "responses": {"204": {"description": "Deleted."}, "400": problem("Bad site_id."),
                          **partner_errors("actions:write")}}},
        "/api/v1/actors/{uid}/actions": {"delete": {
            **partner, "summary": "Delete every action of one actor (right to be forgotten)",
            "parameters": [{"name": "uid", "in": "path", "required": True, "schema": STRING},
                           ref("site_id", "parameters")],
            "responses": {"200": ok("How many were deleted.", ref("Deleted")), "400": problem("Bad site_id."),
                          **partner_errors("actions:write")}}},
    }


def stats_operation(summary: str, schema: str, names: tuple[str, ...], extra: tuple[Schema, ...] = ()) -> Schema:
    responses: Schema = {
        "200": ok("The stats.", ref(schema)),
        "400": problem("A parameter is not acceptable; `param` names it."),
        "401": problem("No token, or one that is garbled, unknown, expired (`expired-token`) or revoked "
                       "(`revoked-token`)."),
        "403": problem("The token lacks the `stats:read` scope (`insufficient-scope`)."),
        "404": problem("No such site, or not one the token names (`unknown-site`): the same answer."),
    }
    responses["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return {"get": {"summary": summary, "tags": ["partner"], "security": [{"partnerToken": []}],
                    "parameters": [*stats_parameters(*names), *extra], "responses": responses}}


def embed_paths() -> Schema:
    cached = {"ETag": {"schema": STRING}, "Cache-Control": {"schema": STRING}}
    key_errors = {"400": problem("Missing or invalid key or URL."), "403": problem("The page is not on the site's domains."),
                  "404": problem("No site has this key.")}
    return {
        "/static/sharebar.js": {"get": {"summary": "The widget script", "tags": ["embed"], "responses": {
            "200": ok("Minified, gzip when accepted; with its stylesheet, and with the config of the site the "
                      "`Referer` is on (the only one whose domains it is on), in the site's language or the "
                      "`Accept-Language` one, cached as /v1/config is.", STRING, "text/javascript", cached),
            "304": {"description": "Not modified (If-None-Match)."}}}},
        "/static/{name}": {"get": {
            "summary": "The widget stylesheet (sharebar.css) and the other files of static/", "tags": ["embed"],
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": STRING}],
            "responses": {
                "200": {"description": "Minified where JS or CSS, gzip when accepted.", "headers": cached,
                        "content": {media: {"schema": STRING} for media in ("text/css", "text/javascript", "image/svg+xml")}},
                "304": {"description": "Not modified (If-None-Match)."}, "404": problem("No such file.")}}},
        "/v1/config": {"get": {"summary": "A site's bar defaults (and the page's counts when shown)", "tags": ["embed"],
                               "parameters": [SITE_KEY, param("url", "A page whose counts to add; not one of "
                                                              "the site's pages costs the counts and adds "
                                                              "`refused`.", STRING),
                                              param("lang", "The page's language (zh-CN, zh-TW, en); another "
                                                    "value means English. The site's own choice wins.", STRING),
                                              param("counts", "`1`: add the page's counts even where the site "
                                                    "does not show them (a bar on the page does).", STRING)],
                               "responses": {"200": ok("The defaults.", ref("SiteConfig")), **key_errors}}},
        "/v1/events": {
            "post": {"summary": "Record a share or click-back beacon", "tags": ["embed"],
                     "description": "Sent with navigator.sendBeacon as text/plain (no preflight) or as JSON; at most "
                                    "8 KB. Unknown fields are ignored.",
                     "requestBody": {"required": True, "content": {
                         JSON: {"schema": ref("Beacon")},
                         "text/plain": {"schema": {"type": "string", "description": "a Beacon as JSON text"}}}},
                     "responses": {
                         "204": {"description": "Stored (or already stored under this id)."},
                         "400": problem("Not a valid beacon; `param` names the field."),
                         "403": problem("The page or the Origin is not on the site's domains."),
                         "404": problem("No site has this key."), "413": problem("Over 8 KB, refused unread."),
                         "415": problem("Neither text/plain nor application/json."),
                         "429": {**problem("Too many events from this reader or site."),
                                 "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}},
            "options": {"summary": "CORS preflight for application/json", "tags": ["embed"],
                        "responses": {"204": {"description": "POST with Content-Type allowed."}}}},
        "/v1/counts": {"get": {"summary": "Share counts of a page", "tags": ["embed"], "parameters": [SITE_KEY, PAGE_URL],
                               "responses": {"200": ok("Per service and total.", ref("Counts")), **key_errors}}},
        "/v1/qr.svg": {"get": {"summary": "The WeChat QR code of a page", "tags": ["embed"],
                               "parameters": [SITE_KEY, PAGE_URL, param(
                                   "code", "A share code to carry in the link.",
                                   {"type": "string", "pattern": "^[A-Za-z0-9_-]{6,40}$"})],
                               "responses": {"200": ok("SVG.", STRING, "image/svg+xml"), **key_errors,
                                             "400": problem("Missing or invalid key or URL, or a URL over 1,024 "
                                                            "bytes with its code (`url-too-long`)."),
                                             "429": RATE_LIMITED}}},
        "/v1/activity": {"get": {
            "summary": "The latest actions of a site or page, when it opted in", "tags": ["embed"],
            "parameters": [SITE_KEY, {**PAGE_URL, "required": False},
                           param("limit", "At most 20.", whole(20, 10))],
            "responses": {"200": ok("Newest first; names only where the site shows them.", ref("RecentActivity")),
                          **key_errors, "404": problem("No such site, or it publishes no activity (`activity-off`)."),
                          "429": RATE_LIMITED}}},
        "/v1/leaderboard": {"get": {
            "summary": "A site's public leaderboard (排行榜), when it opted in", "tags": ["embed"],
            "parameters": [SITE_KEY, ref("order_by", "parameters"),
                           param("period", "As in the stats API, without custom; default 7d, up to today.",
                                 {"type": "string", "enum": [p for p in query.PERIODS if p != "custom"]}),
                           param("limit", "Pages, at most 50.", whole(50, 10))],
            "responses": {"200": ok("Top pages; cached 5 minutes.", ref("PublicLeaderboard")),
                          "400": problem("A parameter is not acceptable."),
                          "404": problem("No such site, or it has no public leaderboard (`leaderboard-off`)."),
                          "429": RATE_LIMITED}}},
    }


def paths() -> Schema:
    return {
        **embed_paths(),
        "/api/v1/stats/aggregate": stats_operation("Each metric over a period", "Aggregate",
                                                   ("period", "date", "metrics", "filters", "format")),
        "/api/v1/stats/timeseries": stats_operation("The metrics per date, week or month", "Timeseries",
                                                    ("period", "date", "metrics", "filters", "interval", "format")),
        "/api/v1/stats/breakdown": stats_operation(
            "The metrics per platform, page, action or referrer", "Breakdown",
            ("property", "period", "date", "metrics", "filters", "limit", "page", "format")),
        "/api/v1/stats/leaderboard": stats_operation(
            "Top pages by shares, click-backs or lift", "Leaderboard", ("period", "date", "order_by", "filters", "format"),
            (param("limit", "Pages, at most 100.", whole(100, 10)),)),
        "/api/v1/stats/long-tail": stats_operation(
            "Click-backs by days since their share (the long tail), of the site or of pages", "LongTail",
            ("period", "date", "filters", "format")),
        **feed_paths(),
        "/api/openapi.json": {"get": {"summary": "This document", "tags": ["meta"], "responses": {
            "200": ok("OpenAPI 3.1.", {"type": "object"})}}},
        "/healthz": {"get": {"summary": "Liveness", "tags": ["ops"], "responses": {"200": ok("Alive.", ref("Health"))}}},
        "/readyz": {"get": {
            "summary": "Readiness: the database answers at the migration head; Redis when set", "tags": ["ops"],
            "responses": {"200": ok("Ready (`degraded` when Redis does not answer).", ref("Readiness")),
                          "503": ok("The database does not answer or its schema is not at the head.",
                                    ref("Readiness"))}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["ops"], "responses": {
            "200": ok("Prometheus text format, or OpenMetrics when asked.", STRING, "text/plain"),
            "403": problem("Not from a network in WIDGET_METRICS_NETWORKS.")}}},
    }


def document() -> Schema:
    """The whole OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sharebar", "version": "1",
                 "description": "Embed endpoints for the share bar, and the partner stats API. Errors are "
                                "application/problem+json (RFC 9457) with a stable reason at the end of `type`."},
        "servers": [{"url": "/"}],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "parameters": PARAMETERS,
            "securitySchemes": {"partnerToken": {
                "type": "http", "scheme": "bearer",
                "description": "A token from `widget-server tokens create`; scopes: " + ", ".join(tokens.SCOPES)}},
        },
    }
