"""`alertmedic incidents list|show` and `alertmedic postmortem` on a real database file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.cli import main
from app.core.plan import Destination
from app.store.base import group_ref
from app.store.sqlite import SQLiteStore
from tests.store.conftest import planned
from tests.store.test_incident_contract import START, note
from tests.test_cli_outbox import config_file

DEST = Destination("hook/webhook[0]", "hook", "webhook", True)


def seed(tmp_path: Path) -> None:
    """Open: `db` (critical, prod) and `web` (warning, staging); resolved: `old`."""

    async def go() -> None:
        store = SQLiteStore(tmp_path / "state.db")
        await store.start()
        try:
            for key, states, kw, at in (
                ("db", [("a", "firing")], {"title": "DbDown"}, 10),
                (
                    "web",
                    [("a", "firing")],
                    {"title": "Slow", "severity": "warning", "namespace": "staging"},
                    20,
                ),
                ("old", [("a", "firing")], {"title": "Gone"}, 30),
                ("old", [("a", "resolved")], {"title": "Gone"}, 90),
            ):
                p = planned(key, *states, dest=DEST)
                await store.ingest([p], now=START + at, dedup_window=60, incident=note(key, *states, **kw))  # type: ignore[arg-type]
        finally:
            await store.close()

    asyncio.run(go())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def test_list_shows_open_ones_by_severity_and_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path)
    code, out, _ = run(capsys, "incidents", "list", "--config", cfg)
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "STATE", "SEVERITY", "AGE", "ALERTS", "NAMESPACE", "TITLE"]
    assert [(r[0], r[1], r[2], r[5], r[6]) for r in rows(out)] == [
        (group_ref("db"), "open", "critical", "prod", "DbDown"),
        (group_ref("web"), "open", "warning", "staging", "Slow"),
    ]
    _, out, _ = run(capsys, "incidents", "list", "--config", cfg, "--all")
    assert [r[6] for r in rows(out)] == ["DbDown", "Slow", "Gone"]
    _, out, _ = run(capsys, "incidents", "list", "--config", cfg, "--resolved")
    assert [r[6] for r in rows(out)] == ["Gone"]
    _, out, _ = run(capsys, "incidents", "list", "--config", cfg, "--namespace", "staging")
    assert [r[6] for r in rows(out)] == ["Slow"]
    _, out, _ = run(
        capsys, "incidents", "list", "--config", cfg, "--severity", "critical", "--receiver", "oncall"
    )
    assert [r[6] for r in rows(out)] == ["DbDown"]
    _, out, _ = run(capsys, "incidents", "list", "--config", cfg, "--receiver", "nobody")
    assert out == "no incidents\n"


def test_show_and_postmortem_by_id_or_prefix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path)
    ref = group_ref("old")
    code, out, _ = run(capsys, "incidents", "show", "--config", cfg, ref[:5])
    assert code == 0
    assert out.splitlines()[0] == "Gone (critical) — resolved"
    assert f"id:        {ref}" in out
    timeline = out.split("timeline:\n")[1].splitlines()
    assert [line.split()[2] for line in timeline] == ["+30s", "+1m30s"]
    assert timeline[-1].endswith("Gone resolved (1 alert)  [alertmanager]")
    code, out, err = run(capsys, "postmortem", "--config", cfg, ref)
    assert code == 0 and err == ""
    assert out.startswith("# Post-mortem: Gone (critical), 2026-01-01\n")
    assert "| Time to resolve | 1m30s |" in out and "| Time to acknowledge | not acknowledged |" in out
    assert "- [ ] Find out why no one acknowledged it" in out


@pytest.mark.parametrize("command", [["postmortem"], ["incidents", "show"]])
def test_an_unknown_or_ambiguous_id_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path)
    code, out, err = run(capsys, *command, "--config", cfg, "nope")
    assert (code, out) == (1, "")
    assert err == f"alertmedic {command[0]}: nope: no such incident\n"
    code, out, err = run(capsys, *command, "--config", cfg, "")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and "no such incident" in err
