"""Checks of a PNG's bytes: signature, dimensions from the IHDR chunk, and that it is not blank."""

from __future__ import annotations

import io
import struct

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def dimensions(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a valid PNG has first."""
    assert png[:8] == SIGNATURE, "not a PNG"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def colour_stats(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of pixels that are not white), from the decoded image."""
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")
    flat = pixels.reshape(-1, pixels.shape[-1])
    distinct = len({tuple(p) for p in flat[::7].tolist()})
    not_white = float((flat[:, :3].min(axis=1) < 0.95).mean())
    return distinct, not_white
