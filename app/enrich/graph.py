"""A PNG graph of an expression's series: matplotlib's Agg canvas, off the event loop.

matplotlib is imported on first use (it costs about half a second and tens of MB, which an
idle service should not pay) and only through `matplotlib.figure.Figure`, never `pyplot`,
which keeps global figures. Renders run one at a time on a dedicated thread.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from app.core.series import MAX_SERIES, Series, legend_labels

__all__ = ["HEIGHT", "WIDTH", "render_graph", "render_png", "time_ticks"]

WIDTH, HEIGHT, DPI = 800, 300, 100
_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_START_COLOUR = "#E01E5A"
_THRESHOLD_COLOUR = "#ECB22E"

_executor: ThreadPoolExecutor | None = None


def render_png(
    series: Sequence[Series],
    *,
    start: float,
    end: float,
    starts_at: float | None = None,
    threshold: float | None = None,
    title: str = "",
) -> bytes:
    """The graph as PNG bytes (WIDTH by HEIGHT pixels): one line per series (the first
    MAX_SERIES, named in a legend by the labels that differ), the alert's start as a vertical
    line when it is inside [start, end], the threshold as a dashed horizontal line. Times are
    Unix seconds, shown as UTC."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    shown = list(series[:MAX_SERIES])
    # One series needs no legend entry: the caption names it.
    names = legend_labels(shown) if len(shown) > 1 else ["_nolegend_"] * len(shown)
    for i, (s, name) in enumerate(zip(shown, names, strict=True)):
        xs = [t for t, _ in s.points]
        ys = [v for _, v in s.points]
        ax.plot(xs, ys, color=_COLOURS[i % len(_COLOURS)], linewidth=1.6, label=name)
    if starts_at is not None and start <= starts_at <= end:
        ax.axvline(starts_at, color=_START_COLOUR, linewidth=1.4, label="alert started")
    if threshold is not None:
        label = f"threshold {threshold:g}"
        ax.axhline(threshold, color=_THRESHOLD_COLOUR, linewidth=1.4, linestyle="--", label=label)
    ax.set_xlim(start, end)
    ticks = time_ticks(start, end)
    ax.set_xticks(ticks, [_utc(t).strftime("%H:%M" if end - start <= 86400 else "%d %H:%M") for t in ticks])
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.tick_params(labelsize=9)
    ax.set_xlabel("UTC", fontsize=8, loc="right")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title if len(title) <= 90 else title[:89] + "…", fontsize=10, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    # Fixed margins (tight_layout would draw the figure twice): the legend gets the right-hand
    # side, as wide as its longest entry (DejaVu Sans 8 pt at 100 dpi: up to 7 px a character).
    legend_px = 60 + 7 * max([len(n) for n in names if n != "_nolegend_"] + [len("alert started"), 0])
    right = min(0.97, max(0.55, 1 - legend_px / WIDTH)) if ax.get_legend_handles_labels()[0] else 0.97
    fig.subplots_adjust(left=0.07, right=right, top=0.9 if title else 0.95, bottom=0.16)
    buf = io.BytesIO()
    # No "Software" text chunk: the same data gives the same bytes on the same matplotlib.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


_TICK_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def time_ticks(start: float, end: float, *, most: int = 8) -> list[float]:
    """Tick times at round UTC minutes/hours/days in [start, end]: at most `most` of them."""
    span = max(end - start, 1.0)
    step = next((s for s in _TICK_STEPS if span / s <= most), _TICK_STEPS[-1])
    first = -(-start // step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


async def render_graph(series: Sequence[Series], **kwargs: Any) -> bytes:
    """`render_png` on the graph thread, so the event loop keeps serving."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph")
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, lambda: render_png(series, **kwargs))
