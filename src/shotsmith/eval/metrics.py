"""Model-free clip metrics: what any clip's frames say, with no model and no reference.

Everything here works on uint8 RGB frames (T, H, W, 3) and the clip's frame rate, so
it judges the embedded shapes model and a real CogVideoX checkpoint alike:

- format: frame count, fps, duration (and, against a request, whether they match it);
- flicker: the mean absolute difference between consecutive frames (0-255, the issue's
  definition: motion raises it too), and ``temporal_noise``, the median absolute second
  difference over pixels and frames: near 0 where things stand still or move steadily,
  high where most pixels flip back and forth (noise, shimmer);
- motion: block Lucas-Kanade optical flow on a grey copy of the clip, coarse to fine,
  as the mean speed of the textured blocks in percent of the frame width per second;
- frozen: the longest stretch in which the picture does not change over half a second
  (fewer than 0.2% of the pixels change by more than 12 levels);
- blank frames (no contrast) and flashes (a jump of the mean brightness);
- near-duplicates between clips (candidates of one prompt, or different prompts): a
  small signature of 8 frames, compared pixel by pixel;
- for image-to-video, how well the first frame keeps the input image (PSNR and the
  CIELAB distance of their mean colours).

`clip_flags` turns the numbers into flags a report can show; the thresholds are the
module constants below (tuned on the shapes world and on encoded H.264 output).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ClipMetrics", "Flag", "FirstFrameMatch", "Signature", "clip_flags", "decode_for_analysis",
    "first_frame_match", "measure", "near_duplicate", "signature",
]

ANALYSIS_WIDTH = 192  # frames are decoded to at most this width (the detector works at 96x64)
FROZEN_LAG_S = 0.5  # compare each frame with the one half a second later
FROZEN_PIXEL_DELTA = 12  # a pixel "changes" when a channel moves by more than this
FROZEN_CHANGED_SHARE = 0.002  # the picture "does not change" when fewer pixels than this change
FROZEN_CLIP_SHARE = 0.9  # frozen for this share of the clip: a frozen clip
STALL_S = 1.5  # a frozen stretch at least this long inside a moving clip: a stall
BLANK_CONTRAST = 3.0  # std of the luma below this: a blank (flat) frame
BLANK_FRAME_SHARE = 0.5
FLASH_LUMA_JUMP = 40.0  # mean luma changes by more than this between two frames: a flash
NOISE_LEVEL = 3.0  # temporal_noise above this (0-255): the picture shimmers
DUPLICATE_SHARE = 0.01  # signatures differing in fewer than 1% of pixels: near-duplicates
DUPLICATE_PIXEL_DELTA = 24
FIRST_FRAME_PSNR = 18.0  # image-to-video: first frame below this PSNR (dB) does not keep the image
FIRST_FRAME_COLOUR = 12.0  # ... or mean colours further apart than this (CIELAB Delta E)
FORMAT_FPS_TOLERANCE = 0.5
FORMAT_DURATION_TOLERANCE_S = 0.25

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
FLOW_BLOCK = 8
FLOW_WIDTHS = (96, 48, 24)  # pyramid for the flow: finest level whose motion stays under FLOW_TRUST_PX
FLOW_TRUST_PX = 1.5  # LK on these smooth frames reads shifts up to ~1.5 px within ~10%


@dataclass
class Flag:
    """One finding about a clip. severity: fail (broken), warn (suspect), info (worth knowing)."""

    code: str
    severity: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClipMetrics:
    frames: int
    fps: float
    duration: float  # seconds
    width: int  # of the clip measured (the file's size, not the analysis copy's)
    height: int
    flicker: float  # mean |frame[t+1] - frame[t]|, 0-255
    flicker_max: float
    temporal_noise: float  # median |frame[t+1] - 2 frame[t] + frame[t-1]|, 0-255
    motion: float  # mean flow speed of textured blocks, % of frame width per second
    motion_max: float  # the fastest half-second, same unit
    frozen_s: float  # longest stretch without change, seconds
    frozen_share: float  # that stretch over the clip's duration
    contrast: float  # mean std of the luma per frame, 0-255
    blank_share: float  # share of frames with contrast under BLANK_CONTRAST
    luma_jump_max: float  # largest change of the mean luma between two frames, 0-255
    mean_rgb: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()} | {
            "mean_rgb": [round(v, 1) for v in self.mean_rgb]}


@dataclass
class FirstFrameMatch:
    psnr: float  # dB, first frame vs the input image at the frame's size
    colour_shift: float  # CIELAB Delta E between their mean colours

    def to_dict(self) -> dict:
        return {"psnr": round(self.psnr, 2), "colour_shift": round(self.colour_shift, 2)}


@dataclass
class Signature:
    """A small copy of a clip (8 frames at 48x32) for near-duplicate checks."""

    frames: np.ndarray  # (8, 32, 48, 3) float32


# 1. Frames ----------------------------------------------------------------------------


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def decode_for_analysis(path: Path | str, max_width: int = ANALYSIS_WIDTH) -> tuple[np.ndarray, dict]:
    """Decode a video to RGB frames no wider than max_width (area-averaged), with its probe.

    A 1440x960 clip becomes 192x128: enough for every metric here and for the shapes
    detector, and a 150-frame clip stays ~11 MB in memory instead of ~600 MB.
    """
    import av

    from shotsmith.post import PostError

    try:
        container = av.open(str(path))
    except (FileNotFoundError, av.error.FFmpegError) as exc:
        raise PostError(f"cannot open video {path}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise PostError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = stream.codec_context.width, stream.codec_context.height
        scale = min(1.0, max_width / width)
        size = dict(width=_even(width * scale), height=_even(height * scale)) if scale < 1 else {}
        frames = [frame.to_ndarray(format="rgb24", interpolation="AREA", **size)
                  for frame in container.decode(stream)]
        rate = stream.average_rate or stream.guessed_rate
    if not frames:
        raise PostError(f"{path} has no decodable frames")
    fps = float(rate) if rate else 0.0
    info = {"width": width, "height": height, "fps": fps, "frames": len(frames),
            "duration": len(frames) / fps if fps else 0.0}
    return np.stack(frames), info


def _grey(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ _LUMA


def _resize_grey(grey: np.ndarray, width: int) -> np.ndarray:
    """Area-average (T, H, W) grey frames down to about `width` (never up)."""
    t, h, w = grey.shape
    f = max(1, int(round(w / width)))
    if f == 1:
        return grey
    h2, w2 = h // f, w // f
    return grey[:, :h2 * f, :w2 * f].reshape(t, h2, f, w2, f).mean(axis=(2, 4))


# 2. Measurements ----------------------------------------------------------------------


def measure(frames: np.ndarray, fps: float, size: tuple[int, int] | None = None) -> ClipMetrics:
    """Every model-free number for one clip. size: (width, height) of the file, if frames are a copy."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t, h, w, _ = frames.shape
    f32 = frames.astype(np.float32)
    grey = f32 @ _LUMA
    if t > 1:
        first = np.abs(np.diff(f32, axis=0)).mean(axis=(1, 2, 3))
        flicker, flicker_max = float(first.mean()), float(first.max())
    else:
        flicker = flicker_max = 0.0
    temporal_noise = float(np.median(np.abs(grey[2:] - 2 * grey[1:-1] + grey[:-2]))) if t > 2 else 0.0
    speeds = flow_speeds(grey)  # px per frame at full analysis width, per frame pair
    per_second = speeds * fps / w * 100.0
    window = max(1, int(round(fps * 0.5)))
    if per_second.size:
        smooth = np.convolve(per_second, np.ones(window) / window, mode="valid") if per_second.size >= window \
            else per_second
        motion, motion_max = float(per_second.mean()), float(smooth.max())
    else:
        motion = motion_max = 0.0
    frozen_frames = _longest_frozen(frames, fps)
    duration = t / fps
    frozen_s = min(duration, frozen_frames / fps)
    contrast_t = grey.reshape(t, -1).std(axis=1)
    luma_t = grey.reshape(t, -1).mean(axis=1)
    width, height = size or (w, h)
    return ClipMetrics(
        frames=t, fps=float(fps), duration=duration, width=int(width), height=int(height),
        flicker=flicker, flicker_max=flicker_max, temporal_noise=temporal_noise, motion=motion, motion_max=motion_max,
        frozen_s=frozen_s, frozen_share=frozen_s / duration if duration else 0.0,
        contrast=float(contrast_t.mean()), blank_share=float((contrast_t < BLANK_CONTRAST).mean()),
        luma_jump_max=float(np.abs(np.diff(luma_t)).max()) if t > 1 else 0.0,
        mean_rgb=[float(v) for v in f32.mean(axis=(0, 1, 2))],
    )


