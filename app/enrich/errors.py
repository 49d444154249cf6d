"""Why an enrichment fetch failed, in words fit for the message ("Loki answered 503").

EnrichmentError      degrade: the notification goes out without this part and says why
 └── FetchTimeout    the backend did not answer within its timeout

`str(error)` is short, names the service, and never holds a credential or a URL.
"""

from __future__ import annotations

from typing import Literal


class EnrichmentError(Exception):
    """A fetch failed; `outcome` is the metrics label ("error" or "timeout")."""

    outcome: Literal["error", "timeout"] = "error"


class FetchTimeout(EnrichmentError):
    outcome: Literal["error", "timeout"] = "timeout"
