"""Enrich one alert group: run the applicable rules' Loki queries and graphs concurrently, under
one time budget, and return what came back as an `Enrichment` (redacted) with a note for each
part that did not.

Call once per alert group state; a failure never raises: it becomes a note such as
"logs unavailable: Loki answered 503".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from app.config.enrichment import EnrichmentSettings
from app.core.durations import format_duration
from app.core.enrich_plan import (
    distinct_capped,
    expr_from_generator_url,
    loki_window,
    matching_alerts,
    prometheus_range,
    threshold_of,
)
from app.core.enrichment import Enrichment, Fetch, Graph, LogSection, Outcome, Source
from app.core.loglines import shape_lines
from app.core.models import Group
from app.core.redact import Redactor
from app.core.series import MAX_SERIES
from app.enrich.errors import EnrichmentError
from app.enrich.graph import HEIGHT, WIDTH, render_graph
from app.enrich.loki import LokiClient
from app.enrich.prometheus import PrometheusClient

__all__ = ["MAX_GRAPHS", "MAX_LOG_QUERIES", "RENDER_ALLOWANCE", "Enricher"]

MAX_LOG_QUERIES = 5
"""Distinct Loki queries per group; more alerts than that share the first ones' lines."""
MAX_GRAPHS = 2
"""Distinct expressions graphed per group."""
RENDER_ALLOWANCE = 2.0
"""Seconds the budget adds to the slowest backend timeout for rendering graphs."""
_CAPTION_LENGTH = 200


@dataclass(frozen=True)
class _LogJob:
    query: str
    start_ns: int
    end_ns: int
    limit: int


@dataclass(frozen=True)
class _GraphJob:
    expr: str
    span: float
    starts_at: datetime
    name: str


@dataclass
class _Result:
    source: Source
    logs: LogSection | None = None
    graph: Graph | None = None
    note: str | None = None
    fetch: Fetch | None = None
    redactions: int = 0
    extra_notes: list[str] = field(default_factory=list)


