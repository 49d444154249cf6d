"""The graph renderer on real data: a PNG of the right size, not blank, with the alert's start
and the threshold drawn, the same bytes for the same data, rendered off the event loop."""

from __future__ import annotations

import asyncio
import io
import math
import subprocess
import sys
import time

from app.core.series import Series
from app.enrich.graph import HEIGHT, WIDTH, render_graph, render_png, time_ticks
from tests.enrich.png import colour_stats, dimensions

END = 1_767_268_800.0
START = END - 3600
STARTED = END - 1200
START_RGB = (0xE0, 0x1E, 0x5A)
THRESHOLD_RGB = (0xEC, 0xB2, 0x2E)


def series(n: int = 3, points: int = 401) -> list[Series]:
    step = 3600 / (points - 1)
    return [
        Series(
            {"namespace": "prod", "pod": f"model-api-{i}"},
            tuple(
                (
                    START + k * step,
                    0.25 + 0.05 * i + 0.1 * math.sin(k / 20) + (0.45 if START + k * step >= STARTED else 0),
                )
                for k in range(points)
            ),
        )
        for i in range(n)
    ]


def pixels_of(png: bytes, rgb: tuple[int, int, int]) -> int:
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")[:, :, :3] * 255
    close = (abs(img - rgb) <= 12).all(axis=2)
    return int(close.sum())


def test_png_of_the_expected_size_and_not_blank() -> None:
    png = render_png(
        series(), start=START, end=END, starts_at=STARTED, threshold=0.5, title="ModelHighLatencyP95"
    )
    assert dimensions(png) == (WIDTH, HEIGHT) == (800, 300)
    assert 10_000 < len(png) < 200_000
    distinct, not_white = colour_stats(png)
    assert distinct > 20 and 0.02 < not_white < 0.6


def test_the_start_and_the_threshold_are_drawn() -> None:
    data = series(1)
    plain = render_png(data, start=START, end=END)
    marked = render_png(data, start=START, end=END, starts_at=STARTED, threshold=0.5)
    assert pixels_of(plain, START_RGB) == 0 and pixels_of(marked, START_RGB) > 150  # a full-height line
    assert pixels_of(plain, THRESHOLD_RGB) == 0 and pixels_of(marked, THRESHOLD_RGB) > 150
    # A start before the window is not drawn (it would sit on the axis).
    early = render_png(data, start=START, end=END, starts_at=START - 600)
    assert pixels_of(early, START_RGB) == 0


def test_same_data_same_bytes() -> None:
    a = render_png(series(), start=START, end=END, starts_at=STARTED, threshold=0.5, title="t")
    b = render_png(series(), start=START, end=END, starts_at=STARTED, threshold=0.5, title="t")
    assert a == b and b"Software" not in a


def test_at_most_ten_series_are_drawn() -> None:
    ten = render_png(series(10), start=START, end=END)
    thirty = render_png(series(30), start=START, end=END)
    assert ten == thirty


def test_empty_and_single_point_series_still_render() -> None:
    assert dimensions(render_png([], start=START, end=END)) == (800, 300)
    assert dimensions(render_png([Series({}, ((END, 1.0),))], start=START, end=END)) == (800, 300)


def test_ticks_at_round_utc_times() -> None:
    ticks = time_ticks(START + 123, END + 123)
    assert all(t % 600 == 0 for t in ticks) and len(ticks) == 6
    assert len(time_ticks(END - 7 * 86400, END)) <= 8
    assert all(t % 86400 == 0 for t in time_ticks(END - 7 * 86400, END))


async def test_rendering_does_not_block_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        began = time.perf_counter()
        png = await render_graph(series(), start=START, end=END, starts_at=STARTED, threshold=0.5)
        took = time.perf_counter() - began
    finally:
        task.cancel()
    assert dimensions(png) == (800, 300)
    # The loop kept ticking while the graph was drawn on its thread.
    assert ticks >= took / 0.005 / 4


def test_matplotlib_is_imported_lazily_and_measured() -> None:
    """Importing the enrichment modules does not import matplotlib; the first graph does.
    Figures printed for the report."""
    code = (
        "import os, sys, time\n"
        "page = os.sysconf('SC_PAGE_SIZE') / 2**20\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * page\n"
        "import app.enrich.enricher, app.enrich.graph\n"
        "assert 'matplotlib' not in sys.modules, 'imported eagerly'\n"
        "r0 = rss(); t = time.perf_counter()\n"
        "import matplotlib.figure, matplotlib.backends.backend_agg\n"
        "imp, r1 = time.perf_counter() - t, rss()\n"
        "from tests.enrich.test_graph import series, START, END, STARTED\n"
        "from app.enrich.graph import render_png\n"
        "render_png(series(), start=START, end=END)\n"
        "runs = []\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter()\n"
        "    png = render_png(series(), start=START, end=END, starts_at=STARTED, threshold=0.5, title='x')\n"
        "    runs.append(time.perf_counter() - t)\n"
        "print(f'before matplotlib {r0:.0f} MiB; import {imp:.2f}s +{r1 - r0:.0f} MiB; '\n"
        "      f'render median {sorted(runs)[2] * 1000:.0f} ms, {len(png)} bytes; '\n"
        "      f'after renders {rss():.0f} MiB')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    print("\n" + out.stdout.strip())
