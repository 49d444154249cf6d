"""`alertmedic routes test --time` and `alertmedic routes show`, through the real main()."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app.cli import main

CONFIG = """
server:
  listen: 127.0.0.1:9095
  auth:
    bearer_token: ${WEBHOOK_TOKEN_FOR_ROUTES_TEST}
receivers:
  - name: default
  - name: staging-pager
  - name: oncall
time_intervals:
  - name: night
    time_intervals:
      - times:
          - start_time: 00:00
            end_time: 08:00
          - start_time: 20:00
            end_time: 24:00
        location: Europe/Berlin
route:
  receiver: default
  routes:
    - matchers: ['namespace="staging"']
      receiver: staging-pager
      mute_time_intervals: [night]
    - matchers: ['severity="critical"']
      receiver: oncall
      continue: true
    - matchers: ['severity="critical"']
      receiver: default
"""
UNSET = "warning: server.auth.bearer_token: environment variable WEBHOOK_TOKEN_FOR_ROUTES_TEST is not set"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("WEBHOOK_TOKEN_FOR_ROUTES_TEST", raising=False)
    f = tmp_path / "alertmedic.yml"
    f.write_text(CONFIG)
    return str(f)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err.splitlines()


def test_a_route_muted_at_the_given_instant(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "routes",
        "test",
        "--config",
        config,
        "--time",
        "2026-11-28T03:00:00+01:00",
        "namespace=staging",
    )
    assert (code, out) == (0, "\n")
    assert err == [
        UNSET,
        "muted: staging-pager muted at route.routes[0] by time interval 'night' at 2026-11-28T03:00:00+01:00",
    ]


def test_the_same_route_by_day_and_verify_receivers(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("routes", "test", "--config", config, "--time", "2026-11-28T12:00:00Z")
    assert run(capsys, *args, "namespace=staging") == (0, "staging-pager\n", [UNSET])
    assert run(capsys, *args, "--verify-receivers=staging-pager", "namespace=staging")[0] == 0
    code, _, err = run(
        capsys, "routes", "test", "--config", config, "--time", "2026-11-28T23:00:00+01:00",
        "--verify-receivers=staging-pager", "namespace=staging",
    )  # fmt: skip
    assert code == 1
    assert "WARNING: expected receivers 'staging-pager', got ''" in err


@pytest.mark.parametrize("bad", ["2026-11-28T03:00:00", "tomorrow", "2026-13-01T00:00:00Z"])
def test_a_bad_time_is_refused(config: str, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = run(capsys, "routes", "test", "--config", config, "--time", bad, "namespace=staging")
    assert (code, out) == (2, "")
    assert err[-1].startswith(f"invalid --time {bad!r}: ")


def test_routes_show_prints_the_tree_with_intervals_on_request(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "routes", "show", "--config", config)
    assert (code, err) == (0, [UNSET])
    assert out.splitlines() == [
        "Routing tree:",
        ".",
        "└── default-route  receiver: default",
        '    ├── {namespace="staging"}  receiver: staging-pager',
        '    ├── {severity="critical"}  continue: true  receiver: oncall',
        '    └── {severity="critical"}  receiver: default',
        "",
    ]
    code, out, _ = run(capsys, "routes", "show", "--config", config, "--time-intervals")
    assert code == 0
    assert '{namespace="staging"}  receiver: staging-pager  mute_time_intervals: night' in out


def test_routes_show_lists_every_problem_of_a_bad_config(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(config).write_text(CONFIG.replace("[night]", "[nights]").replace("end_time: 08:00", "end_time: 8"))
    code, out, err = run(capsys, "routes", "show", "--config", config)
    assert (code, out) == (1, "")
    assert (
        "route.routes[0].mute_time_intervals[0]: unknown time interval 'nights' (did you mean `night`?)"
        in err
    )
    assert any(line.startswith("time_intervals[0].time_intervals[0].times[0].end_time: ") for line in err)


@pytest.mark.slow
def test_the_same_file_reads_alike_in_amtool(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Alertmanager part of our config, unquoted times included, is valid for amtool, and
    `routes show` prints what `amtool config routes show` prints for it."""
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is missing: `make system-deps` installs it", pytrace=False)
    server = CONFIG[: CONFIG.index("receivers:")]
    am = tmp_path / "alertmanager.yml"
    am.write_text(CONFIG.replace(server, ""))
    assert "start_time: 00:00" in am.read_text()  # unquoted, as users paste it
    check = subprocess.run([amtool, "check-config", str(am)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    show = subprocess.run(
        [amtool, "config", "routes", "show", f"--config.file={am}"],
        capture_output=True,
        text=True,
        check=True,
    )
    code, out, _ = run(capsys, "routes", "show", "--config", config)
    assert (code, out) == (0, show.stdout)
