"""Shared set-up: no usage ledger on disk, and the scripted test models' record cleared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prellm.providers.testing import clear_recorded


@pytest.fixture(autouse=True)
def _isolated(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    monkeypatch.setenv("PRELLM_NO_LEDGER", "1")
    monkeypatch.setenv("PRELLM_DATA_DIR", str(tmp_path_factory.getbasetemp() / "prellm-data"))
    clear_recorded()
    yield
