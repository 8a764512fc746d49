"""Cover and sprite-sheet JPEGs taken from the finished clip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from .media import iter_frames

SPRITE_THUMB_WIDTH = 240  # a scrubbing preview: 5 columns of 240 px fit a 1200 px page
JPEG_QUALITY = 90


def sprite_indices(total: int, count: int) -> list[int]:
    """count evenly spaced frame indices from first to last (repeats if the clip is short)."""
    if count == 1:
        return [0]
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


def write_cover_and_sprite(
    video: Path, total_frames: int, columns: int, count: int, cover_out: Path, sprite_out: Path
) -> None:
    """One decoding pass of the finished MP4 yields the cover (first frame) and the sprite."""
    indices = sprite_indices(total_frames, count)
    picked = dict(iter_frames(video, set(indices) | {0}))
    Image.fromarray(picked[0]).save(cover_out, format="JPEG", quality=JPEG_QUALITY)
    sheet = sprite_sheet([picked[i] for i in indices], columns)
    sheet.save(sprite_out, format="JPEG", quality=JPEG_QUALITY)


def sprite_sheet(frames: list[np.ndarray], columns: int) -> Image.Image:
    height, width = frames[0].shape[:2]
    thumb_w, thumb_h, columns, rows = _layout(width, height, columns, len(frames))
    sheet = Image.new("RGB", (columns * thumb_w, rows * thumb_h), "black")
    for i, frame in enumerate(frames):
        thumb = Image.fromarray(frame).resize((thumb_w, thumb_h), Image.Resampling.LANCZOS)
        sheet.paste(thumb, ((i % columns) * thumb_w, (i // columns) * thumb_h))
    return sheet


def sprite_size(width: int, height: int, columns: int, count: int) -> tuple[int, int]:
    """The sprite sheet's pixel size for a clip of width x height (for callers and tests)."""
    thumb_w, thumb_h, columns, rows = _layout(width, height, columns, count)
    return columns * thumb_w, rows * thumb_h


def _layout(width: int, height: int, columns: int, count: int) -> tuple[int, int, int, int]:
    thumb_w = min(SPRITE_THUMB_WIDTH, width)
    thumb_h = max(1, round(height * thumb_w / width))
    columns = min(columns, count)  # 3 frames in 5 columns: no empty black cells
    return thumb_w, thumb_h, columns, math.ceil(count / columns)
