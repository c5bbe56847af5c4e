"""The package as self-hosters install it: the sdist and the wheel built from this checkout, the
wheel installed (never ``-e``) into a fresh virtualenv of each supported Python, its commands
run, and gunicorn serving from it with gunicorn.conf.py. Every file the package reads at run
time (static/, templates, migrations) must be found where the wheel put it.

The build and the three installs run once per session, side by side; pip needs the package
index (or its mirror) for the dependencies.
"""
from __future__ import annotations

import ast
import configparser
import glob
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from live_server import ROOT, base_env, fetch, free_port, gunicorn, run, serving

PYTHONS = ("3.11", "3.12", "3.13")
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "instance", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".mypy_cache", "node_modules", "bench")
STATIC = sorted(path.name for path in (ROOT / "static").iterdir() if path.is_file())
TEMPLATES = sorted(path.name for path in (ROOT / "widget_server" / "templates").iterdir() if path.is_file())
SITE_DOMAIN = "blog.example.com"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"


def find_python(version: str) -> str | None:
    """The newest pyenv interpreter of ``version`` (pyenv keeps them under $PYENV_ROOT/versions),
    else ``pythonX.Y`` on PATH."""
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}")),
                   key=lambda path: [int(part) for part in Path(path).parts[-3].split(".") if part.isdigit()])
    return found[-1] if found else shutil.which(f"python{version}")


def pip(*args: str) -> None:
    """The checkout's pip, on another interpreter with ``--python``: a venv needs no pip of its own."""
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def build(source: Path, out: Path) -> tuple[Path, Path]:
    """``python -m build``: the sdist from ``source``, then the wheel from that sdist."""
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(out.glob("*.tar.gz")), next(out.glob("*.whl"))


def requirements(*extras: str) -> list[str]:
    """setup.cfg's install_requires (installed ahead, while the wheel builds), then the lines
    of ``extras``."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    sections = [config["options"]["install_requires"], *(config["options.extras_require"][extra] for extra in extras)]
    return [line.strip() for section in sections for line in section.splitlines() if line.strip()]


def make_venv(python: str, venv: Path) -> Path:
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip("--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile", *requirements())
    return venv


class Installs:
    """The dists and one venv per Python with the wheel installed (None where the Python is absent)."""

    def __init__(self, tmp: Path):
        with ThreadPoolExecutor(max_workers=4) as pool:
            built = pool.submit(build, tmp / "src", tmp / "dist")
            venvs: dict[str, Future[Path] | None] = {}
            for version in PYTHONS:
                python = find_python(version)
                venvs[version] = pool.submit(make_venv, python, tmp / f"venv{version}") if python else None
            self.sdist, self.wheel = built.result()
            ready = {version: future.result() for version, future in venvs.items() if future}
            installing = {version: pool.submit(self.install, venv) for version, venv in ready.items()}
            self.venvs: dict[str, Path | None] = {
                version: (installing[version].result() if version in installing else None) for version in PYTHONS}

    def install(self, venv: Path) -> Path:
        pip("--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile", str(self.wheel))
        return venv


@pytest.fixture(scope="session")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Installs:
    return Installs(tmp_path_factory.mktemp("install"))


@pytest.fixture(params=PYTHONS)
def venv_bin(request: pytest.FixtureRequest, installs: Installs) -> Path:
    venv = installs.venvs[request.param]
    if venv is None:
        pytest.skip(f"no Python {request.param} on this machine (neither under pyenv nor python{request.param} on PATH)")
    return venv / "bin"


@pytest.fixture
def one_venv_bin(installs: Installs) -> Path:
    """The newest Python's venv, for what does not differ between Pythons."""
    for version in reversed(PYTHONS):
        venv = installs.venvs[version]
        if venv is not None:
            return venv / "bin"
    pytest.skip(f"none of Python {', '.join(PYTHONS)} on this machine")