def _longest_frozen(frames: np.ndarray, fps: float) -> int:
    """Frames in the longest stretch where the picture does not change over FROZEN_LAG_S."""
    t = frames.shape[0]
    if t < 2:
        return t
    lag = max(1, min(t - 1, int(round(fps * FROZEN_LAG_S))))
    a = frames[:-lag].astype(np.int16)
    b = frames[lag:].astype(np.int16)
    changed = (np.abs(a - b).max(axis=-1) > FROZEN_PIXEL_DELTA).mean(axis=(1, 2))
    still = changed < FROZEN_CHANGED_SHARE  # still[i]: frames i .. i+lag show the same picture
    best = run = 0
    for s in still:
        run = run + 1 if s else 0
        best = max(best, run)
    return best + lag if best else 0


def flow_speeds(grey: np.ndarray) -> np.ndarray:
    """Per frame pair, the mean optical-flow speed (px per frame, at the input width) of textured blocks.

    Lucas-Kanade on FLOW_BLOCK x FLOW_BLOCK blocks, solved in closed form per block, on a
    small pyramid: each pair is read at the finest level where it moves under
    FLOW_TRUST_PX per frame (LK is close for small shifts and drifts for large ones).
    """
    t, _, w = grey.shape
    if t < 2:
        return np.zeros(0, dtype=np.float32)
    result = None
    for width in FLOW_WIDTHS:
        level = _resize_grey(grey, width)
        if level.shape[1] < 2 * FLOW_BLOCK or level.shape[2] < 2 * FLOW_BLOCK:
            break
        scale = w / level.shape[2]
        speed = _lk_speeds(level)
        if result is None:
            result = speed * scale
            trusted = speed < FLOW_TRUST_PX
        else:
            take = ~trusted
            result[take] = speed[take] * scale
            trusted = trusted | (speed < FLOW_TRUST_PX)
    return result if result is not None else np.zeros(t - 1, dtype=np.float32)


