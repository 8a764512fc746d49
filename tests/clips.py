"""Clips made elsewhere, for tests: MP4/WebM files written with PyAV, not by shotsmith.

One writer for every test that needs a source clip (extend, edit, the CLI's uploads), so the
clips they feed in are made the same way: no shotsmith metadata unless a `tag` is asked for.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np


def growing_bar(frames: int = 12, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """A red bar that grows from the left edge on black, wrapping round: (T, H, W, 3) uint8."""
    width, height = size
    video = np.zeros((frames, height, width, 3), np.uint8)
    for i in range(frames):
        video[i, :, : (i * 8) % width + 8] = (200, 40, 40)
    return video


def noise_frames(frames: int = 12, size: tuple[int, int] = (96, 64), seed: int = 0) -> np.ndarray:
    """Uniform noise: the clip that compresses worst, for size limits."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (frames, size[1], size[0], 3), dtype=np.uint8)


def moving_box(frames: int, width: int, height: int) -> np.ndarray:
    """A red box crossing a green field from left to right (a clip of any size and length)."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    video[..., 1] = 150
    for t in range(frames):
        x = int((width - width // 4) * t / max(frames - 1, 1))
        video[t, height // 3: height // 3 + height // 4, x: x + width // 4] = (210, 30, 30)
    return video


def encode(target: Path | io.BytesIO, video: np.ndarray, fps: int = 12, fmt: str = "mp4",
           tag: dict | None = None):
    """Write `video` (T, H, W, 3) to `target`; `tag` goes in the JSON `comment` tag, where
    shotsmith keeps a clip's metadata. Returns `target`."""
    import av

    where = str(target) if isinstance(target, Path) else target
    with av.open(where, "w", format=fmt) as container:
        if tag is not None:
            container.metadata["comment"] = json.dumps(tag)
        stream = container.add_stream("libx264" if fmt == "mp4" else "libvpx-vp9", rate=fps)
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        for image in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def clip_bytes(frames: int = 12, size=(96, 64), fmt: str = "mp4", tag: dict | None = None) -> bytes:
    """A growing-bar clip as the bytes of an upload."""
    buf = io.BytesIO()
    encode(buf, growing_bar(frames, size), fps=12, fmt=fmt, tag=tag)
    return buf.getvalue()


def write_clip(path: Path, frames: int = 12, size=(96, 64), fps: int = 12, noise: bool = False,
               tag: dict | None = None) -> Path:
    """A growing-bar (or noise) clip written to `path`."""
    video = noise_frames(frames, size) if noise else growing_bar(frames, size)
    return encode(path, video, fps=fps, tag=tag)
