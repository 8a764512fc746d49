"""One MP4 from a source clip and the new frames that continue it.

The new native frames are upscaled and interpolated like any clip (ffmpeg, streamed back),
starting from a lead frame (the frame they continue from), so the step across the join is an
in-between like every other step; the lead frame itself is dropped, so no frame repeats. At
the output size the source's last frame and the upscaled lead still differ (a source made at
another size, and the down- and upscale), so that difference is added to the new part's
first second, fading out. The new part is handled in yuv420p, the encoder's own format:
an RGB round trip shifts levels by about one step in 255, which would show at the join.
A second ffmpeg process brings the source file to the output size
and rate (cover-and-crop, `fps`), concatenates the new part and encodes the clip once. The
finishing steps are finish_clip's own; every join is measured on the written file.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import ffmpeg
from .finish import _frame_source, _timed, finish_encoded
from .media import iter_frames, probe_video
from .seams import colour_shift, jump_ratio
from .settings import ClipFiles, PostError, PostSettings

JOIN_WINDOW_SECONDS = 1.0  # frames each side of a join that its measurements read
MEASURE_WIDTH = 384  # joins are measured on frames at most this wide: seconds of 1440x960 frames are GBs


def new_part_frames(native_frames: int, native_fps: float, fps: int) -> int:
    """Output frames of `native_frames` new frames: exactly their length at the output rate."""
    return max(1, round(native_frames * fps / native_fps))


def source_chain(settings: PostSettings) -> str:
    """The source file at the output size and rate, in the encoder's pixel format."""
    w, h = settings.width, settings.height
    return (f"fps={settings.fps},scale={w}:{h}:flags=lanczos:force_original_aspect_ratio=increase,"
            f"crop={w}:{h},setsar=1,format=yuv420p")


def source_graph(settings: PostSettings) -> str:
    """[0] the source file at the output size and rate, [1] the new part (already so), concatenated."""
    return (f"[0:v]{source_chain(settings)},setpts=PTS-STARTPTS[a];"
            "[1:v]setsar=1,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1:a=0[v]")


def source_last_frame(source: Path, settings: PostSettings) -> np.ndarray:
    """The source's last frame exactly as the stitched clip shows it (yuv420p planes at the output size)."""
    last = None
    # A seek moves the `fps` filter's time grid: only a source at the output rate (every frame
    # kept) may skip to its end and still give the very frame the full pass shows last.
    if abs(probe_video(source)["fps"] - settings.fps) < 0.01:
        for frame in ffmpeg.file_frames(source, source_chain(settings), (settings.width, settings.height),
                                        "read the source's end", "yuv420p", from_end=2.0):
            last = frame
    if last is None:  # another rate, or a clip shorter than the seek: read it from its start
        for frame in ffmpeg.file_frames(source, source_chain(settings), (settings.width, settings.height),
                                        "read the source's end", "yuv420p"):
            last = frame
    if last is None:
        raise PostError(f"{Path(source).name}: no frame decodes at its end")
    return last.copy()


def new_part(new: np.ndarray, lead: np.ndarray | None, join_to: np.ndarray | None, native_fps: float,
             settings: PostSettings, own: dict) -> Iterator[np.ndarray]:
    """The new frames at the output size and rate, as yuv420p planes (the encoder's own format, so
    the new part is converted from RGB once, like the lead frame it is corrected against):
    interpolated from `lead` (then dropped), and with `join_to - lead` at the output size faded
    out over the first second."""
    frames = new if lead is None else np.concatenate([lead[None], new])
    stream, in_size = _frame_source(frames, settings, own)
    count = new_part_frames(len(new), native_fps, settings.fps) + (lead is not None)
    vf = ffmpeg.video_filter(in_size, settings, count) + ",format=yuv420p"
    out = ffmpeg.filtered_frames(stream, in_size, native_fps, vf, (settings.width, settings.height),
                                 "upscale the new frames", "yuv420p")
    if lead is None:
        yield from out
        return
    first = next(out).astype(np.float32)  # the lead frame as the new part shows it: not shown
    residual = None if join_to is None else join_to.astype(np.float32) - first
    fade = max(1, settings.fps)
    for i, frame in enumerate(out):
        if residual is not None and i < fade:
            frame = np.clip(frame + residual * (1 - (i + 1) / (fade + 1)), 0, 255).round().astype(np.uint8)
        yield frame


