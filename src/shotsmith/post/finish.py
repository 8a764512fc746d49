"""finish_clip: the model's raw frames in, the product's finished files out.

Reads like a numbered script: check inputs, prepare the frame source, encode, measure,
GIF beside cover and sprite, sidecar, commit. Everything is written under temp names in the
output folder and moved into place with os.replace at the end, so a crash never leaves
a half-written file under a final name and a re-run simply replaces the old set.
"""

from __future__ import annotations

import glob
import json
import math
import numbers
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import ffmpeg
from .images import write_cover_and_sprite
from .media import probe_video
from .settings import ClipFiles, PostError, PostSettings
from .upscale import load_upscaler

MAX_NATIVE_FPS = 240
TEMP_MARK = "shotsmith-tmp"  # in every temp file's name (jobs/worker.py clears them after a crash)


def finish_clip(
    frames: np.ndarray,
    native_fps: float,
    out_path: Path,
    settings: PostSettings,
    metadata: dict,
    timings: dict | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    audio_from: list[dict] | None = None,
) -> ClipFiles:
    """Upscale, interpolate and encode frames; write MP4, GIF, cover, sprite and sidecar.

    frames: uint8 (T, H, W, 3) RGB at the model's native size and native_fps. Writes
    out_path (.mp4), <stem>.gif (if settings.gif), <stem>.jpg, <stem>.sprite.jpg and
    <stem>.json next to it. The clip lasts T / native_fps seconds at settings.fps.
    audio: the model's sound track (float (channels, samples) at sample_rate), muxed into the
    MP4 as AAC lasting as long as the clip; the GIF and the images have none; the sidecar says.
    audio_from: where the sound came from, for the sidecar, when it is not the model's own (an
    edit keeps its source's sound: [{"sound": "source", "file": ..., "seconds": ...}]).
    """
    # 1. Check inputs
    out_path = Path(out_path)
    _check_inputs(frames, native_fps, out_path, settings, metadata)
    native = {"frames": int(frames.shape[0]), "width": int(frames.shape[2]),
              "height": int(frames.shape[1]), "fps": float(native_fps)}

    if audio is not None and not (isinstance(sample_rate, int) and sample_rate > 0):
        raise PostError(f"sample_rate must be a positive whole number with audio, got {sample_rate!r}")
    seconds = len(frames) / float(native_fps)

    def encode(video: Path, own: dict) -> None:
        # 2. Frame source: native frames for lanczos, model-upscaled frames for SR
        source, in_size = _frame_source(frames, settings, own)
        # 3. Upscale + interpolate + encode in one ffmpeg process (then the sound, where there is one)
        silent = temp_path(out_path, "silent") if audio is not None else video
        try:
            with _timed(own, "post_encode_s"):
                ffmpeg.encode_video(source, in_size, float(native_fps), len(frames), settings, metadata, silent)
            if audio is not None:
                with _timed(own, "post_audio_s"):
                    ffmpeg.add_audio(silent, audio, sample_rate, seconds, video)
        finally:
            if silent != video:
                silent.unlink(missing_ok=True)

    sound = None
    if audio is not None:
        channels = 1 if np.ndim(audio) == 1 else int(np.shape(audio)[0])
        sound = audio_sidecar(sample_rate, channels, seconds, audio_from)
    return finish_encoded(encode, out_path, settings, metadata, native, timings, sound)


def audio_sidecar(sample_rate: int, channels: int, seconds: float, parts: list[dict] | None = None) -> dict:
    """The sidecar's `audio`: what the MP4's sound track is (AAC), and, where it was assembled
    (edits, extensions), its pieces in time order: {"sound": "source" | "model" | "silence",
    "seconds": ...} ("file": the source's name, for its sound)."""
    sound = {"codec": "aac", "sample_rate": sample_rate, "channels": channels, "seconds": round(seconds, 3),
             "in": ["video"]}
    if parts:
        sound["from"] = parts
    return sound


def finish_encoded(encode: Callable[[Path, dict], None], out_path: Path, settings: PostSettings, metadata: dict,
                   native: dict, timings: dict | None = None, audio: dict | None = None) -> ClipFiles:
    """The finishing steps every clip shares, around an `encode(temp_mp4, own_timings)` that writes
    the MP4: measure it, GIF, cover, sprite, sidecar (`native` describes the model's frames), commit."""
    started = time.perf_counter()
    own: dict[str, float] = {}
    out_path = Path(out_path)
    final = final_paths(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out_path)
    temps = {kind: temp_path(out_path, kind) for kind in final}
    try:
        encode(temps["video"], own)
        # 4. Measure what was actually written
        clip = probe_video(temps["video"])
        # 5-6. GIF preview (an ffmpeg process, waited on by a helper thread) while the cover and the
        # sprite sheet are taken from the finished frames here: both only read the MP4
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shotsmith-gif") as pool:
            gif = pool.submit(_gif, temps["video"], settings, temps["gif"]) if settings.gif else None
            with _timed(own, "post_images_s"):
                write_cover_and_sprite(temps["video"], clip["frames"], settings.sprite_columns,
                                       settings.sprite_frames, temps["cover"], temps["sprite"])
            if gif is not None:
                own["post_gif_s"] = gif.result()
        own["post_total_s"] = round(time.perf_counter() - started, 3)
        # 7. Sidecar: everything needed to re-make the clip
        all_timings = {**(timings or {}), **own}
        sidecar = _sidecar(native, settings, metadata, clip, all_timings, final, audio)
        temps["sidecar"].write_text(json.dumps(sidecar, indent=2, default=str) + "\n")
        # 8. Commit: sidecar last, so its presence means the whole set is in place
        _commit(temps, final, settings.gif)
    finally:
        for path in temps.values():
            path.unlink(missing_ok=True)
    return ClipFiles(
        video=final["video"], gif=final["gif"] if settings.gif else None,
        cover=final["cover"], sprite=final["sprite"], sidecar=final["sidecar"],
        width=clip["width"], height=clip["height"], fps=clip["fps"],
        frames=clip["frames"], duration=clip["duration"], timings=own,
    )