class Enricher:
    """Enriches groups per `settings`. `clock` gives Unix seconds (injected in tests);
    `budget` caps the whole enrichment (default: the slowest backend's timeout plus
    RENDER_ALLOWANCE)."""

    def __init__(
        self,
        settings: EnrichmentSettings,
        *,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
        budget: float | None = None,
    ) -> None:
        self.settings = settings
        self.redactor: Redactor = settings.redactor
        self._clock = clock
        self._loki = LokiClient(settings.loki, session=session) if settings.loki else None
        self._prometheus = (
            PrometheusClient(settings.prometheus, session=session) if settings.prometheus else None
        )
        timeouts = [s.timeout for s in (settings.loki, settings.prometheus) if s is not None]
        self.budget = budget if budget is not None else max(timeouts, default=0.0) + RENDER_ALLOWANCE

    async def enrich(self, group: Group) -> Enrichment:
        """Log lines and graphs for the group's firing alerts; nothing for a resolved group."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        log_jobs, graph_jobs, notes = self._plan(group, now)
        if not log_jobs and not graph_jobs:
            return Enrichment(notes=tuple(notes))
        runs: list[tuple[Source, Awaitable[_Result]]] = [("loki", self._logs(j)) for j in log_jobs]
        runs += [("prometheus", self._graph(j, now)) for j in graph_jobs]
        tasks = [asyncio.ensure_future(aw) for _, aw in runs]
        done, pending = await asyncio.wait(tasks, timeout=self.budget)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        results: list[_Result] = []
        for (source, _), task in zip(runs, tasks, strict=True):
            if task in done and not task.cancelled():
                results.append(task.result())
            else:
                what = "logs" if source == "loki" else "graph"
                note = f"{what} unavailable: no answer within {format_duration(self.budget)}"
                results.append(_Result(source, note=note, fetch=Fetch(source, "timeout", self.budget)))
        return self._assemble(results, notes)

    # -- planning ----------------------------------------------------------------------

    def _plan(self, group: Group, now: datetime) -> tuple[list[_LogJob], list[_GraphJob], list[str]]:
        logs: dict[str, _LogJob] = {}
        graphs: dict[str, _GraphJob] = {}
        notes: list[str] = []
        for rule in self.settings.rules:
            for alert in matching_alerts(rule.matchers, group):
                if rule.logs is not None:
                    try:
                        query = rule.logs.query.render(alert)
                    except ValueError as exc:
                        notes.append(f"logs unavailable: {exc}")
                    else:
                        start, end = loki_window(alert.startsAt, now, rule.logs.before)
                        seen = logs.get(query)
                        if seen is None or start < seen.start_ns:  # the earliest alert's window
                            limit = rule.logs.limit if seen is None else seen.limit
                            logs[query] = _LogJob(query, start, end, limit)
                if rule.graph is not None:
                    try:
                        expr = (
                            rule.graph.expr.render(alert)
                            if rule.graph.expr is not None
                            else expr_from_generator_url(alert.generatorURL)
                        )
                    except ValueError as exc:
                        notes.append(f"graph unavailable: {exc}")
                        continue
                    if expr and (expr not in graphs or alert.startsAt < graphs[expr].starts_at):
                        span = graphs[expr].span if expr in graphs else rule.graph.range
                        graphs[expr] = _GraphJob(expr, span, alert.startsAt, alert.name)
        log_keys, skipped_logs = distinct_capped(logs, MAX_LOG_QUERIES)
        if skipped_logs:
            notes.append(f"logs: {skipped_logs} more queries not run (at most {MAX_LOG_QUERIES} per group)")
        graph_keys, skipped_graphs = distinct_capped(graphs, MAX_GRAPHS)
        if skipped_graphs:
            notes.append(
                f"graphs: {skipped_graphs} more expressions not drawn (at most {MAX_GRAPHS} per group)"
            )
        return [logs[k] for k in log_keys], [graphs[k] for k in graph_keys], notes

    # -- fetching ----------------------------------------------------------------------

    async def _logs(self, job: _LogJob) -> _Result:
        assert self._loki is not None  # a rule with logs requires enrichment.loki
        began = time.monotonic()
        try:
            entries = await self._loki.query_range(
                job.query, start_ns=job.start_ns, end_ns=job.end_ns, limit=job.limit
            )
        except EnrichmentError as exc:
            return _Result(
                "loki",
                note=f"logs unavailable: {exc}",
                fetch=Fetch("loki", exc.outcome, time.monotonic() - began),
            )
        redactions = 0
        clean = []
        for ns, line in entries:
            text, n = self.redactor.redact(line)
            redactions += n
            clean.append((ns, text))
        query, n = self.redactor.redact(job.query)
        outcome: Outcome = "ok" if clean else "empty"
        return _Result(
            "loki",
            logs=LogSection(query, shape_lines(clean, limit=job.limit)),
            fetch=Fetch("loki", outcome, time.monotonic() - began),
            redactions=redactions + n,
        )

    async def _graph(self, job: _GraphJob, now: datetime) -> _Result:
        assert self._prometheus is not None  # a rule with graph requires enrichment.prometheus
        began = time.monotonic()
        window = prometheus_range(now, job.span)
        try:
            series = await self._prometheus.query_range(job.expr, window)
        except EnrichmentError as exc:
            return _Result(
                "prometheus",
                note=f"graph unavailable: {exc}",
                fetch=Fetch("prometheus", exc.outcome, time.monotonic() - began),
            )
        fetch_seconds = time.monotonic() - began
        if not any(s.points for s in series):
            return _Result("prometheus", fetch=Fetch("prometheus", "empty", fetch_seconds))
        series = [s for s in series if s.points]
        png = await render_graph(
            series,
            start=window.start,
            end=window.end,
            starts_at=job.starts_at.timestamp(),
            threshold=threshold_of(job.expr),
            title=job.name,
        )
        caption, redactions = self.redactor.redact(self._caption(job, series, window.end - window.start))
        expr, n = self.redactor.redact(job.expr)
        return _Result(
            "prometheus",
            graph=Graph(expr, png, caption, WIDTH, HEIGHT),
            fetch=Fetch("prometheus", "ok", fetch_seconds),
            redactions=redactions + n,
        )

    @staticmethod
    def _caption(job: _GraphJob, series: Sequence[object], span: float) -> str:
        started = job.starts_at.astimezone(UTC).strftime("%H:%M UTC")
        parts = [job.expr, f"last {format_duration(span)}", f"started {started}"]
        if len(series) > MAX_SERIES:
            parts.append(f"{MAX_SERIES} of {len(series)} series shown")
        text = " · ".join(parts)
        return text if len(text) <= _CAPTION_LENGTH else text[: _CAPTION_LENGTH - 1] + "…"

    def _assemble(self, results: list[_Result], notes: list[str]) -> Enrichment:
        redactions = sum(r.redactions for r in results)
        all_notes = []
        for note in [*notes, *(r.note for r in results if r.note)]:
            text, n = self.redactor.redact(note)
            redactions += n
            if text not in all_notes:
                all_notes.append(text)
        return Enrichment(
            logs=tuple(r.logs for r in results if r.logs is not None),
            graphs=tuple(r.graph for r in results if r.graph is not None),
            notes=tuple(all_notes),
            fetches=tuple(r.fetch for r in results if r.fetch is not None),
            redactions=redactions,
        )