def _lk_speeds(grey: np.ndarray) -> np.ndarray:
    a, b = grey[:-1], grey[1:]
    mid = (a + b) * 0.5
    ix = np.zeros_like(mid)
    iy = np.zeros_like(mid)
    ix[:, :, 1:-1] = (mid[:, :, 2:] - mid[:, :, :-2]) * 0.5
    iy[:, 1:-1, :] = (mid[:, 2:, :] - mid[:, :-2, :]) * 0.5
    it = b - a
    n, h, w = mid.shape
    bh, bw = h // FLOW_BLOCK, w // FLOW_BLOCK

    def blocks(x: np.ndarray) -> np.ndarray:
        x = x[:, :bh * FLOW_BLOCK, :bw * FLOW_BLOCK]
        return x.reshape(n, bh, FLOW_BLOCK, bw, FLOW_BLOCK).sum(axis=(2, 4))

    sxx, syy, sxy = blocks(ix * ix), blocks(iy * iy), blocks(ix * iy)
    sxt, syt = blocks(ix * it), blocks(iy * it)
    det = sxx * syy - sxy * sxy
    trace = sxx + syy
    min_eig = 0.5 * (trace - np.sqrt(np.maximum(trace * trace - 4 * det, 0)))
    textured = min_eig > 4.0 * FLOW_BLOCK * FLOW_BLOCK  # gradients of a few levels per px on both axes
    safe = np.where(textured, det, 1.0)
    u = (-syy * sxt + sxy * syt) / safe
    v = (sxy * sxt - sxx * syt) / safe
    speed = np.where(textured, np.sqrt(u * u + v * v), 0.0)
    count = textured.sum(axis=(1, 2))
    return np.where(count > 0, speed.sum(axis=(1, 2)) / np.maximum(count, 1), 0.0).astype(np.float32)


# 3. Comparisons -----------------------------------------------------------------------


