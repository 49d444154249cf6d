"""Fixtures of the reliability tests: the store the replicas share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ha_storage_url(tmp_path: Path) -> str:
    """The storage URL several replicas share: one SQLite file."""
    return f"sqlite:///{tmp_path}/shared.db"
