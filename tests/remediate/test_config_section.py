"""`remediation:` and `api:` as sections of the whole configuration: the issue's fragment added
to a valid config is accepted as written; `check-config --strict` reads the kubeconfig and names
its YAML path; the Kubernetes client is not even imported when remediation is off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.config import ConfigError, load_config

FRAGMENT = Path(__file__).with_name("issue9_fragment.yaml")
BASE = {
    "server": {"auth": {"bearer_token": "t"}},
    "receivers": [{"name": "null"}],
    "route": {"receiver": "null"},
}


def write(tmp_path: Path, *, kubeconfig: Path | None, token: bool = True) -> Path:
    raw = {**BASE, **yaml.safe_load(FRAGMENT.read_text(encoding="utf-8"))}
    if kubeconfig is not None:
        raw["remediation"]["kubernetes"]["kubeconfig"] = str(kubeconfig)
    if token:
        (tmp_path / "api-token").write_text("secret\n")
        raw["api"]["bearer_token_file"] = str(tmp_path / "api-token")
    path = tmp_path / "alertmedic.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_issue_fragment_in_a_whole_config_is_accepted_as_written(tmp_path: Path) -> None:
    text = FRAGMENT.read_text(encoding="utf-8")
    (tmp_path / "alertmedic.yml").write_text(yaml.safe_dump(BASE) + text)
    loaded = load_config(tmp_path / "alertmedic.yml", check_files=False)
    assert loaded.config.remediation is not None
    assert [a.name for a in loaded.config.remediation.actions][:2] == [
        "restart-on-latency",
        "retrain-on-drift",
    ]
    assert str(loaded.config.api.bearer_token_file) == "/etc/alertmedic/api-token"
    # the files it names do not exist here: warnings, not errors, outside strict mode
    assert (
        "remediation.kubernetes.kubeconfig",
        "cannot read /etc/alertmedic/kubeconfig: No such file or directory",
    ) in loaded.warnings


def test_strict_check_config_names_an_unreadable_kubeconfig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, kubeconfig=tmp_path / "missing-kubeconfig")
    assert main(["check-config", "--strict", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"remediation.kubernetes.kubeconfig: cannot read {tmp_path / 'missing-kubeconfig'}" in err
    with pytest.raises(ConfigError):
        load_config(path, check_files=True)
    (tmp_path / "missing-kubeconfig").write_text("apiVersion: v1\n")
    assert main(["check-config", "--strict", str(path)]) == 1  # the http token file still missing
    assert "kubeconfig" not in capsys.readouterr().err


def test_kubernetes_is_imported_only_when_remediation_runs() -> None:
    code = (
        "import sys, app.web.app, app.cli, app.engine.dispatcher;"
        "assert 'kubernetes' not in sys.modules, 'kubernetes imported at start-up'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
