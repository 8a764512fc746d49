"""Source clips (an edit's `video`, an extension's `extend_from`) read back as frames.

A source may come from anywhere: any size, length and frame rate. It is resampled here to
what the consumer needs (the model's native size and frame count for an edit; the output
size and rate for an extension), and the change is said in a note the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .media import iter_frames, probe_video
from .settings import PostError


@dataclass
class SourceClip:
    """What a source clip is, as probed."""

    name: str  # file name only: notes and sidecars never carry a server path
    width: int
    height: int
    frames: int
    fps: float
    duration: float

    def describe(self) -> str:
        return f"{self.width}x{self.height}, {self.frames} frames at {self.fps:g} fps ({self.duration:.2f} s)"


def probe_source(path: Path | str) -> SourceClip:
    info = probe_video(path)
    fps = info["fps"] or (info["frames"] / info["duration"] if info["duration"] else 0.0)
    duration = info["duration"] or (info["frames"] / fps if fps else 0.0)
    return SourceClip(Path(path).name, info["width"], info["height"], info["frames"], fps, duration)


def cover_crop_box(src: tuple[int, int], dst: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box of `src` (W, H) with `dst`'s aspect: scaled to cover, then cropped (as post does)."""
    sw, sh = src
    dw, dh = dst
    if sw * dh > sh * dw:  # wider than the target: crop the sides
        w = round(sh * dw / dh)
        return (sw - w) // 2, 0, (sw - w) // 2 + w, sh
    h = round(sw * dh / dw)
    return 0, (sh - h) // 2, sw, (sh - h) // 2 + h


def resize_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """One RGB frame to (height, width), cover-and-crop, Lanczos (antialiased when shrinking)."""
    from PIL import Image

    if frame.shape[:2] == (height, width):
        return frame
    img = Image.fromarray(frame)
    box = cover_crop_box(img.size, (width, height))
    return np.asarray(img.resize((width, height), Image.Resampling.LANCZOS, box=box))


def sample_indices(source_frames: int, count: int) -> list[int]:
    """`count` frame indices spread evenly over the whole source, first and last included."""
    return np.linspace(0, max(source_frames - 1, 0), count).round().astype(int).tolist()


def read_resampled(path: Path | str, width: int, height: int, count: int, fps: float) -> tuple[np.ndarray, str]:
    """The whole source as `count` frames of (height, width), and a note saying what changed.

    Frames are taken evenly over the source's length, so a clip of another length is retimed to
    `count / fps` seconds; only the frames used are converted and resized."""
    source = probe_source(path)
    indices = sample_indices(source.frames, count)
    picked: dict[int, np.ndarray] = {}
    for index, frame in iter_frames(path, indices):
        picked[index] = resize_frame(frame, width, height)
    if not picked:
        raise PostError(f"{source.name} has no decodable frames")
    # A container may claim more frames than decode: the nearest decoded one stands in.
    have = sorted(picked)
    frames = np.stack([picked[min(have, key=lambda h: abs(h - i))] for i in indices])
    target = f"{width}x{height}, {count} frames at {fps:g} fps ({count / fps:.2f} s)"
    if (source.width, source.height, source.frames) == (width, height, count) and abs(source.fps - fps) < 0.01:
        note = f"source {source.name}: {source.describe()}, used as it is"
    else:
        note = f"source {source.name}: {source.describe()} resampled to {target}"
    return frames, note


def read_tail(path: Path | str, seconds: float = 1.0) -> np.ndarray:
    """The source's last `seconds` of frames (at least its last frame), as decoded."""
    source = probe_source(path)
    count = max(1, round(seconds * source.fps)) if source.fps else 1
    wanted = range(max(0, source.frames - count), source.frames)
    frames = [frame for _, frame in iter_frames(path, wanted)]
    if not frames:  # the container claimed frames that do not decode: read them all, keep the end
        frames = [frame for _, frame in iter_frames(path)][-count:]
    if not frames:
        raise PostError(f"{source.name} has no decodable frames")
    return np.stack(frames)


def source_segments(path: Path | str) -> tuple[list[dict], int]:
    """The parts a clip is made of, each with what re-makes it, and how many times it was extended.

    A shotsmith extension lists its segments; another shotsmith clip is one segment, from its
    own metadata; a clip made elsewhere is one "source" part: its file name and length."""
    from .media import read_clip_metadata

    source = probe_source(path)
    try:
        meta = read_clip_metadata(path)
    except PostError:
        meta = {}
    if isinstance(meta.get("segments"), list) and meta["segments"]:
        return meta["segments"], int((meta.get("extension") or {}).get("count", 0))
    if meta.get("model"):
        native = meta.get("native") or {}
        return [{"kind": "generate", "prompt": meta.get("prompt"), "enhanced_prompt": meta.get("enhanced_prompt"),
                 "seed": meta.get("seed"), "model": meta.get("model"), "frames": native.get("frames"),
                 "seconds": round(source.duration, 3)}], 0
    return [{"kind": "source", "file": source.name, "seconds": round(source.duration, 3)}], 0


def read_audio(path: Path | str, rate: int | None = None, channels: int | None = None
               ) -> tuple[np.ndarray, int] | None:
    """The clip's first sound track as float32 (channels, samples) in [-1, 1], and its sample rate;
    None for a silent clip. `rate` / `channels`: resampled to these (another clip's sound to join)."""
    import av

    try:
        container = av.open(str(path))
    except (FileNotFoundError, av.error.FFmpegError) as exc:
        raise PostError(f"cannot open {Path(path).name}: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = int(rate or stream.rate)
        layout = {1: "mono", 2: "stereo"}.get(channels or stream.channels, "stereo")
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        parts = []
        for frame in container.decode(stream):
            parts += [f.to_ndarray() for f in resampler.resample(frame)]
        parts += [f.to_ndarray() for f in resampler.resample(None)]
    if not parts:
        return None
    return np.concatenate(parts, axis=1).astype(np.float32), rate


def fit_audio(samples: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """`samples` (channels, n) cut, or padded with silence, to exactly `seconds`."""
    want = max(0, round(seconds * rate))
    if samples.shape[1] >= want:
        return samples[:, :want]
    return np.concatenate([samples, np.zeros((samples.shape[0], want - samples.shape[1]), np.float32)], axis=1)
