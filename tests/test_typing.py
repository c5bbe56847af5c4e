"""The package stays fully typed: mypy --strict (configured in setup.cfg) finds nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")
ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    report, errors, status = mypy_api.run(["--config-file", str(ROOT / "setup.cfg"), "--no-incremental"])
    assert status == 0, report + errors
