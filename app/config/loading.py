"""Loading a config file: YAML, ${VAR} interpolation, validation, secret checks, all problems.

Two modes. `strict` (serve, `check-config --strict`): an unset variable, an unreadable or empty
secret is an error. Lenient (`check-config`, `routes test`, on a machine that lacks the
deployment's environment): those are warnings (an unset variable becomes "", which a secret
accepts until the strict check; other values still have to be valid).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.console import console_problems
from app.config.escalation import escalation_problems
from app.config.heartbeats import heartbeat_problems
from app.config.model import Config
from app.config.problems import ConfigError, Problem, pydantic_problems
from app.config.remediation import kubeconfig_problems
from app.config.routes import RouteConfig
from app.config.secrets import secret_problems
from app.config.time_intervals import interval_names
from app.core.routing import validate

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class YamlLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` without YAML 1.1's base-60 numbers: an unquoted `17:00` stays the text
    "17:00" (as in Alertmanager, whose YAML library has no base-60), not the integer 1020."""


def _without_base60() -> None:
    int_re = re.compile(
        r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""", re.X
    )
    float_re = re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    )
    replaced = {"tag:yaml.org,2002:int": int_re, "tag:yaml.org,2002:float": float_re}
    # A class-level copy: SafeLoader's own table (shared by yaml.safe_load) is left as it is.
    YamlLoader.yaml_implicit_resolvers = {
        first: [(tag, replaced.get(tag, regexp)) for tag, regexp in resolvers]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_without_base60()


def interpolate(node: Any, env: Mapping[str, str], path: str = "") -> tuple[Any, list[Problem]]:
    """Replace ${VAR} in every string scalar with env[VAR]; `$$` is a literal `$`. An unset
    variable becomes "" and is reported at the path of the value using it."""
    problems: list[Problem] = []
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                problems.append((path, f"environment variable {name} is not set"))
                return ""
            return env[name]

        return _VAR.sub(sub, node), problems
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            out[k], p = interpolate(v, env, f"{path}.{k}" if path else str(k))
            problems += p
        return out, problems
    if isinstance(node, list):
        items = []
        for i, v in enumerate(node):
            item, p = interpolate(v, env, f"{path}[{i}]")
            items.append(item)
            problems += p
        return items, problems
    return node, problems


def _receiver_names(raw: Any) -> tuple[set[str], list[Problem]]:
    names: set[str] = set()
    problems: list[Problem] = []
    if not isinstance(raw, list):
        return names, problems
    for i, r in enumerate(raw):
        if isinstance(r, dict) and isinstance(r.get("name"), str):
            if r["name"] in names:
                problems.append((f"receivers[{i}].name", f"duplicate receiver name {r['name']!r}"))
            names.add(r["name"])
    return names, problems


def _route_problems(
    config: Config | None, raw: dict[str, Any], names: set[str], base: dict[str, Any]
) -> list[Problem]:
    """The route tree's cross-references (receivers and time intervals exist, root rules),
    also when other sections of the file are invalid."""
    intervals = interval_names(raw)
    if config is not None:
        return validate(config.route.tree, names, intervals)
    if not isinstance(raw.get("route"), dict):
        return []
    try:
        route = RouteConfig.model_validate(raw["route"], context=base)
    except ValidationError:
        return []  # its own problems are listed by the full validation
    return validate(route.tree, names, intervals)


@dataclass(frozen=True)
class Loaded:
    config: Config
    warnings: list[Problem]


def parse_config(
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    check_files: bool = True,
    base_dir: Path | None = None,
) -> Loaded:
    """Validate YAML text. Raises ConfigError with every problem found.

    `check_files` is the strict mode (see the module docstring). Relative paths resolve against
    `base_dir` (the config file's directory) when given.
    """
    try:
        raw = yaml.load(text, Loader=YamlLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else source
        raise ConfigError([("", f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError([("", "the configuration must be a YAML mapping")])
    raw, unset = interpolate(raw, os.environ if env is None else env)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    (problems if check_files else warnings).extend(unset)
    unset_paths = {path for path, _ in unset}
    names, name_problems = _receiver_names(raw.get("receivers"))
    problems += name_problems
    context: dict[str, Any] = {"base_dir": base_dir} if base_dir is not None else {}
    config: Config | None = None
    try:
        config = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        problems += pydantic_problems(exc, Config)
    problems += _route_problems(config, raw, names, context)
    if config is not None:
        problems += escalation_problems(config.escalation_policies, config.route, names)
        silent = {r.name for r in config.receivers if next(r.integrations(), None) is None}
        problems += heartbeat_problems(config.heartbeats, names, silent=silent)
    if config is not None:
        files = secret_problems(config) + kubeconfig_problems(config.remediation)
        for path, message in files + console_problems(config.console):
            if check_files:
                problems.append((path, message))
            elif path not in unset_paths:
                warnings.append((path, message))
    if problems or config is None:
        raise ConfigError(sorted(set(problems), key=problems.index))
    return Loaded(config, warnings)


def load_config(
    path: str | Path, *, env: Mapping[str, str] | None = None, check_files: bool = True
) -> Loaded:
    """Read and validate a config file; its relative paths are relative to its directory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("", f"cannot read {p}: {exc.strerror}")]) from None
    return parse_config(text, env=env, source=str(p), check_files=check_files, base_dir=p.absolute().parent)
