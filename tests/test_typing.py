"""The package stays fully typed: mypy --strict (configured in setup.cfg) finds nothing."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")
ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    # mypy raises the interpreter's recursion limit for good; the tests after this one (a
    # 2,000-deep JSON body refused as invalid) must see the limit the server runs with.
    limit = sys.getrecursionlimit()
    try:
        report, errors, status = mypy_api.run(["--config-file", str(ROOT / "setup.cfg"), "--no-incremental"])
    finally:
        sys.setrecursionlimit(limit)
    assert status == 0, report + errors