def _check_inputs(frames, native_fps, out_path: Path, settings, metadata) -> None:
    if not isinstance(settings, PostSettings):
        raise PostError(f"settings must be PostSettings, got {type(settings).__name__}")
    if not isinstance(metadata, dict):
        raise PostError(f"metadata must be a dict, got {type(metadata).__name__}")
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise PostError("frames must be a uint8 numpy array of shape (T, H, W, 3)")
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) < 1:
        raise PostError(f"frames has shape {frames.shape}; expected (T, H, W, 3) with T, H, W >= 1")
    is_number = isinstance(native_fps, numbers.Real) and not isinstance(native_fps, bool)
    if not is_number or not math.isfinite(native_fps) or not 0 < native_fps <= MAX_NATIVE_FPS:
        raise PostError(f"native_fps={native_fps!r} must be a number in (0, {MAX_NATIVE_FPS}]")
    if out_path.suffix.lower() != ".mp4":
        raise PostError(f"out_path={str(out_path)!r} must end in .mp4")


def clip_paths(out: Path, count: int) -> list[Path]:
    """clip.mp4 for one candidate; clip-1.mp4 .. clip-K.mp4 for several."""
    out = Path(out).with_suffix(".mp4")
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}.mp4") for i in range(1, count + 1)]


def contact_sheet_path(out: Path) -> Path:
    """clip-contact.jpg beside clip.mp4: one row of frames per candidate."""
    out = Path(out).with_suffix("")
    return out.with_name(out.name + "-contact.jpg")


def final_paths(out_path: Path) -> dict[str, Path]:
    """The files of one finished clip, by kind: video, gif, cover, sprite, sidecar."""
    stem = out_path.stem
    return {
        "video": out_path,
        "gif": out_path.with_suffix(".gif"),
        "cover": out_path.with_name(f"{stem}.jpg"),
        "sprite": out_path.with_name(f"{stem}.sprite.jpg"),
        "sidecar": out_path.with_name(f"{stem}.json"),
    }


def temp_path(out_path: Path, kind: str) -> Path:
    # Same folder as the final file, so os.replace is a rename on one filesystem;
    # hidden and unique per run, so a reader never mistakes it for a finished file.
    return out_path.with_name(f".{out_path.stem}.{TEMP_MARK}-{uuid.uuid4().hex[:8]}-{kind}")


def _remove_stale_temps(out_path: Path) -> None:
    # Temps left by a run that was killed (SIGKILL skips our cleanup) for this clip.
    pattern = f".{glob.escape(out_path.stem)}.{TEMP_MARK}-*"
    for stale in out_path.parent.glob(pattern):
        stale.unlink(missing_ok=True)


def _frame_source(frames: np.ndarray, settings: PostSettings, own: dict):
    height, width = frames.shape[1:3]
    if not settings.uses_sr_model:
        return iter(frames), (width, height)
    with _timed(own, "post_upscaler_load_s"):
        upscaler = load_upscaler(settings.upscaler)
    # SR runs lazily inside the encode: each upscaled frame streams into ffmpeg.
    return upscaler.frames(frames), upscaler.output_size(width, height)


def _gif(video: Path, settings: PostSettings, out: Path) -> float:
    started = time.perf_counter()
    ffmpeg.encode_gif(video, _gif_size(settings), settings.fps, out)
    return round(time.perf_counter() - started, 3)


def _gif_size(settings: PostSettings) -> tuple[int, int]:
    height = round(settings.gif_width * settings.height / settings.width / 2) * 2
    return settings.gif_width, max(2, height)


def _sidecar(native, settings, metadata, clip, timings, final, audio=None) -> dict:
    from .. import __version__

    names = {kind: path.name for kind, path in final.items()}
    if not settings.gif:
        names["gif"] = None
    return {
        "shotsmith_version": __version__,
        "metadata": metadata,
        "post": settings.to_dict(),
        "clip": {**clip, "native": native},
        # the sound track: None for a silent clip; where there is one, only the MP4 has it
        "audio": audio,
        "timings": timings,
        "files": names,
    }


def _commit(temps: dict[str, Path], final: dict[str, Path], with_gif: bool) -> None:
    for kind in ("video", "gif", "cover", "sprite", "sidecar"):
        if kind == "gif" and not with_gif:
            # A GIF from an earlier run would no longer match the new video.
            final["gif"].unlink(missing_ok=True)
            continue
        os.replace(temps[kind], final[kind])


@contextmanager
def _timed(timings: dict, key: str) -> Iterator[None]:
    """Records the block's wall time, in seconds, as timings[key]."""
    start = time.perf_counter()
    yield
    timings[key] = round(time.perf_counter() - start, 3)
