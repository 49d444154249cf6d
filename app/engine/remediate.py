"""The `remediate`, `verify` and `report` jobs of self-healing.

`remediate` (lane: the target) decides and acts: guards in their fixed order (stored guards on
the slot table, then the live workload), then one of refused / would (dry run) / awaiting
approval / act. Acting goes `pending → acting` with the pinned request first, then
`acting → verifying` with the first `verify` job, each one transaction: a job replayed after
`kill -9` finds the record further on and repeats nothing but the same, idempotent request.
Its other steps: `act` after an approval, `expire` at the approval's TTL, `finish` to report a
rejection or a cancellation.

`verify` reads the target once; pending → the next `verify` job `next_verify` seconds later (a
timer on the same lane), done → the outcome. `report` posts the line through the sink's `reply`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict

from app.core.errors import PermanentError, RetryableError
from app.core.remediation.guards import Decision, Slot, decide, released_when, slot_keys, stored_guards
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.report import Outcome, Report
from app.core.remediation.targets import Target
from app.core.remediation.verdict import Verdict, next_verify
from app.engine.jobs import Outcome as JobOutcome
from app.engine.jobs import Ref
from app.engine.rates import Rates
from app.engine.remediation import Remediator, intent_from_json
from app.remediate.errors import ActionRefused
from app.remediate.executor import Acted, Pinned, act, check, pin, read_live
from app.sinks.base import Replier, Sink
from app.store.base import Job, NewJob
from app.store.remediations import Change, Remediation

log = logging.getLogger("alertmedic.remediation")

REPORT_QUIET = 3600.0
"""Seconds during which further once / cooldown refusals of one group, action and target are
recorded and counted but not posted again."""
CLAIM_TRIES = 5
"""Decisions re-made when another worker took a slot between the read and the claim."""


def _target(rec: Remediation) -> Target | None:
    return intent_from_json(rec.intent).target


class RemediateHandler:
    """`remediate` and `verify` jobs."""

    def __init__(self, r: Remediator) -> None:
        self.r = r

    async def wait(self, job: Job, now: float) -> float:
        return 0.0

    def finished(self, job: Job, outcome: JobOutcome, now: float) -> None:
        if outcome == "dead":
            log.error("remediation job dead-lettered", extra={"job": job.id, "lane": job.lane})

    async def run(self, job: Job, ref: Ref) -> Ref:
        payload = json.loads(job.payload)
        rec = await self.r.store.remediation(int(payload["id"]))
        if rec is None or rec.job_id != job.id:
            return None  # a replay of a step already taken
        if job.type == "verify":
            await self._verify(job, rec, int(payload.get("polls", 0)))
            return None
        step = payload.get("step", "decide")
        if rec.state == "cancelled":
            await self._close(job, rec, "cancelled", release="cancelled")
        elif step == "decide" and rec.state == "pending":
            await self._decide(job, rec)
        elif step == "expire" and rec.state == "awaiting_approval":
            await self._close(job, rec, "expired", release="expired")
        elif rec.state == "rejected":
            await self._close(job, rec, "rejected", release="rejected")
        elif rec.state in ("acting", "approved"):
            await self._act(job, rec)
        return None

    # --- steps ---------------------------------------------------------------------------------

    async def _decide(self, job: Job, rec: Remediation) -> None:
        r = self.r
        spec = r.specs.get(rec.action)
        intent = intent_from_json(rec.intent)
        if spec is None:
            await self._final(job, rec, "failed", detail="the action is no longer configured")
            return
        holder = f"r{rec.id}"
        keys = slot_keys(intent, spec, r.policy)
        for _ in range(CLAIM_TRIES):
            now = r.clock.now()
            slots = await r.store.slots(keys)
            stored = stored_guards(intent, spec, r.policy, slots=slots, holder=holder, now=now)
            if isinstance(stored, Refusal):
                await self._refuse(job, rec, stored)
                return
            assert intent.target is not None
            try:
                live = await self._live(spec, intent.target)
            except PermanentError as exc:  # 403 naming the permission, 404, no client
                await self._final(job, rec, "failed", detail=str(exc), reason=exc.reason)
                return
            except RetryableError as exc:  # retried by the queue within the verification window
                if r.clock.now() - rec.created_at < spec.verify_timeout:
                    raise
                await self._final(job, rec, "failed", detail=str(exc), reason=exc.reason)
                return
            decision = decide(intent, spec, r.policy, slots=slots, holder=holder, now=now, live=live)
            if decision.refusal is not None:
                await self._refuse(job, rec, decision.refusal)
                return
            result = await self._decided(job, rec, decision, live, now)
            if result == "conflict":
                continue
            if result == "stale":  # cancelled by a resolve while deciding: report that
                fresh = await r.store.remediation(rec.id)
                if fresh is not None and fresh.job_id == job.id and fresh.state == "cancelled":
                    await self._close(job, fresh, "cancelled", release="cancelled")
                return
            if result == "ok" and decision.kind == "act":
                fresh = await r.store.remediation(rec.id)
                if fresh is not None:
                    await self._act(job, fresh)
            return
        raise RetryableError("slots kept changing under the decision", reason="contention")

    async def _live(self, spec: object, target: Target) -> dict[str, object] | None:
        r = self.r
        from app.core.remediation.actions import ActionSpec

        assert isinstance(spec, ActionSpec)
        if spec.kind not in ("rollout_restart", "scale", "delete_pod"):
            return None
        if r.kube is None:
            if r.policy.dry_run:
                return None
            raise PermanentError(f"no Kubernetes client: {r.kube_problem}", reason="no_client")
        try:
            return await read_live(r.kube, spec, target)
        except (RetryableError, PermanentError):
            if r.policy.dry_run:
                return None  # a rehearsal does not need the API
            raise

    async def _decided(
        self, job: Job, rec: Remediation, decision: Decision, live: dict[str, object] | None, now: float
    ) -> str:
        r = self.r
        spec = r.specs[rec.action]
        holder = f"r{rec.id}"
        take = [c.slot(holder, now) for c in decision.claims]
        claims = json.dumps(
            [{"key": c.key, "kind": c.kind, "expires_at": min(c.expires_at, 1e300)} for c in decision.claims]
        )
        pinned = json.dumps(asdict(pin(decision, live, now=now)))
        fields = {"claims": claims, "pinned": pinned}
        target = _target(rec)
        detail = _replicas_detail(decision, live)
        if decision.kind == "would":
            report = Report(rec.action, spec.kind, target, "would", detail=detail)
            jobs = r.reports(rec, report, now)
            result = await r.store.transition(
                rec.id,
                job_id=job.id,
                change=Change("would", fields, take=take, jobs=jobs, expect=("pending",)),
                now=now,
            )
            if result == "ok":
                r.counted(rec, "would")
                r.woken(jobs)
            return result
        if decision.kind == "await_approval":
            expires = now + spec.approval_timeout
            expire = NewJob(
                "remediate",
                f"approval:{rec.action}",  # one timeout per action: deadlines come in id order
                json.dumps({"id": rec.id, "step": "expire"}),
                expires,
                receiver="remediation",
                integration=spec.kind,
            )
            report = Report(
                rec.action, spec.kind, target, "awaiting_approval", detail=detail, ttl=spec.approval_timeout
            )
            jobs = [expire, *r.reports(rec, report, now)]
            change = Change(
                "awaiting_approval",
                {**fields, "expires_at": expires},
                take=take,
                jobs=jobs,
                chain=True,
                expect=("pending",),
            )
            result = await r.store.transition(rec.id, job_id=job.id, change=change, now=now)
            if result == "ok":
                r.counted(rec, "awaiting_approval")
                r.woken(jobs)
            return result
        return await r.store.transition(
            rec.id, job_id=job.id, change=Change("acting", fields, take=take, expect=("pending",)), now=now
        )

    async def _act(self, job: Job, rec: Remediation) -> None:
        r = self.r
        spec = r.specs.get(rec.action)
        target = _target(rec)
        if spec is None or target is None or rec.pinned is None:
            await self._final(job, rec, "failed", detail="the action is no longer configured")
            return
        if spec.kind != "http" and r.kube is None:
            await self._final(job, rec, "failed", detail=f"no Kubernetes client: {r.kube_problem}")
            return
        pinned = Pinned(**rec.pinned)
        try:
            acted = await act(
                r.kube,
                r.session,
                spec,
                target,
                pinned,
                intent_id=f"r{rec.id}",
                alertname=rec.alertname,
                fingerprint=rec.fingerprint,
                http_config=r.http_config(rec.action),
            )
        except ActionRefused as exc:
            await self._refuse(job, rec, exc.refusal, release=True)
            return
        except PermanentError as exc:  # start_job settles a 409 for its own Job name itself
            await self._final(job, rec, "failed", detail=str(exc), reason=exc.reason)
            return
        except RetryableError as exc:  # 409, 5xx, unreachable: again, within the window
            if r.clock.now() - pinned.at < spec.verify_timeout:
                raise
            await self._final(job, rec, "failed", detail=str(exc), reason=exc.reason)
            return
        now = r.clock.now()
        verify = NewJob(
            "verify",
            job.lane,
            json.dumps({"id": rec.id, "polls": 0}),
            now,
            receiver="remediation",
            integration=spec.kind,
        )
        change = Change(
            "verifying",
            {"acted": json.dumps(acted.to_json()), "acted_at": acted.at},
            jobs=[verify],
            chain=True,
        )
        if await r.store.transition(rec.id, job_id=job.id, change=change, now=now) == "ok":
            r.woken([verify])

    async def _verify(self, job: Job, rec: Remediation, polls: int) -> None:
        r = self.r
        if rec.state != "verifying" or rec.acted is None:
            return
        acted = Acted.from_json(rec.acted)
        spec = r.specs.get(rec.action)
        timeout = spec.verify_timeout if spec is not None else 300.0
        try:
            if acted.kind != "http" and r.kube is None:
                raise RetryableError(f"no Kubernetes client: {r.kube_problem}", reason="no_client")
            verdict = await check(r.kube, acted)
        except PermanentError as exc:
            verdict = Verdict("failed", str(exc), exc.reason)
        except RetryableError as exc:  # 5xx, timeouts: read again within the window
            verdict = Verdict("pending", str(exc))
        now = r.clock.now()
        nxt = next_verify(verdict, acted_at=acted.at, now=now, timeout=timeout, polls=polls)
        if isinstance(nxt, float):
            again = NewJob(
                "verify",
                job.lane,
                json.dumps({"id": rec.id, "polls": polls + 1}),
                now + nxt,
                receiver="remediation",
                integration=acted.kind,
            )
            change = Change("verifying", {"reason": verdict.detail}, jobs=[again], chain=True)
            if await r.store.transition(rec.id, job_id=job.id, change=change, now=now) == "ok":
                r.woken([again])
            return
        outcome: Outcome = "succeeded" if nxt.state == "succeeded" else "failed"
        detail = nxt.detail
        if acted.detail and outcome == "succeeded":
            detail = f"{acted.detail}; {detail}"
        seconds = max(0.0, now - acted.at)
        r.metrics.remediation_duration.labels(acted.kind).observe(seconds)
        await self._final(job, rec, outcome, detail=detail, reason=nxt.reason, seconds=seconds)

    # --- outcomes -------------------------------------------------------------------------------

    async def _refuse(self, job: Job, rec: Remediation, refusal: Refusal, *, release: bool = False) -> None:
        r = self.r
        now = r.clock.now()
        report = Report(rec.action, rec.kind, _target(rec), "refused", refusal=refusal)  # type: ignore[arg-type]
        jobs = r.reports(rec, report, now)
        free = [c["key"] for c in rec.claims if c["kind"] == "breaker"] if release else []
        fields = {"guard": refusal.guard.value, "reason": refusal.reason, "job_id": None}
        # A storm (many alerts, one target) is refused by once / cooldown many times: the thread
        # gets the first of those refusals per group, action and target; every one is recorded
        # and counted. The slot makes "first" hold across workers.
        quiet = refusal.guard in (Guard.ONCE, Guard.COOLDOWN)
        take = (
            [
                Slot(
                    f"report/{rec.group_key}/{rec.action}/{rec.target}/{refusal.guard.value}",
                    f"r{rec.id}",
                    now,
                    now + REPORT_QUIET,
                )
            ]
            if quiet
            else []
        )
        result = await r.store.transition(
            rec.id, job_id=job.id, change=Change("refused", fields, take=take, free=free, jobs=jobs), now=now
        )
        if result == "conflict":
            jobs = []
            result = await r.store.transition(
                rec.id, job_id=job.id, change=Change("refused", fields, free=free), now=now
            )
        if result == "ok":
            r.counted(rec, "refused", refusal)
            r.woken(jobs)

    async def _final(
        self,
        job: Job,
        rec: Remediation,
        outcome: Outcome,
        *,
        detail: str = "",
        reason: str = "",
        seconds: float | None = None,
    ) -> None:
        r = self.r
        now = r.clock.now()
        report = Report(rec.action, rec.kind, _target(rec), outcome, detail=detail, seconds=seconds)  # type: ignore[arg-type]
        jobs = r.reports(rec, report, now)
        change = Change(outcome, {"reason": detail, "guard": reason, "job_id": None}, jobs=jobs)
        if await r.store.transition(rec.id, job_id=job.id, change=change, now=now) == "ok":
            r.counted(rec, outcome)
            r.woken(jobs)

    async def _close(self, job: Job, rec: Remediation, outcome: Outcome, *, release: str) -> None:
        """An action that never ran: rejected, expired or cancelled; its slots go back as
        `released_when` says."""
        r = self.r
        now = r.clock.now()
        spec = r.specs.get(rec.action)
        from app.core.remediation.guards import Claim

        claims = tuple(Claim(c["key"], c["kind"], c["expires_at"]) for c in rec.claims)
        free = released_when(release, claims)  # type: ignore[arg-type]
        report = Report(
            rec.action,
            rec.kind,  # type: ignore[arg-type]
            _target(rec),
            outcome,
            actor=rec.actor,
            ttl=spec.approval_timeout if spec is not None and outcome == "expired" else None,
        )
        jobs = r.reports(rec, report, now)
        change = Change(outcome, {"job_id": None}, free=free, jobs=jobs)
        if await r.store.transition(rec.id, job_id=job.id, change=change, now=now) == "ok":
            r.counted(rec, outcome)
            r.woken(jobs)


def _replicas_detail(decision: Decision, live: dict[str, object] | None) -> str:
    if decision.replicas is None:
        return ""
    spec = (live or {}).get("spec")
    before = spec.get("replicas") if isinstance(spec, dict) else None
    return f"{before} → {decision.replicas}"


class ReportHandler:
    """`report` jobs: one line as a reply in the alert's thread, through the sink's `reply`,
    under the destination's rate limits (the lane is the destination's)."""

    def __init__(self, r: Remediator, sinks: Mapping[str, Sink], send_timeout: float, rates: Rates) -> None:
        self.r = r
        self.sinks = sinks
        self.send_timeout = send_timeout
        self.rates = rates

    async def wait(self, job: Job, now: float) -> float:
        sink = self.sinks.get(job.lane)
        limits = [(lim.key, lim.per_second, lim.burst) for lim in sink.rate_limits()] if sink else []
        return await self.rates.reserve(limits, now)

    async def run(self, job: Job, ref: Ref) -> Ref:
        sink = self.sinks.get(job.lane)
        if sink is None or not hasattr(sink, "reply"):
            raise PermanentError(f"{job.lane} cannot post replies", reason="unsupported")
        replier: Replier = sink  # type: ignore[assignment]
        text = str(json.loads(job.payload)["text"])
        try:
            await asyncio.wait_for(replier.reply(job.lane, text, ref), self.send_timeout)
        except TimeoutError:
            raise RetryableError(f"no answer within {self.send_timeout:g}s", reason="timeout") from None
        return None

    def finished(self, job: Job, outcome: JobOutcome, now: float) -> None:
        if outcome == "dead":
            log.error("remediation report dead-lettered", extra={"destination": job.lane, "job": job.id})
