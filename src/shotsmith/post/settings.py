"""Post-processing settings, the finished-clip record and the package's one error type.

Settings are a plain dataclass that validates itself on construction and round-trips
through a JSON dict, so a clip's sidecar records exactly how it was finished and the
same dict can finish it again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTERPOLATIONS = ("minterpolate", "blend", "none")
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)
MIN_SIDE, MAX_SIDE = 16, 4096
MIN_FPS, MAX_FPS = 1, 60


class PostError(Exception):
    """A post-processing failure: a bad setting, bad input frames or a failed encode.

    Messages name the setting (``width=1441``) or the failing step and carry ffmpeg's
    last stderr lines, so the job's error is readable without a traceback.
    """

    job_code = "post_processing_failed"  # the code a failed job records (jobs/worker.py)


@dataclass
class PostSettings:
    width: int = 1440  # output size
    height: int = 960
    fps: int = 24  # output frame rate after interpolation
    interpolation: str = "minterpolate"  # "minterpolate" | "blend" | "none"
    upscaler: str = "lanczos"  # "lanczos" (ffmpeg) or a path to spandrel SR weights
    preset: str = "ultrafast"  # libx264 preset: same SSIM/PSNR as veryfast here at ~5x the speed, ~2x the bytes (docs/performance.md)
    crf: int = 20
    gif: bool = True
    gif_width: int = 480
    sprite_columns: int = 5  # sprite sheet of evenly spaced frames
    sprite_frames: int = 10

    def __post_init__(self) -> None:
        # Fail at construction, like diffusers' check_inputs: a concise error naming
        # the field beats silently rounding 1441 to 1440.
        for name in ("width", "height"):
            value = _require_int(name, getattr(self, name), MIN_SIDE, MAX_SIDE)
            if value % 2:
                raise PostError(f"{name}={value} must be even (H.264 yuv420p needs even sides)")
        _require_int("fps", self.fps, MIN_FPS, MAX_FPS)
        _require_choice("interpolation", self.interpolation, INTERPOLATIONS)
        _require_choice("preset", self.preset, X264_PRESETS)
        _require_int("crf", self.crf, 0, 51)
        _require_int("gif_width", self.gif_width, MIN_SIDE, MAX_SIDE)
        _require_int("sprite_columns", self.sprite_columns, 1, 64)
        _require_int("sprite_frames", self.sprite_frames, 1, 256)
        if not isinstance(self.gif, bool):
            raise PostError(f"gif={self.gif!r} must be true or false")
        if not isinstance(self.upscaler, str) or not self.upscaler.strip():
            raise PostError(
                f"upscaler={self.upscaler!r} must be 'lanczos' or a path to super-resolution weights"
            )

    @property
    def uses_sr_model(self) -> bool:
        return self.upscaler != "lanczos"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PostSettings":
        """Build from a JSON dict; missing keys take defaults, unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PostError(f"unknown post setting(s): {', '.join(unknown)}")
        return cls(**data)


@dataclass
class ClipFiles:
    """The finished files and the clip's properties as measured from the written MP4."""

    video: Path
    gif: Path | None
    cover: Path
    sprite: Path
    sidecar: Path
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    timings: dict[str, float] = field(default_factory=dict)  # post stage's own seconds


def _require_int(name: str, value: Any, low: int, high: int) -> int:
    # bool is an int subclass; `width=True` is a bug upstream, not a width of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PostError(f"{name}={value!r} must be an integer")
    if not low <= value <= high:
        raise PostError(f"{name}={value} must be between {low} and {high}")
    return value


def _require_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise PostError(f"{name}={value!r} must be one of: {', '.join(choices)}")
