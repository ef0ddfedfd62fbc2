"""Release readiness: the wheel holds the package and its data, nothing else; one version.

The wheel is built from a copy of the source tree (with its ``__pycache__`` folders, as a
developer's tree has them, and without a stale ``build/``), as ``pip wheel`` builds it
for PyPI. A few seconds; it runs with the rest of the suite.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

import pytest

import prellm

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "prellm-engine"
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "venv*", "build", "dist", "*.egg-info", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", "node_modules", ".prellm", "*.gguf",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("release")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    out = tmp / "dist"
    # With a new enough setuptools here (the test image has one), build offline.
    offline = _setuptools_version() >= (77,)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
        + (["--no-build-isolation"] if offline else []),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (built,) = out.glob("*.whl")
    assert built.name == f"prellm_engine-{prellm.__version__}-py3-none-any.whl"
    return zipfile.ZipFile(built)


def _setuptools_version() -> tuple[int, ...]:
    try:
        version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        return (0,)
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def _source_files(pattern: str) -> set[str]:
    pkg = ROOT / "prellm"
    return {
        p.relative_to(ROOT).as_posix()
        for p in pkg.rglob(pattern)
        if p.is_file() and "__pycache__" not in p.parts
    }


def _package_files(wheel: zipfile.ZipFile) -> set[str]:
    return {n for n in wheel.namelist() if not n.startswith("prellm_engine-")}


def test_the_wheel_holds_all_package_data(wheel):
    names = _package_files(wheel)
    data = {f for f in _source_files("*") if f.startswith("prellm/data/") and not f.endswith(".py")}
    assert data, "no package data found in the source tree"
    assert {f for f in data if f.endswith((".yaml", ".yml", ".json"))} == data, (
        "prellm/data holds a file type the wheel's package-data may not include"
    )
    assert data - names == set()
    assert "prellm/py.typed" in names


def test_the_wheel_holds_every_module(wheel):
    assert _source_files("*.py") - _package_files(wheel) == set()


def test_the_wheel_holds_nothing_else(wheel):
    names = _package_files(wheel)
    assert all(n.startswith("prellm/") for n in names), sorted(names)[:5]
    unwanted = [
        n
        for n in names
        if "__pycache__" in n
        or n.endswith((".pyc", ".pyo", ".gguf", ".db", ".sqlite"))
        or re.search(r"(^|/)(tests?|benchmarks)/", n)
    ]
    assert unwanted == []


def test_metadata_names_us_and_our_version(wheel):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = HeaderParser().parsestr(wheel.read(info).decode())
    assert meta["Name"] == DIST_NAME
    assert meta["Version"] == prellm.__version__
    assert meta["Requires-Python"] == ">=3.11"
    assert {"local", "server", "test"} <= set(meta.get_all("Provides-Extra"))
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert {
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.13",
    } <= set(classifiers)
    assert meta.get_all("Project-URL") is None  # no public home yet: no placeholder URLs
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "prellm = prellm.cli:main" in wheel.read(entry).decode()


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "prellm.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?", prellm.__version__)
    out = subprocess.run(
        [sys.executable, "-m", "prellm", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"prellm, version {prellm.__version__}"


def test_the_changelog_has_an_entry_for_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(prellm.__version__)}\]", changelog, re.M)
