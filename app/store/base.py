"""The Store protocol the engine uses, and the records it returns. SQLite today, PostgreSQL later.

Every operation is one transaction with an outcome defined under concurrency, so several
processes (and a PostgreSQL store) can share the queue:

- `ingest`: the dedup decision is one conditional upsert per thread (group key, destination): of
  concurrent ingests of the same alert state, exactly one enqueues a job for that destination.
- `claim`: a worker (`owner`) takes the next pending jobs of a lane and leases the lane. A lane
  leased by another live owner gives nothing: a lane is worked by one owner at a time, in id
  order. The owner keeps what it claimed and reads past it (`after`), so a finished job it has
  not yet recorded is never read back. A claim from the start (`after=0`) that finds nothing
  pending frees the lane.
- `claim_enrichment`: of concurrent claims of one alert group state, one gets `claimed` (it
  fetches, then `save_enrichment`); the others get `busy` until it saves (`done`, with the
  result) or its lease runs out (then the next claim takes it over).
- `complete`, `retry`, `dead` record an outcome; `renew` extends an owner's leases; `release`
  gives them back.
- `reserve_rate`: of concurrent reservations of one bucket, never more conform than its rate
  allows, whichever replica makes them. `hold_lease`: one owner at a time holds a named lease.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from app.core.plan import Planned
from app.core.ratelimit import Limit

if TYPE_CHECKING:
    from app.core.console.session import ConsoleSession
    from app.core.incidents import IncidentFilter, IncidentNote, IncidentSummary, TimelineEvent
    from app.store.heartbeats import HeartbeatChange, HeartbeatState, JobsFor
    from app.store.incidents import IncidentFacts, ResolvedIncident
    from app.store.remediations import NewRemediation, Remediation


class StoreUnavailable(Exception):
    """The store cannot take writes now (disk full, locked, closed): callers answer 503."""


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue (other than the notify jobs `ingest` makes)."""

    type: str
    lane: str
    """What must stay in order: a destination id, a remediation target."""
    payload: str
    not_before: float
    """Not run before this time (timers)."""
    group_key: str = ""
    kind: str = ""
    receiver: str = ""
    integration: str = ""
    """Metric labels of the job (for notify: its destination's receiver and integration)."""


@dataclass(frozen=True)
class Job:
    id: int
    type: str
    lane: str
    group_key: str
    kind: str
    """For notify jobs: `new` (a new message) or `update` (edit the thread's message)."""
    receiver: str
    integration: str
    payload: str
    """For notify jobs: the Group as JSON."""
    accepted_at: float
    attempts: int
    not_before: float
    message_ref: dict[str, Any] | None
    """The thread's message reference when the job was claimed."""


@dataclass(frozen=True)
class IngestResult:
    enqueued: list[tuple[str, int]]
    """(destination, job id) of each notification recorded."""
    duplicates: list[str]
    """Destinations for which the message was a duplicate."""
    remediation_jobs: list[tuple[str, int]] = field(default_factory=list)
    """(lane, job id) of each remediation job the same transaction added."""
    resolved: ResolvedIncident | None = None
    """The incident this webhook resolved (once per episode, whichever process took it)."""


@dataclass(frozen=True)
class EnrichmentClaim:
    """The answer to `claim_enrichment`."""

    status: Literal["done", "claimed", "busy"]
    """done: `result` is the stored enrichment; claimed: the caller fetches it; busy: another
    worker is fetching it until `until`."""
    result: str | None = None
    until: float = 0.0


@dataclass(frozen=True)
class DeadLetter:
    id: int
    type: str
    lane: str
    group_key: str
    receiver: str
    integration: str
    accepted_at: float
    finished_at: float | None
    attempts: int
    error: str | None


@dataclass(frozen=True)
class LaneDeaths:
    """Jobs dead-lettered together by `dead_lanes`, per lane and metric labels."""

    lane: str
    receiver: str
    integration: str
    count: int


@dataclass(frozen=True)
class ChatGroup:
    """The chat state of one alert group (app.core.chatops.message.GroupChatState is what a
    message shows of it). Times are Unix seconds."""

    ref: str
    """Opaque id carried by the group's buttons (`group_ref(group_key)`)."""
    group_key: str
    payload: str
    """The group as JSON, as last notified."""
    resolved: bool
    first_notified_at: float
    ack_by: str | None = None
    ack_at: float | None = None
    ack_cleared_by: str | None = None
    silence_id: str | None = None
    silence_by: str | None = None
    silence_until: float | None = None
    escalations: tuple[tuple[str, float], ...] = ()
    """(receiver, at) of each escalation notified, in order."""
    started: bool = False
    """Set by `chat_note` when that notification started the group: its first, or the first
    firing one after it resolved (escalation progress and ack start afresh)."""


@dataclass(frozen=True)
class ChatAudit:
    """One chat action: who, from where, what, on which group, and how it ended."""

    at: float
    source: str
    """`telegram`, `slack` or `console`."""
    user_key: str
    """As `permissions:` writes it: `telegram:111`."""
    user_name: str
    action: str
    group_key: str
    outcome: str
    """`done`, `refused`, `failed`, `stale`."""
    detail: str


