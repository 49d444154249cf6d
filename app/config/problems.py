"""Config problems as (yaml path, message) pairs, so `check-config` can list all of them at once.

Unknown keys come with the nearest valid name ("did you mean `max_body_bytes`?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from app.config.time_intervals import PROBLEMS
from app.core.models import field_path

Problem = tuple[str, str]


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists (yaml path, message) pairs."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p}: {m}" if p else m for p, m in problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean `x`?)` for the closest of `choices`, or "" when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def unknown_receiver(path: str, name: str, receivers: Iterable[str]) -> Problem:
    """The problem of a reference to a receiver that does not exist, with the nearest name."""
    return (path, f"unknown receiver {name!r}{did_you_mean(name, sorted(receivers))}")


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class whose field set the key at `loc` belongs to, following the schema."""
    model: Any = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = getattr(model, "model_fields", None)
        if not isinstance(fields, dict):
            return None
        by_alias = {(f.alias or name): f for name, f in fields.items()}
        info = by_alias.get(part)
        if info is None:
            return None
        model = _inner_model(info.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def pydantic_problems(exc: ValidationError, root: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        if err["type"] == PROBLEMS:  # already (yaml path, message) pairs, one per problem
            problems += err.get("ctx", {}).get("problems", [])
        elif err["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            keys = [f.alias or n for n, f in parent.model_fields.items()] if parent else []
            problems.append((field_path(loc), "unknown key" + did_you_mean(str(loc[-1]), keys)))
        elif err["type"] == "missing":
            problems.append((field_path(loc), "required key is missing"))
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append((field_path(loc), msg))
    return problems