def stitch_clip(source: Path, new: np.ndarray, lead: np.ndarray | None, native_fps: float, out_path: Path,
                settings: PostSettings, metadata: dict, native: dict, joins_native: list[int],
                timings: dict | None = None, *, sound: bool = True, new_audio: np.ndarray | None = None,
                sample_rate: int | None = None) -> ClipFiles:
    """Write `source` followed by `new` (uint8 (K, H, W, 3) at native_fps) as one finished clip.

    lead: the native frame `new` continues from (interpolated from, not shown; the new part then
    starts on the source's last frame as shown), or None for a hard cut. joins_native: where
    later joins fall inside `new`, in native frames. Every join is measured on the written MP4
    and recorded in the sidecar's metadata (the MP4's own tag is written before the measurement).

    Sound (sound=True): the source's own sound track under the source's part, then `new_audio`
    (the model's sound for the new frames, float (channels, samples) at sample_rate) under the
    new part, or silence where the model made none; AAC, as long as the picture. A clip with
    neither stays silent; sound=False (the request's `audio: false`) drops both."""
    from .finish import audio_sidecar, temp_path
    from .source import fit_audio, read_audio

    if new_audio is not None and not (isinstance(sample_rate, int) and sample_rate > 0):
        raise PostError(f"sample_rate must be a positive whole number with audio, got {sample_rate!r}")
    new_audio = None if not sound or new_audio is None else np.asarray(new_audio, dtype=np.float32)
    if new_audio is not None and new_audio.ndim == 1:
        new_audio = new_audio[None]
    # the source's sound, at the model's rate and channels where the two are joined
    heard = (read_audio(source, sample_rate if new_audio is not None else None,
                        new_audio.shape[0] if new_audio is not None else None) if sound else None)
    described = None
    if heard is not None or new_audio is not None:
        rate = sample_rate if new_audio is not None else heard[1]
        channels = new_audio.shape[0] if new_audio is not None else heard[0].shape[0]
        described = audio_sidecar(rate, channels, 0.0, [])  # lengths filled in once the picture is written

    def with_sound(silent: Path, video: Path, total: int, added: int) -> None:
        """The source's sound, then the new part's (or silence), muxed under the written picture
        (`total` frames, the last `added` of them new)."""
        before, after = (total - added) / settings.fps, added / settings.fps
        rate, silence = described["sample_rate"], np.zeros((described["channels"], 0), np.float32)
        first = fit_audio(heard[0] if heard is not None else silence, rate, before)
        second = fit_audio(new_audio if new_audio is not None else silence, rate, after)
        ffmpeg.add_audio(silent, np.concatenate([first, second], axis=1), rate, total / settings.fps, video)
        described["seconds"] = round(total / settings.fps, 3)
        described["from"] = [
            {"sound": "source", "file": Path(source).name, "seconds": round(before, 3)} if heard is not None
            else {"sound": "silence", "seconds": round(before, 3)},
            {"sound": "model" if new_audio is not None else "silence", "seconds": round(after, 3)}]

    def encode(video: Path, own: dict) -> None:
        final_video = video
        if described is not None:
            video = temp_path(out_path, "silent")
        join_to = source_last_frame(source, settings) if lead is not None else None
        frames = new_part(new, lead, join_to, native_fps, settings, own)
        rate = Fraction(settings.fps)
        args = ["-i", str(source),
                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{settings.width}x{settings.height}",
                "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-",
                "-filter_complex", source_graph(settings), "-map", "[v]",
                "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart", *ffmpeg._metadata_args(metadata),
                "-f", "mp4", str(video)]
        with _timed(own, "post_encode_s"):
            try:
                ffmpeg.run_ffmpeg(args, "stitch the clip", stdin_frames=frames)
            finally:
                frames.close()  # stops the upscaling ffmpeg if the encode failed early
        added = new_part_frames(len(new), native_fps, settings.fps)
        total = probe_video(video)["frames"]  # the picture written; muxing sound keeps its frames
        if described is not None:
            try:
                with _timed(own, "post_audio_s"):
                    with_sound(video, final_video, total, added)
            finally:
                video.unlink(missing_ok=True)
            video = final_video
        with _timed(own, "post_joins_s"):
            at = [total - added] + [total - added + new_part_frames(k, native_fps, settings.fps)
                                    for k in joins_native]
            metadata["joins"] = measure_joins(video, at, settings.fps)

    return finish_encoded(encode, out_path, settings, metadata, native, timings, described)


def measure_joins(video: Path, joins: list[int], fps: float) -> list[dict]:
    """Each join's jump ratio and colour shift (post/seams.py), read from the written clip;
    `joins` are the indices of the first frame after each join."""
    from .source import resize_frame

    span = max(2, round(JOIN_WINDOW_SECONDS * fps))
    wanted = {i for j in joins for i in range(max(0, j - span), j + span)}
    frames = {}
    for i, frame in iter_frames(video, wanted):
        h, w = frame.shape[:2]
        frames[i] = frame if w <= MEASURE_WIDTH else resize_frame(frame, MEASURE_WIDTH,
                                                                  max(2, round(h * MEASURE_WIDTH / w)))
    out = []
    for j in joins:
        before = [frames[i] for i in range(max(0, j - span), j) if i in frames]
        after = [frames[i] for i in range(j, j + span) if i in frames]
        if not before or not after:
            continue
        before, after = np.stack(before), np.stack(after)
        out.append({"at_seconds": round(j / fps, 3), **jump_ratio(before, after),
                    "colour_shift": colour_shift(before, after)})
    return out
