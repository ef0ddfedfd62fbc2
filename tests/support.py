"""Small helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

BOUND_S = 60.0  # generous bounds for polling; never a timed assertion
NO_START = [sys.executable, "-c", "raise SystemExit(3)"]  # a model host that cannot start


def wait_for(predicate: Callable[[], object], what: str) -> None:
    """Poll until ``predicate()`` holds; fail (not hang) after ``BOUND_S``."""
    deadline = time.monotonic() + BOUND_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents made) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
