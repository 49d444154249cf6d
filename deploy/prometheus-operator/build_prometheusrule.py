#!/usr/bin/env python3
"""Build the PrometheusRule for prometheus-operator from the plain rule files in rules/.

rules/*.rules.yml are ordinary Prometheus rule files (`groups:`), used as they are by a plain
Prometheus and by promtool. prometheus-operator wants the same groups wrapped in a
PrometheusRule object; this script does the wrapping so there is one source of truth:

    python3 deploy/prometheus-operator/build_prometheusrule.py          # rewrite the file
    python3 deploy/prometheus-operator/build_prometheusrule.py --check  # exit 1 if stale

Output is deterministic (files in name order, groups and rules in file order), so the
committed prometheusrule.yaml can be compared with a fresh build in the tests.
Needs only PyYAML.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEFAULT_RULES = ROOT / "rules"
DEFAULT_OUTPUT = HERE / "prometheusrule.yaml"

NAME = "alertmedic-rules"
NAMESPACE = "monitoring"
# Prometheus selects PrometheusRules by label (.spec.ruleSelector). kube-prometheus-stack's
# default selector is `release: <helm release name>`; change this to match your installation.
LABELS = {
    "app.kubernetes.io/name": "alertmedic",
    "app.kubernetes.io/part-of": "alertmedic",
    "release": "kube-prometheus-stack",
}
HEADER = """\
# GENERATED FILE - do not edit. Source: rules/*.rules.yml
# Regenerate: python3 deploy/prometheus-operator/build_prometheusrule.py
# (tests/deploy fails when this file and rules/ disagree)
"""


class RuleFileError(Exception):
    pass


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings (PromQL, descriptions), stable key order."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def rule_files(rules_dir: Path) -> list[Path]:
    return sorted(rules_dir.glob("*.rules.yml"))


def load_groups(rules_dir: Path) -> list[dict[str, Any]]:
    """All groups of all rule files, checked for the shape prometheus-operator accepts."""
    files = rule_files(rules_dir)
    if not files:
        raise RuleFileError(f"no *.rules.yml files in {rules_dir}")
    groups: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or set(data) != {"groups"}:
            raise RuleFileError(f"{path.name}: expected a mapping with only `groups`")
        for group in data["groups"] or []:
            name = group.get("name")
            if not name or not group.get("rules"):
                raise RuleFileError(f"{path.name}: every group needs a name and rules")
            if name in seen:
                raise RuleFileError(f"{path.name}: group {name!r} already defined in {seen[name]}")
            seen[name] = path.name
            groups.append(group)
    return groups


def build(rules_dir: Path = DEFAULT_RULES) -> str:
    """The PrometheusRule manifest (YAML text) for the rule files in `rules_dir`."""
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": dict(LABELS)},
        "spec": {"groups": load_groups(rules_dir)},
    }
    body = yaml.dump(
        manifest,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 16,
        default_flow_style=False,
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules-dir", type=Path, default=DEFAULT_RULES)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the output file is missing or stale",
    )
    args = parser.parse_args(argv)
    try:
        text = build(args.rules_dir)
    except (RuleFileError, yaml.YAMLError) as exc:
        print(f"build_prometheusrule: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is stale; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
