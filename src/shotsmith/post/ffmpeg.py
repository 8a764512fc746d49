"""Everything that talks to the ffmpeg binary shipped by imageio-ffmpeg.

One ffmpeg process does scale + interpolate + encode, reading raw RGB frames from
stdin, so frames never touch the disk as images and a super-resolution model can
stream its output straight into the encoder. ffmpeg is started through
`shotsmith.procs.popen`, so it dies with the server or worker that started it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from shotsmith import procs

from .settings import PostError, PostSettings

# The GIF preview: 8 fps reads as motion in a preview and costs two thirds of 12 fps (palette
# mapping and LZW are per pixel); the palette is built from every 4th of those frames, which
# measured the same PSNR against the clip (benchmarks/startup.py, docs/performance.md).
GIF_FPS = 8
GIF_PALETTE_EVERY = 4
# Cloned copies of the last native frame appended before interpolation. minterpolate
# stops ~2 native frames before the end of its input and the fps/framerate filters
# stop at the last frame's timestamp, so without padding the clip comes out short;
# with it every mode overshoots and `trim` cuts to exactly the expected frame count.
PAD_FRAMES = 3
STDERR_TAIL_LINES = 12
# Linux caps one argv string at 128 KiB; fail clearly before Popen fails with E2BIG.
MAX_METADATA_CHARS = 100_000


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # a hard dependency, but say so plainly if it is missing
        raise PostError("post-processing needs the imageio-ffmpeg package") from exc
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise PostError(f"no ffmpeg binary available: {exc}") from exc


def output_frame_count(frames: int, native_fps: float, fps: int) -> int:
    """Frames the finished clip must have to last exactly frames / native_fps seconds."""
    return max(1, round(frames * fps / native_fps))


def video_filter(in_size: tuple[int, int], settings: PostSettings, out_frames: int) -> str:
    """The -vf chain: pad, then interpolate and scale in the cheaper order, then trim.

    Interpolation cost grows with pixel count (minterpolate's motion search is the
    slowest step by far), so it runs at whichever of input and output size is smaller:
    before the upscale for model-native frames, after the downscale for frames an SR
    model made bigger than the target.
    """
    pad = f"tpad=stop_mode=clone:stop={PAD_FRAMES}"
    interp = _interpolation_filter(settings)
    # Cover-and-crop keeps the aspect ratio when the model's aspect differs from the
    # requested one (1360x768 into 1440x960); for equal aspects the crop is a no-op.
    scale = (
        f"scale={settings.width}:{settings.height}:flags=lanczos"
        f":force_original_aspect_ratio=increase,crop={settings.width}:{settings.height},setsar=1"
    )
    trim = f"trim=end_frame={out_frames}"
    in_pixels = in_size[0] * in_size[1]
    if in_pixels <= settings.width * settings.height:
        return ",".join([pad, interp, trim, scale])
    return ",".join([pad, scale, interp, trim])


def _interpolation_filter(settings: PostSettings) -> str:
    if settings.interpolation == "minterpolate":
        # Motion-compensated: bidirectional search, overlapped blocks, variable-size blocks.
        return (
            f"minterpolate=fps={settings.fps}:mi_mode=mci:mc_mode=aobmc"
            ":me_mode=bidir:vsbmc=1"
        )
    if settings.interpolation == "blend":
        return f"framerate=fps={settings.fps}"
    return f"fps={settings.fps}"  # "none": duplicate frames to reach the rate


def encode_video(
    frames: Iterable[np.ndarray],
    in_size: tuple[int, int],
    native_fps: float,
    frame_count: int,
    settings: PostSettings,
    metadata: dict,
    out_path: Path,
) -> None:
    """Encode RGB frames of in_size (W, H) at native_fps into an H.264 MP4 at out_path."""
    rate = Fraction(native_fps).limit_denominator(1001)
    out_frames = output_frame_count(frame_count, native_fps, settings.fps)
    args = [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{in_size[0]}x{in_size[1]}",
        "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-",
        "-vf", video_filter(in_size, settings, out_frames),
        "-frames:v", str(out_frames),
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(settings.crf),
        "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        *_metadata_args(metadata),
        "-f", "mp4", str(out_path),
    ]
    run_ffmpeg(args, "encode video", stdin_frames=frames)


def add_audio(video: Path, audio: np.ndarray, sample_rate: int, seconds: float, out_path: Path) -> None:
    """`video` (an MP4 with no sound) with `audio` (float (channels, samples) in [-1, 1]) muxed in
    as AAC, written to out_path. The picture is copied as it is, the global metadata too; the
    sound is padded with silence or cut so that it lasts exactly `seconds`, the clip's length."""
    import wave

    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None]
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).round().astype("<i2").T  # (samples, channels), interleaved
    with tempfile.NamedTemporaryFile(suffix=".wav", dir=out_path.parent, prefix=f".{out_path.stem}.") as wav:
        with wave.open(wav.name, "wb") as writer:
            writer.setnchannels(pcm.shape[1])
            writer.setsampwidth(2)
            writer.setframerate(int(sample_rate))
            writer.writeframes(np.ascontiguousarray(pcm).tobytes())
        args = ["-i", str(video), "-i", wav.name, "-map", "0:v:0", "-map", "1:a:0", "-map_metadata", "0",
                "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-af", "apad", "-t", f"{seconds:.6f}",
                "-movflags", "+faststart", "-f", "mp4", str(out_path)]
        run_ffmpeg(args, "add the sound track")


