"""Shared helpers for the deploy/ tests: rendering the overlays, running promtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import kustomize_lite

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
OVERLAYS = {
    # overlay: (namespace alertmedic runs in, namespace it may remediate)
    "prod": ("monitoring", "prod"),
    "prod-ha": ("monitoring", "prod"),
    "staging": ("monitoring-staging", "staging"),
}
HA = {"prod-ha": "prod"}
"""Several replicas on PostgreSQL: overlay -> the single-replica overlay it replaces."""
MONITORING_NAMESPACE = "monitoring"
KUBERNETES_VERSION = "1.30"

Obj = dict[str, Any]


@cache
def real_kustomize() -> tuple[str, ...] | None:
    """The command of a kustomize v5 on PATH (standalone or embedded in kubectl), else None."""
    if exe := shutil.which("kustomize"):
        out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and "v5." in out.stdout:
            return (exe, "build")
    if exe := shutil.which("kubectl"):
        out = subprocess.run(
            [exe, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60
        )
        if out.returncode == 0:
            version = json.loads(out.stdout).get("kustomizeVersion", "")
            if version.startswith("v5."):
                return (exe, "kustomize")
    return None


def render_real(directory: Path) -> list[Obj]:
    cmd = real_kustomize()
    assert cmd is not None
    out = subprocess.run([*cmd, str(directory)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@cache
def _render(overlay: str) -> tuple[str, list[Obj]]:
    directory = KUBE / "overlays" / overlay
    if real_kustomize() is not None:
        return "kustomize", render_real(directory)
    return "kustomize_lite", kustomize_lite.build(directory)


def render(overlay: str) -> list[Obj]:
    """The overlay's objects, rendered by real kustomize when available (fresh copies)."""
    return json.loads(json.dumps(_render(overlay)[1]))


def find(objs: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def one(objs: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> list[Obj]:
    return render(overlay)


def promtool_path() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail("promtool not on PATH: `make system-deps` installs Debian's prometheus", pytrace=False)
    return exe


@pytest.fixture
def promtool_check_rules(tmp_path: Path) -> Callable[[list[Obj]], None]:
    """Write rule groups to a file and assert `promtool check rules` accepts it."""
    exe = promtool_path()

    def check(groups: list[Obj]) -> None:
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        out = subprocess.run([exe, "check", "rules", str(path)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr

    return check
