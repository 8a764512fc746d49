"""Reading finished clips back with PyAV: probe, decode, embedded metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .settings import PostError


def _open(path: Path | str):
    import av  # imported lazily so `import shotsmith.post` does no work at import time

    try:
        return av.open(str(path))
    except (FileNotFoundError, av.error.FFmpegError) as exc:
        raise PostError(f"cannot open video {path}: {exc}") from exc


def probe_video(path: Path | str) -> dict:
    """width, height, fps, frames, duration (s), codec and pix_fmt of the first video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise PostError(f"{path} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = stream.frames or _count_packets(container, stream)
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # container.duration is in microseconds
        else:
            duration = frames / float(rate) if rate else 0.0
        return {
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "fps": float(rate) if rate else 0.0,
            "frames": int(frames),
            "duration": duration,
            "codec": stream.codec_context.name,
            "pix_fmt": stream.codec_context.pix_fmt,
        }


def _count_packets(container, stream) -> int:
    # Some containers don't store a frame count; demuxing is cheap (no decoding).
    return sum(1 for packet in container.demux(stream) if packet.size)


def decode_frames(path: Path | str) -> np.ndarray:
    """All frames of the first video stream as uint8 (T, H, W, 3) RGB."""
    frames = [frame for _, frame in iter_frames(path)]
    if not frames:
        raise PostError(f"{path} has no decodable frames")
    return np.stack(frames)


def iter_frames(path: Path | str, indices: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) pairs; with indices, only those frames are converted to RGB.

    Decoding has to walk every frame anyway (H.264 seeks land on keyframes), but the
    RGB conversion is the expensive part at 1440x960, so it is skipped for the rest.
    """
    wanted = None if indices is None else set(indices)
    last = max(wanted, default=-1) if wanted is not None else None
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if wanted is None or index in wanted:
                yield index, frame.to_ndarray(format="rgb24")
            if last is not None and index >= last:
                return  # nothing wanted further on: stop decoding


def read_clip_metadata(path: Path | str) -> dict:
    """The metadata dict finish_clip embedded in the MP4's `comment` tag."""
    with _open(path) as container:
        comment = container.metadata.get("comment")
    if not comment:
        raise PostError(f"{path} has no shotsmith metadata (no 'comment' tag)")
    try:
        data = json.loads(comment)
    except json.JSONDecodeError as exc:
        raise PostError(f"{path}: the 'comment' tag is not shotsmith JSON metadata") from exc
    if not isinstance(data, dict):
        raise PostError(f"{path}: the 'comment' tag is not shotsmith JSON metadata")
    return data
