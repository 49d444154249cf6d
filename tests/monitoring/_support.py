"""Helpers for the monitoring tests: repository paths and running the Prometheus tools.

The binaries come from Debian (`make system-deps`). A missing binary fails the test with
a message saying how to install it; it is never a silent skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "rules"
ALERTMANAGER_DIR = ROOT / "alertmanager"

_PACKAGES = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
}


def require_binary(name: str) -> str:
    """Absolute path of `name`, or fail the calling test with install instructions."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH. Install the Debian package {_PACKAGES[name]!r} "
            "(`make system-deps` does it) and run the tests again.",
            pytrace=False,
        )
    return path


def run_tool(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command without a shell, capturing text output."""
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The command, exit code and output, for assertion messages."""
    return (
        f"$ {' '.join(result.args)}\nexit code {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
