"""README's actor-token recipes, run as a site's backend would run them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from widget_server import actors

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
SECRET = "s3cret-of-the-site"


def block(language: str, contains: str) -> str:
    for code in re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL):
        if contains in code:
            return str(code)
    raise AssertionError(f"README has no {language} block with {contains!r}")


def test_python_recipe_makes_tokens_the_server_accepts() -> None:
    scope: dict[str, object] = {}
    exec(block("python", "def sharebar_actor"), scope)  # the README's own code
    token = scope["sharebar_actor"](5, SECRET, "u-9", "韩梅梅", "https://cdn.example.com/u9.png")  # type: ignore[operator]
    assert actors.verify(token, 5, SECRET) == actors.Actor("u-9", "韩梅梅", "https://cdn.example.com/u9.png")


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_recipe_makes_tokens_the_server_accepts(tmp_path: Path) -> None:
    script = tmp_path / "actor.js"
    script.write_text(block("js", "function sharebarActor") +
                      f"\nprocess.stdout.write(sharebarActor(5, {json.dumps(SECRET)}, 'u-9', '韩梅梅'));\n",
                      encoding="utf-8")
    token = subprocess.run(["node", str(script)], capture_output=True, text=True, check=True, timeout=30).stdout
    assert actors.verify(token, 5, SECRET) == actors.Actor("u-9", "韩梅梅", None)
