"""A started `alertmedic serve` with an `enrichment:` section (logs and graphs) loads neither
matplotlib nor numpy until it draws its first graph: that keeps idle RSS low (README, Performance)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.proc import ServiceProcess

HEAVY = ("matplotlib", "numpy", "PIL")
"""Packages with extension modules, so loading one maps its files into the process."""


async def test_serve_with_enrichment_imports_no_plotting_library_until_a_graph(tmp_path: Path) -> None:
    config = {
        "server": {"listen": "127.0.0.1:0", "auth": {"bearer_token": "t" * 32}},
        "storage": {"url": f"sqlite:///{tmp_path}/state.db"},
        "enrichment": {
            "loki": {"url": "http://127.0.0.1:9/loki"},
            "prometheus": {"url": "http://127.0.0.1:9/prom"},
            "rules": [{"logs": {"query": '{app="{{ labels.app }}"}'}, "graph": {"range": "1h"}}],
        },
        "receivers": [{"name": "sink", "file_configs": [{"path": str(tmp_path / "out.log")}]}],
        "route": {"receiver": "sink"},
    }
    service = ServiceProcess(tmp_path, config)
    await service.start()
    try:
        assert service.proc is not None
        maps = Path(f"/proc/{service.proc.pid}/maps").read_text()
    finally:
        service.stop()
    assert "site-packages/aiohttp" in maps  # the check reads the right process
    assert [name for name in HEAVY if f"site-packages/{name}/" in maps] == []