def _metadata_args(metadata: dict) -> list[str]:
    # The full record goes in `comment` as JSON (what read_clip_metadata returns);
    # title/description carry the prompt for players and file browsers that show them.
    # ensure_ascii=False: an emoji is one character here, not a 12-character escape pair
    comment = json.dumps(metadata, default=str, sort_keys=True, ensure_ascii=False)
    if len(comment) > MAX_METADATA_CHARS:
        raise PostError(f"metadata is {len(comment)} characters as JSON; at most "
                        f"{MAX_METADATA_CHARS} fit in the MP4 comment tag")
    args = ["-metadata", f"comment={comment}"]
    prompt = metadata.get("prompt")
    if prompt:
        args += ["-metadata", f"title={prompt}"]
    described = metadata.get("enhanced_prompt") or prompt
    if described:
        seed = metadata.get("seed")
        suffix = f" (seed {seed})" if seed is not None else ""
        args += ["-metadata", f"description={described}{suffix}"]
    return args


def gif_graph(size: tuple[int, int], fps: int) -> str:
    """The GIF preview's filter graph: GIF_FPS frames a second, one palette for the whole clip
    taken from every GIF_PALETTE_EVERY-th of them, ordered dither, only changed rectangles."""
    gif_fps = min(GIF_FPS, fps)
    return (
        f"fps={gif_fps},scale={size[0]}:{size[1]}:flags=lanczos,split[a][b];"
        f"[a]select='not(mod(n\\,{GIF_PALETTE_EVERY}))',palettegen=stats_mode=full[p];"
        "[b][p]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle"
    )


def encode_gif(video: Path, size: tuple[int, int], fps: int, out_path: Path) -> None:
    """A palette GIF from the finished MP4 (see gif_graph)."""
    args = ["-i", str(video), "-filter_complex", gif_graph(size, fps), "-loop", "0", "-f", "gif", str(out_path)]
    run_ffmpeg(args, "encode gif")


def run_ffmpeg(args: list[str], step: str, stdin_frames: Iterable[np.ndarray] | None = None) -> None:
    """Run ffmpeg; on failure raise PostError with the step and stderr's last lines.

    stderr goes to a temp file rather than a pipe: while we block writing frames to
    stdin nobody reads a pipe, and a chatty ffmpeg would deadlock on a full one.
    """
    # -nostdin only stops ffmpeg reading keyboard commands; `-i -` still reads frames.
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    with tempfile.TemporaryFile() as err:
        stdin = subprocess.PIPE if stdin_frames is not None else subprocess.DEVNULL
        proc = procs.popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err)
        try:
            if stdin_frames is not None:
                _feed(proc, stdin_frames)
            code = proc.wait()
        except BaseException:
            # Our side failed (e.g. the SR model raised, or a KeyboardInterrupt): don't leave ffmpeg running.
            procs.kill(proc)
            raise
        if code != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-STDERR_TAIL_LINES:]
            detail = "\n".join(tail) or "(no stderr output)"
            raise PostError(f"ffmpeg failed to {step} (exit code {code}):\n{detail}")


