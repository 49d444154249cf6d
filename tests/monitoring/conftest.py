"""Fixtures for the monitoring tests: the Prometheus / Alertmanager binaries.

A missing binary fails the test with install instructions (see _support.require_binary).
"""

from __future__ import annotations

import pytest

from ._support import require_binary


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_binary("amtool")


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    return require_binary("prometheus-alertmanager")
