"""What every config section is built from: the strict base model, durations, file paths.

Relative paths resolve against the directory of the config file (as Alertmanager does), given to
validation as the context key `base_dir`; without one (text parsed directly) they stay relative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from app.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in YAML as a Prometheus duration ("30s", "5m", "1h30m")."""


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
"""A Duration that must be longer than 0s (timeouts, windows)."""


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def base_dir(info: ValidationInfo) -> Path | None:
    """The directory relative paths are resolved against, if validation was given one."""
    context: Any = info.context
    found = context.get("base_dir") if isinstance(context, dict) else None
    return found if isinstance(found, Path) else None


def resolve_path(path: Path, info: ValidationInfo) -> Path:
    """`path` made absolute against the config file's directory (unchanged if absolute)."""
    base = base_dir(info)
    return path if path.is_absolute() or base is None else base / path


ConfigPath = Annotated[Path, AfterValidator(resolve_path)]
"""A file path in the config: relative ones are relative to the config file's directory."""


def one_of(model: BaseModel, *names: str, required: bool) -> None:
    """At most one (exactly one if `required`) of the fields `names` is set."""
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) > 1:
        raise ValueError(f"set only one of {', '.join(names)}")
    if required and not given:
        raise ValueError(f"one of {', '.join(names)} is required")
