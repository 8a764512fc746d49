"""Training clips for `shotsmith train lora`: find them, check them, bring them to the model's shape.

Two folder layouts are accepted:

* CogVideo's: `prompts.txt` and `videos.txt` side by side, line i of one being the
  caption of the video named (relative to the folder) on line i of the other.
* pairs: every video file (`clip.mp4`, also .mov/.mkv/.webm/.avi) with a caption
  file of the same stem beside it (`clip.txt`), in the folder or below it.

Every problem with one clip (unreadable, no caption, too short...) is reported as
`name: reason` and that clip is skipped; only a folder with nothing usable left is
refused (`DataError`). Frames are resized to cover the model's native size,
centre-cropped to it, and the model's frame count is taken as evenly spaced frames
over the whole clip (a clip with fewer frames than that is too short).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
COGVIDEO_PROMPTS = "prompts.txt"
COGVIDEO_VIDEOS = "videos.txt"


class DataError(ValueError):
    """The training folder as a whole cannot be used."""


class ClipError(ValueError):
    """One clip cannot be used; the message is the reason (the caller adds the name)."""


@dataclass(frozen=True)
class ClipSource:
    name: str  # path relative to the data folder, as reported to the user
    path: Path
    caption: str


@dataclass
class TrainingSet:
    folder: Path
    layout: str  # "cogvideo" | "pairs"
    clips: list[ClipSource]
    problems: list[str]  # "name: reason", one per skipped clip or line


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _scan_cogvideo(folder: Path) -> tuple[list[ClipSource], list[str]]:
    prompts_file, videos_file = folder / COGVIDEO_PROMPTS, folder / COGVIDEO_VIDEOS
    if not videos_file.exists():
        raise DataError(f"{COGVIDEO_VIDEOS}: missing beside {COGVIDEO_PROMPTS} in {folder}")
    if not prompts_file.exists():
        raise DataError(f"{COGVIDEO_PROMPTS}: missing beside {COGVIDEO_VIDEOS} in {folder}")
    prompts = _read_lines(prompts_file)
    videos = _read_lines(videos_file)
    clips, problems = [], []
    for line_no, video in enumerate(videos, 1):
        video = video.strip()
        if not video:
            continue
        caption = prompts[line_no - 1].strip() if line_no <= len(prompts) else ""
        if not caption:
            problems.append(f"{video}: missing caption (line {line_no} of {COGVIDEO_PROMPTS} is "
                            f"{'empty' if line_no <= len(prompts) else 'absent'})")
            continue
        path = folder / video
        if not path.is_file():
            problems.append(f"{video}: file not found (line {line_no} of {COGVIDEO_VIDEOS})")
            continue
        clips.append(ClipSource(video, path, caption))
    extra = [n for n, p in enumerate(prompts, 1) if p.strip() and (n > len(videos) or not videos[n - 1].strip())]
    if extra:
        problems.append(f"{COGVIDEO_PROMPTS}: {len(extra)} caption line(s) without a video "
                        f"(line {extra[0]}{' ...' if len(extra) > 1 else ''})")
    return clips, problems


def _scan_pairs(folder: Path) -> tuple[list[ClipSource], list[str]]:
    clips, problems = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES):
        name = str(path.relative_to(folder))
        caption_file = path.with_suffix(".txt")
        if not caption_file.exists():
            problems.append(f"{name}: missing caption ({caption_file.name} not found)")
            continue
        try:
            caption = " ".join(caption_file.read_text(encoding="utf-8").split())
        except UnicodeDecodeError:
            problems.append(f"{name}: caption {caption_file.name} is not UTF-8 text")
            continue
        if not caption:
            problems.append(f"{name}: missing caption ({caption_file.name} is empty)")
            continue
        clips.append(ClipSource(name, path, caption))
    videos = {p.with_suffix("") for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES}
    for txt in sorted(folder.rglob("*.txt")):
        if txt.with_suffix("") not in videos:
            problems.append(f"{txt.relative_to(folder)}: no video beside this caption file (ignored)")
    return clips, problems


def scan_folder(folder: Path) -> TrainingSet:
    """The clips and captions in `folder` (either layout), plus the problems found on the way."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"data: folder {folder} does not exist")
    if (folder / COGVIDEO_PROMPTS).exists() or (folder / COGVIDEO_VIDEOS).exists():
        layout = "cogvideo"
        clips, problems = _scan_cogvideo(folder)
    else:
        layout = "pairs"
        clips, problems = _scan_pairs(folder)
    if not clips and not problems:
        raise DataError(f"data: {folder} holds no clips (expected {COGVIDEO_PROMPTS} + {COGVIDEO_VIDEOS}, "
                        f"or video files such as clip.mp4 with a caption clip.txt beside each)")
    return TrainingSet(folder, layout, clips, problems)


def decode_video(path: Path) -> tuple[np.ndarray, float]:
    """All frames (uint8 T x H x W x 3 RGB) and the frame rate; ClipError if unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ClipError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except ClipError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ClipError(f"unreadable video ({reason})") from None
    if not frames:
        raise ClipError("unreadable video (no decodable frames)")
    return np.stack(frames), float(rate) if rate else 0.0


def fit_frame(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to cover width x height (aspect kept), then centre-crop to it."""
    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    img = Image.fromarray(frame)
    if (new_w, new_h) != (w, h):
        # BOX averages the covered pixels when shrinking (no aliasing); LANCZOS when enlarging.
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS
        img = img.resize((new_w, new_h), resample)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)))


def frame_indices(available: int, wanted: int) -> list[int]:
    """`wanted` evenly spaced indices from 0 to available - 1 (first and last included)."""
    if wanted == 1:
        return [0]
    return [round(i * (available - 1) / (wanted - 1)) for i in range(wanted)]


def load_clip(source: ClipSource, width: int, height: int, frames: int) -> np.ndarray:
    """The clip as the model trains on it: uint8 (frames, height, width, 3)."""
    video, _fps = decode_video(source.path)
    if len(video) < frames:
        raise ClipError(f"too short ({len(video)} frames, the model needs {frames})")
    if min(video.shape[1:3]) < 2:
        raise ClipError(f"frames too small ({video.shape[2]}x{video.shape[1]})")
    return np.stack([fit_frame(video[i], width, height) for i in frame_indices(len(video), frames)])


def iter_training_clips(training: TrainingSet, width: int, height: int, frames: int,
                        on_problem: Callable[[str], None]):
    """(source, frames) for each usable clip; each bad one goes to on_problem as `name: reason`."""
    for source in training.clips:
        try:
            yield source, load_clip(source, width, height, frames)
        except ClipError as exc:
            training.problems.append(f"{source.name}: {exc}")
            on_problem(f"{source.name}: {exc}")


def write_clip(frames: np.ndarray, path: Path, fps: float, crf: int = 12) -> Path:
    """uint8 (T, H, W, 3) frames -> an H.264 MP4 (yuv420p, so sizes are rounded up to even)."""
    import av
    from fractions import Fraction

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w = frames.shape[:3]
    even_h, even_w = h + h % 2, w + w % 2
    if (even_h, even_w) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, even_h - h), (0, even_w - w), (0, 0)), mode="edge")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