def _feed(proc: subprocess.Popen, frames: Iterable[np.ndarray]) -> None:
    assert proc.stdin is not None
    try:
        for frame in frames:
            # The array's own buffer (copied only if not already contiguous uint8), not tobytes()
            proc.stdin.write(memoryview(np.ascontiguousarray(frame, dtype=np.uint8)))
        proc.stdin.close()
    except BrokenPipeError:
        # ffmpeg exited early; its exit code and stderr explain why, so fall through
        # to the caller's check instead of surfacing a bare BrokenPipeError.
        pass


def raw_shape(size: tuple[int, int], pix_fmt: str) -> tuple[int, ...]:
    """The array shape of one raw frame of size (W, H): rgb24 (H, W, 3); yuv420p's three planes
    stacked as (H * 3 / 2, W), the layout PyAV's to_ndarray gives."""
    w, h = size
    return (h, w, 3) if pix_fmt == "rgb24" else (h * 3 // 2, w)


def filtered_frames(frames: Iterable[np.ndarray], in_size: tuple[int, int], native_fps: float, vf: str,
                    out_size: tuple[int, int], step: str, pix_fmt: str = "rgb24") -> Iterator[np.ndarray]:
    """RGB frames through an ffmpeg filter chain, back as raw frames of out_size (W, H) in pix_fmt
    (rgb24 or yuv420p), streamed.

    A helper thread writes the input (so neither pipe can fill up while we wait on the other);
    the child is killed if the caller stops reading early."""
    rate = Fraction(native_fps).limit_denominator(1001)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{in_size[0]}x{in_size[1]}",
           "-r", f"{rate.numerator}/{rate.denominator}", "-i", "-", "-vf", vf,
           "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    yield from _raw_frames(cmd, raw_shape(out_size, pix_fmt), step, frames)


def file_frames(path: Path, vf: str, out_size: tuple[int, int], step: str, pix_fmt: str = "rgb24",
                from_end: float | None = None) -> Iterator[np.ndarray]:
    """A video file's frames through an ffmpeg filter chain, as raw frames (see filtered_frames);
    from_end: start this many seconds before the end (a seek, so the rest is not decoded)."""
    seek = ["-sseof", f"-{from_end:g}"] if from_end else []
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *seek, "-i", str(path),
           "-vf", vf, "-an", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    yield from _raw_frames(cmd, raw_shape(out_size, pix_fmt), step, None)


def _raw_frames(cmd: list[str], shape: tuple[int, ...], step: str,
                frames: Iterable[np.ndarray] | None) -> Iterator[np.ndarray]:
    frame_bytes = int(np.prod(shape))
    with tempfile.TemporaryFile() as err:
        stdin = subprocess.PIPE if frames is not None else subprocess.DEVNULL
        proc = procs.popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=err)
        writer = None
        if frames is not None:
            writer = threading.Thread(target=_feed, args=(proc, frames), name="shotsmith-ffmpeg-feed", daemon=True)
            writer.start()
        try:
            assert proc.stdout is not None
            while True:
                data = proc.stdout.read(frame_bytes)
                if len(data) < frame_bytes:
                    break
                yield np.frombuffer(data, np.uint8).reshape(shape)
            code = proc.wait()
            if writer is not None:
                writer.join()
        except BaseException:
            procs.kill(proc)
            raise
        finally:
            if proc.poll() is None:  # the caller stopped reading (GeneratorExit)
                procs.kill(proc)
        if code != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-STDERR_TAIL_LINES:]
            raise PostError(f"ffmpeg failed to {step} (exit code {code}):\n" + ("\n".join(tail) or "(no stderr)"))