def group_ref(group_key: str) -> str:
    """The opaque id of a group's chat state: 16 characters of its key's SHA-256 (base64url)."""
    digest = hashlib.sha256(group_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ingest(
        self,
        plans: Sequence[Planned],
        *,
        now: float,
        dedup_window: float,
        remediations: Sequence[NewRemediation] = (),
        resolved: Sequence[str] = (),
        incident: IncidentNote | None = None,
    ) -> IngestResult:
        """Record the notify jobs `plans` imply, durably, in one transaction; dedup by thread.
        In the same transaction: the remediation intents, and the cancellation of open ones of the
        `resolved` fingerprints (app.store.remediations.record_intents); and the incident's new
        state and events (app.store.incidents.note_incident)."""
        ...

    async def enqueue(self, jobs: Sequence[NewJob], *, now: float) -> list[int]:
        """Record jobs durably in one transaction; return their ids in order."""
        ...

    async def claim(
        self, lane: str, *, owner: str, now: float, lease: float, limit: int, after: int = 0
    ) -> list[Job]:
        """The lane's next pending jobs (ids above `after`, in id order, at most `limit`), the lane
        leased to `owner` until `now + lease`; nothing while another owner's lease is live."""
        ...

    async def renew(self, owner: str, *, until: float) -> int:
        """Extend every lane lease `owner` holds to `until`; return how many lanes."""
        ...

    async def release(self, owner: str) -> int:
        """Give back every lane `owner` holds; return how many."""
        ...

    async def complete(self, job: Job, *, ref: dict[str, Any] | None, now: float) -> None:
        """Record a job done (and the thread's new message reference, when given)."""
        ...

    async def pending_jobs(self, lane: str, *, type: str, after: int = 0, limit: int = 1000) -> list[Job]:
        """The lane's pending jobs of `type` with ids above `after`, in id order, at most `limit`
        (a storm digest reads its lane's backlog; the caller holds the lane's lease)."""
        ...

    async def complete_many(self, jobs: Sequence[Job], *, ref: dict[str, Any] | None, now: float) -> int:
        """Record `jobs` done in one transaction and, when `ref` is given, make it the message
        reference of each one's thread (the digest that covered them); return how many of them
        were still pending."""
        ...

    async def claim_enrichment(
        self, group_key: str, state: str, *, owner: str, now: float, lease: float
    ) -> EnrichmentClaim:
        """The stored enrichment of one group state, or the right to fetch it (leased to `owner`
        until `now + lease`), or `busy` while another owner's lease is live."""
        ...

    async def save_enrichment(self, group_key: str, state: str, *, result: str, now: float) -> None:
        """Store the enrichment of one group state (JSON, already redacted)."""
        ...

    async def latest_enrichment(self, group_key: str) -> str | None:
        """The most recently stored enrichment of any state of the group, if any."""
        ...

    async def retry(self, job_id: int, *, attempts: int, not_before: float, error: str) -> None: ...

    async def dead(self, job_id: int, *, reason: str, now: float) -> None: ...

    async def dead_lanes(self, *, type: str, keep: set[str], reason: str, now: float) -> list[LaneDeaths]:
        """Dead-letter every pending job of `type` whose lane is not in `keep`."""
        ...

    async def dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        """The most recent dead-lettered jobs, newest first."""
        ...

    async def requeue(self, job_ids: Sequence[int] | None, *, now: float) -> list[int]:
        """Make dead-lettered jobs pending again (all of them when `job_ids` is None), attempts
        reset; return the ids requeued (a job that is not dead is left alone)."""
        ...

    async def pending_count(self) -> int: ...

    async def pending_lanes(self) -> set[str]: ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store can take writes now (with the reason)."""
        ...

    async def purge(self, *, older_than: float) -> int:
        """Delete finished jobs, idle threads, incident events and incidents unchanged since,
        older than the timestamp; return rows removed."""
        ...

    # --- several replicas ------------------------------------------------------------------

    async def reserve_rate(self, limits: Sequence[Limit], *, now: float) -> float:
        """Take one send at `now` from every rate-limit bucket of `limits` (0.0), or return the
        seconds to wait (nothing taken); every key decided in one transaction, for all replicas
        (app.core.ratelimit.reserve_tats)."""
        ...

    async def penalise_rate(self, limit: Limit, *, until: float) -> None:
        """No send on `limit`'s bucket before `until` (the provider answered 429 retry-after)."""
        ...

    async def hold_lease(self, name: str, *, owner: str, now: float, lease: float) -> bool:
        """Take or renew the named lease (a front-end that runs on one replica only) for `owner`
        until `now + lease`; False while another owner's lease is live."""
        ...

    async def drop_lease(self, name: str, *, owner: str) -> bool:
        """Give the named lease back if `owner` holds it; whether it did."""
        ...

    # --- responding from chat ---------------------------------------------------------------

    async def chat_note(
        self, group_key: str, payload: str, *, firing: frozenset[str], resolved: bool, at: float, now: float
    ) -> ChatGroup:
        """Record the group as notified (payload accepted at `at`; an older one than stored is
        ignored) and return its chat state (`started` when this notification started it). A
        firing alert not firing when it was acknowledged clears the ack (`ack_cleared_by`)."""
        ...

    async def chat_group(self, ref: str) -> ChatGroup | None:
        """The group's chat state by its ref; None for an unknown (forged or purged) ref."""
        ...

    async def chat_ack(self, ref: str, *, by: str | None, now: float) -> ChatGroup | None:
        """Acknowledge the group as `by` (None: take the ack back); its new state."""
        ...

    async def chat_silence(
        self, ref: str, *, silence_id: str | None, by: str | None, until: float | None, now: float
    ) -> ChatGroup | None:
        """Record the group's silence (None: no silence any more); its new state."""
        ...

    async def chat_escalated(self, ref: str, *, receiver: str, at: float) -> ChatGroup | None:
        """Append an escalation notified to `receiver`; its new state."""
        ...

    async def chat_ref_of_message(self, chat_id: int, message_id: int) -> str | None:
        """The ref of the group whose Telegram message this is (a command replying to it)."""
        ...

    async def chat_open_groups(self, chat_id: int) -> list[ChatGroup]:
        """The groups not resolved whose Telegram message is in chat `chat_id` (/alerts)."""
        ...

    async def chat_destinations(self, group_key: str) -> list[str]:
        """The destinations holding a thread of the group (where its copies are)."""
        ...

    async def chat_replay(self, key: str, *, expires_at: float, now: float) -> bool:
        """Remember an accepted request's `key` until `expires_at`; False if it was already
        there (a replay). Expired keys are forgotten."""
        ...

    async def chat_remediations(self, group_key: str) -> list[Remediation]:
        """The group's remediations (newest first, at most 10): what its messages show of
        approvals."""
        ...

    async def chat_audit(self, entry: ChatAudit) -> None: ...

    async def chat_audits(self, *, limit: int = 100) -> list[ChatAudit]:
        """The most recent chat actions, newest first."""
        ...

    # --- the dead-man's switch (app.store.heartbeats) -----------------------------------------

    async def heartbeat_arm(self, name: str, *, timeout: float, now: float) -> HeartbeatChange:
        """Make sure the heartbeat has a row and, while waiting, one pending timer (see
        app.store.heartbeats.decide_arm for the rules)."""
        ...

    async def heartbeat_seen(
        self, names: Sequence[str], *, now: float, recovery: JobsFor
    ) -> list[HeartbeatChange]:
        """A matching webhook arrived: deadlines move; an alarmed heartbeat recovers (once)."""
        ...

    async def heartbeat_due(self, name: str, *, job_id: int, now: float, alarm: JobsFor) -> HeartbeatChange:
        """The timer `job_id` ran: alarm once past the deadline, else re-arm; stale: nothing."""
        ...

    async def heartbeats(self) -> list[HeartbeatState]:
        """Every heartbeat row, by name."""
        ...

    # --- the web console ------------------------------------------------------------------------

    async def console_login(self, token_hash: str, *, user: str, now: float, expires_at: float) -> None:
        """Open a session: the SHA-256 of its token, its user, when it ends (sessions already
        expired are forgotten)."""
        ...

    async def console_session(self, token_hash: str, *, now: float) -> ConsoleSession | None:
        """The live session with this token hash; None when unknown, logged out or expired."""
        ...

    async def console_logout(self, token_hash: str) -> bool:
        """End the session; False when there was none."""
        ...

    async def console_failures(self, keys: Sequence[str], *, since: float) -> dict[str, int]:
        """How many failed logins each throttle key has had since `since`."""
        ...

    async def console_failed(self, keys: Sequence[str], *, now: float) -> None:
        """Count one failed login against each key."""
        ...

    # --- incidents (app.store.incidents) --------------------------------------------------------

    async def incidents(self, flt: IncidentFilter, *, limit: int = 200) -> list[IncidentSummary]:
        """The incidents `flt` selects: open ones first, by severity then age (oldest first);
        then resolved ones, the latest resolved first."""
        ...

    async def incident_facts(self, ref: str) -> IncidentFacts | None:
        """Everything stored about one incident (its row, events, deliveries, enrichments, chat
        actions, remediations, escalations); None for an unknown id."""
        ...

    async def incident_refs(self, prefix: str, *, limit: int = 2) -> list[str]:
        """Incident ids starting with `prefix` (an exact match first), at most `limit`."""
        ...

    async def incident_event(self, group_key: str, event: TimelineEvent) -> None:
        """Append an event to the group's timeline (redacted on the way in)."""
        ...

    async def incident_acked(self, group_key: str, *, now: float) -> ResolvedIncident | None:
        """Note an acknowledgement; the time to acknowledge when it is the episode's first (of
        concurrent ones, exactly one gets it), else None."""
        ...
