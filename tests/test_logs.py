"""Logs: one JSON object (or text line) per record, each tagged with its request's id."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from flask import Flask

from conftest import SECRET_KEYS
from widget_server import create_app, logs
from widget_server.settings import SettingsError


def app_with(tmp_path: Path, fmt: str = "json") -> Flask:
    app = create_app({"TESTING": True, "SECRET_KEYS": SECRET_KEYS, "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "LOG_FORMAT": fmt})

    def fail() -> str:
        logging.getLogger("widget_server.somewhere").warning("about to fail")
        logging.getLogger("a_library").warning("a library's record")
        raise RuntimeError("boom")

    app.add_url_rule("/fail", view_func=fail)
    return app


@pytest.mark.parametrize("incoming", ["3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8", "Root=1-67891233-abcdef012345678912345678",
                                      "req_42", "a" * 128])
def test_a_sane_incoming_id_is_kept_and_echoed(tmp_path: Path, incoming: str) -> None:
    response = app_with(tmp_path).test_client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["", "a" * 129, "two words", "line\nbreak", "<script>", "id;drop", "日志"])
def test_an_odd_incoming_id_is_replaced(incoming: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", logs.request_id_from(incoming))


def test_every_request_gets_a_new_id(tmp_path: Path) -> None:
    client = app_with(tmp_path).test_client()
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_every_record_of_a_request_carries_its_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    response = app_with(tmp_path).test_client().get("/fail", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "trace-7"
    names = [record.name for record in caplog.records]
    assert names == ["widget_server.somewhere", "a_library", "widget_server.problems", "widget_server.requests"]
    assert {getattr(record, "request_id") for record in caplog.records} == {"trace-7"}
    outside = logging.getLogger("widget_server").makeRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert getattr(outside, "request_id", "missing") in (None, "missing")


def test_json_lines_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_with(tmp_path, "json").test_client().get("/fail", headers={"X-Request-ID": "trace-8"})
    lines = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one whole object
    messages = ["about to fail", "a library's record", "unhandled error on GET /fail", "GET fail 500"]
    assert [e["message"] for e in entries] == messages
    assert all(e["request_id"] == "trace-8" for e in entries)
    failure = entries[2]
    assert failure["level"] == "error" and failure["logger"] == "widget_server.problems"
    assert "RuntimeError: boom" in failure["exception"] and "Traceback" in failure["exception"]
    done = entries[3]
    assert (done["method"], done["endpoint"], done["status"]) == ("GET", "fail", 500)
    assert isinstance(done["duration_ms"], float) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", done["time"])


def test_text_lines_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app_with(tmp_path, "text").test_client().get("/healthz", headers={"X-Request-ID": "trace-9"})
    logging.getLogger("widget_server.cli").warning("outside any request")
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"\S+ \S+ INFO widget_server.requests \[trace-9\] GET ops.alive 200", lines[0])
    assert re.fullmatch(r"\S+ \S+ WARNING widget_server.cli \[-\] outside any request", lines[1])


@pytest.mark.parametrize(("setting", "tty", "chosen"), [
    ("auto", True, "text"), ("auto", False, "json"), (None, False, "json"),
    ("json", True, "json"), ("text", False, "text"), ("JSON", True, "json"),
])
def test_format_choice(setting: str | None, tty: bool, chosen: str) -> None:
    assert logs.chosen_format(setting, tty) == chosen


def test_a_bad_format_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^WIDGET_LOG_FORMAT=yaml: expected auto, json or text$"):
        app_with(tmp_path, "yaml")


def test_one_handler_however_many_apps(tmp_path: Path) -> None:
    for _ in range(3):
        app_with(tmp_path)
    handlers = logging.getLogger().handlers
    assert sum(isinstance(handler, logs.StderrHandler) for handler in handlers) == 1


def test_the_request_record_written_directly_is_the_formatters_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With Sharebar's JSON handler alone on the way, the record that ends a request is written
    straight to stderr; it is the line the formatter writes for the same record."""
    app_with(tmp_path, "json")
    ours = [handler for handler in logging.getLogger().handlers if isinstance(handler, logs.StderrHandler)]
    monkeypatch.setattr(logging.getLogger(), "handlers", ours)  # without pytest's capture handlers

    def records() -> list[dict[str, object]]:
        capsys.readouterr()
        logs.begin_request("trace-10")
        logs.request_done("POST", "embed.record_event", 204, None)
        logs.begin_request(None)
        logs.request_done("GET", 'odd"end\\point é', 404, None)
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2
        return [json.loads(line) for line in lines]

    assert logs.direct_handler() is ours[0]
    direct = records()
    monkeypatch.setattr(logging.getLogger(), "handlers", [*ours, logging.NullHandler()])
    assert logs.direct_handler() is None  # another handler: the record goes through logging
    formatted = records()
    for written, made in zip(direct, formatted, strict=True):
        assert list(written) == list(made)  # the same fields, in the same order
        assert {**written, "time": "", "request_id": ""} == {**made, "time": "", "request_id": ""}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(written["time"]))
    assert direct[0]["request_id"] == formatted[0]["request_id"] == "trace-10"
    assert re.fullmatch(r"[0-9a-f]{32}", str(direct[1]["request_id"]))
