"""Secrets: every secret is given inline (`name`) or by a file (`name_file`), never both.

A model declares its secrets once in `secrets` (a class variable) and types each pair as
`Secret` / `SecretFile`; `SecretModel` checks the pairs, `secret(model, name)` reads the value,
and `secret_problems` finds the empty or unreadable ones for `serve` and `check-config --strict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr, model_validator

from app.config.base import ConfigPath, Strict, one_of

Secret = SecretStr | None
"""The inline form of a secret (masked in repr and dumps)."""
SecretFile = ConfigPath | None
"""The file form of a secret: its content, trailing newline stripped."""


@dataclass(frozen=True)
class SecretField:
    """One secret of a model: `name` and `name_file`; `required` means one of them must be set."""

    name: str
    required: bool = True

    @property
    def file(self) -> str:
        return f"{self.name}_file"


Secrets = tuple[SecretField, ...]


class SecretModel(Strict):
    """A config model holding secrets, each a `SecretField` pair."""

    secrets: ClassVar[Secrets] = ()

    @model_validator(mode="after")
    def _secret_pairs(self) -> SecretModel:
        for spec in self.secrets:
            one_of(self, spec.name, spec.file, required=spec.required)
        return self

    def extra_secrets(self) -> list[str]:
        """Secret values the model carries elsewhere (e.g. a password inside a URL)."""
        return []

    def has_secret(self, name: str) -> bool:
        return getattr(self, name) is not None or getattr(self, f"{name}_file") is not None


def read_secret(value: SecretStr | None, file: Path | None) -> str | None:
    """The secret's value, from the inline value or the file (trailing newline stripped)."""
    if value is not None:
        return value.get_secret_value()
    if file is not None:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    return None


def secret(model: SecretModel, name: str) -> str | None:
    """The value of the secret `name` of `model` (None when neither form is set)."""
    return read_secret(getattr(model, name), getattr(model, f"{name}_file"))


def _walk(node: Any, path: str) -> Iterator[tuple[str, BaseModel]]:
    if isinstance(node, BaseModel):
        yield path, node
        fields = type(node).model_fields
        for name, info in fields.items():
            key = info.alias or name
            yield from _walk(getattr(node, name), f"{path}.{key}" if path else key)
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def secret_files(root: BaseModel) -> Iterator[tuple[str, Path]]:
    """Every secret file in the config with its YAML path."""
    for path, model in _walk(root, ""):
        if isinstance(model, SecretModel):
            for spec in model.secrets:
                file = getattr(model, spec.file)
                if file is not None:
                    yield f"{path}.{spec.file}" if path else spec.file, file


def secret_problems(root: BaseModel) -> list[tuple[str, str]]:
    """Secrets that cannot be used: an unreadable file, an empty file or an empty value."""
    problems: list[tuple[str, str]] = []
    for path, model in _walk(root, ""):
        if not isinstance(model, SecretModel):
            continue
        for spec in model.secrets:
            where = f"{path}." if path else ""
            value: SecretStr | None = getattr(model, spec.name)
            file: Path | None = getattr(model, spec.file)
            if value is not None and not value.get_secret_value().strip():
                problems.append((where + spec.name, "is empty"))
            elif file is not None:
                try:
                    content = file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    reason = "" if isinstance(exc, OSError) else ": not UTF-8 text"
                    problems.append((where + spec.file, f"cannot read {file}" + reason))
                else:
                    if not content.strip():
                        problems.append((where + spec.file, f"{file} is empty"))
    return problems


def secret_values(root: BaseModel) -> list[str]:
    """Every secret value the config carries or points to, so logs can scrub them."""
    out: list[str] = []
    for _, model in _walk(root, ""):
        if isinstance(model, SecretModel):
            for spec in model.secrets:
                try:
                    value = secret(model, spec.name)
                except (OSError, UnicodeDecodeError):
                    continue
                if value and value.strip():
                    out.append(value.strip())
            out.extend(model.extra_secrets())
    return out
