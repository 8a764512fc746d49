"""Joins between a clip and the segments that continue it: correction and measurement.

An image-to-video segment starts from the previous clip's last frame, but not exactly on it:
the VAE's reconstruction of that frame differs from it, and the model drifts in colour and
brightness as it goes. Two corrections, both on the model's native frames:

- `match_colour`: each new frame's per-channel mean and spread are pulled towards those of the
  source's last second (the statistics taken over a window of neighbouring frames, so a shape
  moving through the frame is not "corrected" frame by frame), blended in by `strength`;
- `fade_residual`: the difference between the frame the segment should start on and the frame
  it did start on is added to its first frames, fading out over `fade` frames, so the new part
  starts exactly where the old one ends and the model's own look takes over gradually.

The measurements say how visible a join is: the jump ratio (mean absolute difference across
the join over the median of the frame-to-frame differences around it; 1 = a join moves like any
other frame) and the mean colour shift between the second before and the second after it.
"""

from __future__ import annotations

import numpy as np

DUPLICATE_DIFF = 0.5  # mean absolute difference (0-255) below which two frames are the same frame repeated
GAIN_LIMITS = (0.67, 1.5)  # a spread correction never more than this: a flat frame is not blown up


def colour_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over frames (T, H, W, 3) or one frame (H, W, 3)."""
    pixels = frames.reshape(-1, frames.shape[-1]).astype(np.float64)
    return pixels.mean(0), pixels.std(0)


def match_colour(frames: np.ndarray, ref_mean: np.ndarray, ref_std: np.ndarray, strength: float = 0.75,
                 window: int = 4) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 with each channel's mean and spread moved `strength` of the way
    to the reference, per frame, from the statistics of frames i-window .. i+window."""
    out = np.empty_like(frames)
    for i in range(len(frames)):
        mean, std = colour_stats(frames[max(0, i - window): i + window + 1])
        gain = np.clip(ref_std / np.maximum(std, 1.0), *GAIN_LIMITS)
        gain = 1 + strength * (gain - 1)
        shift = strength * (ref_mean - mean)
        out[i] = np.clip((frames[i].astype(np.float32) - mean) * gain + mean + shift, 0, 255).round()
    return out


def fade_residual(frames: np.ndarray, start: np.ndarray, fade: int) -> np.ndarray:
    """Frames whose first frame becomes `start` exactly, the difference fading out linearly over
    `fade` frames (frame `fade` onwards unchanged)."""
    residual = start.astype(np.float32) - frames[0].astype(np.float32)
    out = frames.astype(np.float32)
    for i in range(min(fade, len(frames))):
        out[i] += residual * (1 - i / fade)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def frame_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def jump_ratio(before: np.ndarray, after: np.ndarray) -> dict:
    """How much the join between `before` (frames up to it) and `after` (frames from it) jumps,
    against the motion around it: mean absolute difference across the join over the median of
    the frame-to-frame differences inside both sides. Repeated frames (a rate raised by
    repeating frames) are left out of the median, so it measures motion, not repeats."""
    inside = [frame_diff(x[i - 1], x[i]) for x in (before, after) for i in range(1, len(x))]
    moving = [d for d in inside if d >= DUPLICATE_DIFF]
    median = float(np.median(moving)) if moving else 0.0
    across = frame_diff(before[-1], after[0])
    return {"across": round(across, 3), "median_inside": round(median, 3),
            "ratio": round(across / median, 3) if median else None}


def colour_shift(before: np.ndarray, after: np.ndarray) -> float:
    """Mean over channels of |mean colour of `before` - mean colour of `after`| (0-255)."""
    return round(float(np.abs(colour_stats(before)[0] - colour_stats(after)[0]).mean()), 3)