def signature(frames: np.ndarray) -> Signature:
    from PIL import Image

    idx = np.linspace(0, len(frames) - 1, 8).round().astype(int)
    small = [np.asarray(Image.fromarray(frames[i]).resize((48, 32), Image.Resampling.BOX), dtype=np.float32)
             for i in idx]
    return Signature(np.stack(small))


def duplicate_distance(a: Signature, b: Signature) -> float:
    """Share of signature pixels (0-1) that differ by more than DUPLICATE_PIXEL_DELTA in a channel."""
    return float((np.abs(a.frames - b.frames).max(axis=-1) > DUPLICATE_PIXEL_DELTA).mean())


def near_duplicate(a: Signature, b: Signature) -> bool:
    return duplicate_distance(a, b) < DUPLICATE_SHARE


def _lab_mean(rgb: np.ndarray) -> np.ndarray:
    from shotsmith.eval.detector import rgb_to_lab

    return rgb_to_lab(np.asarray(rgb, dtype=np.uint8)).reshape(-1, 3).mean(axis=0)


def first_frame_match(first: np.ndarray, image: np.ndarray) -> FirstFrameMatch:
    """How well a clip's first frame keeps its input image (resized to the frame's size)."""
    from PIL import Image

    h, w = first.shape[:2]
    ref = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
                     .resize((w, h), Image.Resampling.BOX))
    mse = float(np.mean((first.astype(np.float64) - ref.astype(np.float64)) ** 2))
    psnr = 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
    shift = float(np.linalg.norm(_lab_mean(first) - _lab_mean(ref)))
    return FirstFrameMatch(psnr=psnr, colour_shift=shift)


# 4. Flags -----------------------------------------------------------------------------


def clip_flags(m: ClipMetrics, *, expect_static: bool = False, requested: dict | None = None,
               first: FirstFrameMatch | None = None) -> list[Flag]:
    """What a reviewer should look at. expect_static: the prompt asks for a still scene.

    requested: {"fps", "width", "height", "duration"} the clip was asked to have.
    """
    flags: list[Flag] = []
    if m.blank_share >= BLANK_FRAME_SHARE:
        flags.append(Flag("blank", "fail", f"{m.blank_share:.0%} of the frames are flat (no contrast)"))
    if m.frozen_share >= FROZEN_CLIP_SHARE:
        if expect_static:
            flags.append(Flag("static", "info", "the picture does not change, as the prompt asks"))
        else:
            flags.append(Flag("frozen", "fail", f"frozen: the picture does not change for "
                                                f"{m.frozen_s:.1f} s of {m.duration:.1f} s"))
    elif m.frozen_s >= STALL_S and not expect_static:
        flags.append(Flag("stall", "warn", f"the picture stops for {m.frozen_s:.1f} s"))
    if m.luma_jump_max > FLASH_LUMA_JUMP:
        flags.append(Flag("flash", "warn", f"brightness jumps by {m.luma_jump_max:.0f} levels between two frames"))
    if m.temporal_noise > NOISE_LEVEL:
        flags.append(Flag("flicker", "warn", f"most pixels flip back and forth between frames "
                                             f"(temporal noise {m.temporal_noise:.1f}, flicker {m.flicker:.1f})"))
    if requested:
        problems = []
        if requested.get("fps") and abs(m.fps - requested["fps"]) > FORMAT_FPS_TOLERANCE:
            problems.append(f"{m.fps:g} fps, asked {requested['fps']:g}")
        if requested.get("width") and (m.width, m.height) != (requested["width"], requested["height"]):
            problems.append(f"{m.width}x{m.height}, asked {requested['width']}x{requested['height']}")
        if requested.get("duration") and abs(m.duration - requested["duration"]) > FORMAT_DURATION_TOLERANCE_S:
            problems.append(f"{m.duration:.2f} s, expected {requested['duration']:.2f} s")
        if problems:
            flags.append(Flag("format", "fail", "not the clip that was asked for: " + "; ".join(problems)))
    if first is not None and (first.psnr < FIRST_FRAME_PSNR or first.colour_shift > FIRST_FRAME_COLOUR):
        flags.append(Flag("first_frame", "fail", f"the first frame does not keep the input image "
                                                 f"(PSNR {first.psnr:.1f} dB, colour shift {first.colour_shift:.1f})"))
    return flags
