"""`api:`: the authenticated HTTP API under /api/v1 (actions now, incidents later).

Its bearer token is separate from the webhook's. With no token configured the API answers 401 to
everyone: it never serves an unauthenticated caller.
"""

from __future__ import annotations

from typing import ClassVar

from app.config.secrets import Secret, SecretField, SecretFile, SecretModel, Secrets


class ApiConfig(SecretModel):
    secrets: ClassVar[Secrets] = (SecretField("bearer_token", required=False),)
    bearer_token: Secret = None
    bearer_token_file: SecretFile = None