class Deployment:
    """An installed Sharebar as its operator drives it: commands run outside the checkout."""

    def __init__(self, bin_dir: Path, home: Path):
        self.bin_dir, self.home = bin_dir, home
        self.port = free_port()
        self.env = base_env(bin_dir, home / "instance", WIDGET_PUBLIC_URL=f"http://127.0.0.1:{self.port}")

    def command(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run([str(self.bin_dir / "widget-server"), *args], {**self.env, **env}, self.home)

    def ok(self, *args: str) -> str:
        done = self.command(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def test_sdist_has_what_the_wheel_is_built_from(installs: Installs) -> None:
    with tarfile.open(installs.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    needed = {"setup.cfg", "pyproject.toml", "README.md", "gunicorn.conf.py", "Procfile",
              "widget_server/migrations/script.py.mako", *(f"static/{name}" for name in STATIC),
              *(f"widget_server/templates/{name}" for name in TEMPLATES)}
    assert needed <= names, sorted(needed - names)


def test_every_package_the_code_imports_is_declared() -> None:
    """A package the code imports but setup.cfg does not name comes only as another's
    dependency, in whatever version that one allows: WTForms under Flask-WTF went on to
    deprecate the dashboard's form choices. Each is named, with its range, or in an extra."""
    declared = {canonicalize_name(Requirement(line).name) for line in requirements("postgres", "redis", "test")}
    providers = importlib.metadata.packages_distributions()
    imported: dict[str, str] = {}
    for path in sorted((ROOT / "widget_server").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", "widget_server"):
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    assert {"flask", "sqlalchemy", "wtforms"} <= set(imported)  # the walk found the imports
    undeclared = {top: (where, providers.get(top)) for top, where in imported.items()
                  if not {canonicalize_name(name) for name in providers.get(top, [])} & declared}
    assert not undeclared, undeclared


def test_the_lower_end_of_every_range_installs_together() -> None:
    """Each range in setup.cfg starts at a version that installs beside the others' lowest
    (pip resolves them, installing nothing). Flask 3.1 wants Jinja2 3.1.2, psycopg 3.2.0's
    binary extra names a build that was never published: such a range promised an install
    that could not happen. That the suite passes at these versions is checked by hand (README,
    "Production: the wheel")."""
    lowest = []
    for line in requirements("postgres", "redis"):
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert len(floors) == 1, line  # each range has its one lower end
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        lowest.append(f"{requirement.name}{extras}=={floors[0]}")
    pip("install", "--dry-run", "--ignore-installed", "--quiet", *lowest)


def test_wheel_carries_static_templates_and_migrations(installs: Installs) -> None:
    names = set(zipfile.ZipFile(installs.wheel).namelist())
    versions = sorted(path.name for path in (ROOT / "widget_server" / "migrations" / "versions").glob("*.py"))
    needed = {*(f"widget_server/static/{name}" for name in STATIC),
              *(f"widget_server/templates/{name}" for name in TEMPLATES),
              *(f"widget_server/migrations/versions/{name}" for name in versions),
              "widget_server/migrations/env.py", "widget_server/migrations/script.py.mako"}
    assert needed <= names, sorted(needed - names)


def test_installed_wheel_serves_every_packaged_file(venv_bin: Path, tmp_path: Path) -> None:
    deployment = Deployment(venv_bin, tmp_path)
    installed = {path.name for path in next((venv_bin.parent / "lib").glob("python3.*/site-packages")).iterdir()}
    assert "widget_server" in installed and not any(name.endswith(".pth") for name in installed)  # not -e
    assert not {"psycopg", "redis"} & installed  # a plain install: the extras are not there
    assert "database at head" in deployment.ok("db", "upgrade")
    site = json.loads(deployment.ok("sites", "create", "--name", "Blog", "--domain", SITE_DOMAIN, "--json"))
    feed_url = deployment.ok("feeds", "url", "--site", str(site["id"])).strip().splitlines()[-1]
    assert feed_url.startswith(deployment.env["WIDGET_PUBLIC_URL"])

    env = {**deployment.env, "WIDGET_DEMO": "true", "WEB_CONCURRENCY": "1"}
    with gunicorn(venv_bin, env, tmp_path, port=deployment.port) as server:
        for name in STATIC:
            answer = fetch(f"{server.url}/static/{name}")
            assert answer.status == 200, (name, answer.body[:300])
            assert answer.body and answer.headers["Access-Control-Allow-Origin"] == "*"
        script = fetch(f"{server.url}/static/sharebar.js")
        assert b"weibo" in script.body  # the service registry was built in
        feed = fetch(feed_url)
        assert feed.status == 200 and feed.headers["Content-Type"].startswith("application/atom+xml"), feed.body[:300]
        demo = fetch(f"{server.url}/demo")
        assert demo.status == 200 and b"data-sharebar" in demo.body, demo.body[:300]
        assert fetch(f"{server.url}/api/openapi.json").json()["openapi"].startswith("3.1")
        beacon = {"type": "share", "site": site["key"], "url": f"https://{SITE_DOMAIN}/post", "service": "weibo",
                  "id": "install-test-0001"}
        stored = fetch(f"{server.url}/v1/events", json.dumps(beacon).encode(),
                       {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": BROWSER_UA})
        assert stored.status == 204, stored.body
    assert "Traceback" not in server.log_text(), server.log_text()


def test_demo_command_serves_its_page_from_the_wheel(one_venv_bin: Path, tmp_path: Path) -> None:
    port = free_port()
    env = base_env(one_venv_bin, tmp_path / "instance")
    with serving([str(one_venv_bin / "widget-server"), "demo", "--port", str(port)], env, tmp_path, port) as server:
        page = fetch(f"{server.url}/demo")
        assert page.status == 200 and b"/static/sharebar.js" in page.body
        assert fetch(f"{server.url}/static/sharebar.js").status == 200
        icon = re.search(rb'<link rel="icon" href="([^"]+)"', page.body)
        assert icon is not None and fetch(f"{server.url}{icon.group(1).decode()}").status == 200  # packaged too


@pytest.mark.parametrize(("setting", "url", "extra"), [
    ("WIDGET_DATABASE_URL", "postgresql://sharebar@127.0.0.1:1/sharebar", "postgres"),
    ("WIDGET_REDIS_URL", "redis://127.0.0.1:1/0", "redis"),
])
def test_a_server_named_without_its_extra_is_one_plain_line(one_venv_bin: Path, tmp_path: Path, setting: str,
                                                            url: str, extra: str) -> None:
    """A plain install has neither driver; naming such a server says which extra to install."""
    done = Deployment(one_venv_bin, tmp_path).command("db", "upgrade", **{setting: url})
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: {setting} names a {'PostgreSQL' if extra == 'postgres' else 'Redis'} "
                                   f"server, but {'psycopg' if extra == 'postgres' else 'redis'} is not installed: "
                                   f"pip install 'sharebar-widget-server[{extra}]'")
