"""Structural lint of deploy/Dockerfile (no Docker engine needed): multi-stage, slim Python 3.11,
wheels built in the builder and installed offline in the runtime, non-root, no toolchain."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.deploy.conftest import DEPLOY, ROOT, one, render

DOCKERFILE = DEPLOY / "Dockerfile"
IGNOREFILE = DEPLOY / "Dockerfile.dockerignore"
TOOLCHAIN = {
    "build-essential",
    "gcc",
    "g++",
    "cc",
    "clang",
    "make",
    "cmake",
    "libc6-dev",
    "python3-dev",
    "python3.11-dev",
    "libffi-dev",
    "libssl-dev",
    "rustc",
    "cargo",
    "gfortran",
}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are removed by Docker too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    assert not pending, "dangling line continuation"
    return out


def _parse() -> tuple[dict[str, str], list[Stage]]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert m, rest
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda v: global_args[v.group(1) or v.group(2)], m.group(1))
            stages.append(Stage(base=base, name=m.group(2)))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def _final() -> Stage:
    return _parse()[1][-1]


def test_parser_directive_enables_buildkit_syntax() -> None:
    first = DOCKERFILE.read_text(encoding="utf-8").splitlines()[0]
    assert re.fullmatch(r"# syntax=docker/dockerfile:1(\.\d+)*", first)


def test_multi_stage_on_slim_python_311() -> None:
    _, stages = _parse()
    assert len(stages) >= 2
    names = [s.name for s in stages]
    assert all(names) and len(set(names)) == len(names), names
    for s in stages:
        image, _, tag = s.base.partition(":")
        assert image in {"python", "docker.io/library/python"}, s.base
        assert re.match(r"3\.11(\.\d+)?-slim", tag), s.base


def test_builder_builds_wheels() -> None:
    builder = _parse()[1][0]
    runs = " ".join(builder.args("RUN"))
    assert re.search(r"\bpip wheel\b.*--wheel-dir[ =]/wheels", runs), runs


def test_final_stage_installs_only_the_builders_wheels() -> None:
    final = _final()
    builder = _parse()[1][0].name
    installs = [r for r in final.args("RUN") if "pip install" in r]
    assert len(installs) == 1, installs
    install = installs[0]
    assert "--no-index" in install, "the runtime stage must not reach a package index"
    assert f"from={builder}" in install and "target=/wheels" in install
    assert "--find-links=/wheels" in install
    for copy in final.args("COPY"):
        assert "--from=" not in copy or "/wheels" in copy, copy
    assert not final.args("ADD")


def test_final_stage_has_no_toolchain() -> None:
    final = _final()
    for run in final.args("RUN"):
        words = set(re.split(r"[\s;&|]+", run))
        assert not words & TOOLCHAIN, run
        if re.search(r"\b(apt-get|apt|apk|dnf|yum)\b.*\binstall\b", run):
            pytest.fail(f"the runtime stage installs OS packages: {run}")


def test_runs_as_numeric_non_root_user() -> None:
    users = _final().args("USER")
    assert users, "final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert uid == "10001" and gid in ("", "10001"), users[-1]
    keywords = [k for k, _ in _final().instructions]
    assert "RUN" not in keywords[keywords.index("USER") :], "RUN after USER runs as 10001 anyway"


def test_entrypoint_cmd_and_port() -> None:
    final = _final()
    assert [json.loads(a) for a in final.args("ENTRYPOINT")] == [["alertmedic"]]
    assert [json.loads(a) for a in final.args("CMD")] == [["serve", "--config", "/etc/alertmedic/config.yml"]]
    assert final.args("EXPOSE") == ["9095"]


def test_image_contract_matches_the_kubernetes_deployment() -> None:
    final = _final()
    cmd = json.loads(final.args("CMD")[0])
    for overlay in ("prod", "staging"):
        deployment = one(render(overlay), "Deployment", "alertmedic")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == cmd
        assert container["ports"][0]["containerPort"] == int(final.args("EXPOSE")[0])
        uid = int(final.args("USER")[-1].split(":")[0])
        assert container["securityContext"]["runAsUser"] == uid


def test_console_script_exists_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["alertmedic"]
    assert project["requires-python"].startswith(">=3.11")


# --- build context ------------------------------------------------------------------------


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in IGNOREFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip("/")
        rx = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                rx += "(?:.*/)?"
                i += 3
            elif line.startswith("**", i):
                rx += ".*"
                i += 2
            elif line[i] == "*":
                rx += "[^/]*"
                i += 1
            elif line[i] == "?":
                rx += "[^/]"
                i += 1
            elif line[i] == "[":
                end = line.index("]", i)
                rx += line[i : end + 1]
                i = end + 1
            else:
                rx += re.escape(line[i])
                i += 1
        patterns.append((negate, re.compile(rx)))
    return patterns


def _in_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for negate, rx in _ignore_patterns():
        if any(rx.fullmatch(c) for c in candidates):
            excluded = not negate
    return not excluded


def _copy_sources() -> list[str]:
    sources: list[str] = []
    for stage in _parse()[1]:
        for copy in stage.args("COPY"):
            words = [w for w in copy.split() if not w.startswith("--")]
            if "--from=" not in copy:
                sources += words[:-1]
    return sources


def test_build_context_contains_what_the_build_copies() -> None:
    sources = _copy_sources()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # setuptools needs the readme named in pyproject.toml to build the wheel.
    assert project["readme"] in sources
    assert {"pyproject.toml", "app"} <= set(sources)
    for src in sources:
        assert _in_context(src), src
    for path in (ROOT / "app").rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and "__pycache__" not in rel:
            assert _in_context(rel), rel


def test_build_context_excludes_local_state() -> None:
    for rel in (
        ".venv/bin/python",
        ".git/config",
        "data/alertmedic.db",
        "tests/conftest.py",
        "deploy/kubernetes/examples/secret.example.yaml",
        "app/__pycache__/x.pyc",
        ".env",
        "examples/local.yml",
    ):
        assert not _in_context(rel), rel


def test_ignore_matcher_semantics() -> None:
    """The tiny matcher above agrees with Docker on the cases this file relies on."""
    assert _in_context("app/web/app.py")
    assert not _in_context("app/web/__pycache__/app.cpython-311.pyc")
    assert not _in_context("Makefile")


def test_k8s_yaml_is_not_in_the_image_context() -> None:
    # A real Secret accidentally written into deploy/ must never be baked into an image.
    for path in DEPLOY.rglob("*.yaml"):
        assert not _in_context(path.relative_to(ROOT).as_posix()), path
