"""Fixtures of the reliability tests: the store the replicas share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import fresh_database


@pytest.fixture
def ha_storage_url() -> Iterator[str]:
    """The storage URL several replicas share: a fresh database on the machine's PostgreSQL."""
    with fresh_database("alertmedic_ha") as url:
        yield url
