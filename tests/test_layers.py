"""The layering of app/ is enforced: imports point downward only, and the core does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# A package may import from itself and from the layers listed for it (and nothing higher).
ALLOWED = {
    "core": {"core"},
    "config": {"core", "config"},
    "store": {"store", "core", "config"},
    "sinks": {"sinks", "core", "config"},
    "enrich": {"enrich", "core", "config"},
    "engine": {"engine", "store", "sinks", "core", "config", "metrics", "remediate"},
    "web": {"web", "engine", "store", "sinks", "enrich", "core", "config", "metrics", "remediate", "chatops"},
    "metrics": {"metrics"},
    "logs": {"logs"},
    "cli": {"web", "store", "core", "config", "logs", "cli", "engine", "remediate"},
    "remediate": {"remediate", "core", "config"},
    "chatops": {"chatops", "core", "config"},
}
IO_LIBRARIES = {
    "aiohttp",
    "telegram",
    "aiosmtplib",
    "kubernetes",
    "sqlite3",
    "socket",
    "httpx",
    "asyncio",
    "subprocess",
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(APP)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_imports_point_downward() -> None:
    problems = []
    for path in APP.rglob("*.py"):
        layer = layer_of(path)
        if layer in ("__init__", "__main__"):
            continue
        for mod in imports(path):
            if mod == "app" or not mod.startswith("app."):
                continue
            target = mod.split(".")[1]
            if target not in ALLOWED.get(layer, set()):
                problems.append(f"{path.relative_to(APP)} imports {mod}")
    assert problems == []


def test_core_does_no_io() -> None:
    problems = [
        f"{p.name} imports {m}"
        for p in (APP / "core").rglob("*.py")
        for m in imports(p)
        if m.split(".")[0] in IO_LIBRARIES
    ]
    assert problems == []


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(p.relative_to(APP))
        for p in APP.rglob("*.py")
        if ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []


def test_no_sink_imports_another_sink() -> None:
    """Sinks share code through app.sinks.base and app.sinks.http only; the registry imports them all."""
    shared = {"app.sinks.base", "app.sinks.http"}
    problems = [
        f"{p.name} imports {m}"
        for p in (APP / "sinks").glob("*.py")
        if p.stem not in ("__init__", "registry")
        for m in imports(p)
        if m.startswith("app.sinks.") and m not in shared
    ]
    assert problems == []
