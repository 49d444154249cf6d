"""`receivers:`: named receivers, each with lists of integrations under `<kind>_configs`.

The `<kind>_configs` fields are made from the table `KINDS` of app.config.integrations, so a new
kind needs no edit here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model

from app.config.base import Strict
from app.config.integrations import KINDS, IntegrationConfig


class _Receiver(Strict):
    name: str = Field(min_length=1)

    def configs(self, kind: str) -> list[IntegrationConfig]:
        """The integrations of one kind, in config order."""
        configs: list[IntegrationConfig] = getattr(self, f"{kind}_configs")
        return configs

    def integrations(self) -> Iterator[tuple[str, int, IntegrationConfig]]:
        """Each integration with its kind and index, in a stable order (the order of `KINDS`)."""
        for kind in KINDS:
            for index, config in enumerate(self.configs(kind)):
                yield kind, index, config


def _fields() -> dict[str, Any]:
    return {f"{kind}_configs": (list[model], Field(default_factory=list)) for kind, model in KINDS.items()}  # type: ignore[valid-type]


if TYPE_CHECKING:
    ReceiverConfig = _Receiver
else:
    ReceiverConfig = create_model("ReceiverConfig", __base__=_Receiver, __module__=__name__, **_fields())
    ReceiverConfig.__doc__ = "A named receiver and its integrations."
