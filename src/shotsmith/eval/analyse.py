"""One finished clip in, one `ClipReport` out: decode the file the user gets, measure it,
score it against a shapes caption when there is one, compare the first frame with the
input image for image-to-video, and write the report's light images beside the clip:

    <stem>.sheet.jpg   a one-row contact sheet (8 frames with their times, ~200 px each)
    <stem>.poster.jpg  the cover scaled to POSTER_WIDTH, the video's poster in the report

Near-duplicates need several clips at once: `mark_candidate_duplicates` (one prompt's
candidates) and `mark_cross_duplicates` (different rows) do that afterwards with the
signatures this module returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shotsmith.eval.adherence import score
from shotsmith.eval.detector import detect
from shotsmith.eval.metrics import (
    Flag, Signature, clip_flags, decode_for_analysis, duplicate_distance, first_frame_match, measure, near_duplicate,
    signature,
)
from shotsmith.eval.records import ClipReport

SHEET_FRAMES = 8
POSTER_WIDTH = 480
JPEG_QUALITY = 82


@dataclass
class AnalysedClip:
    report: ClipReport
    signature: Signature
    label: str  # how other clips name this one in a near-duplicate flag ("s03 #2")


def rel(path: Path | None, root: Path) -> str | None:
    """A path as the report links it: relative to the report folder, with forward slashes."""
    if path is None:
        return None
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def read_sidecar(video: Path) -> dict:
    """The clip's sidecar JSON (finish_clip writes <stem>.json), or {} when it is missing or unreadable."""
    path = video.with_suffix(".json")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def analyse_clip(video: Path, root: Path, *, candidate: int = 1, seed: int | None = None, label: str = "",
                 expected: dict | None = None, input_image: Path | None = None, requested: dict | None = None,
                 files: dict[str, Path | None] | None = None, timings: dict | None = None) -> AnalysedClip:
    """Measure one clip and write its sheet and poster. files: the clip's other files (cover, gif...)."""
    # 1. Decode the finished file at analysis size and measure it
    frames, info = decode_for_analysis(video)
    metrics = measure(frames, info["fps"], size=(info["width"], info["height"]))
    # 2. Image-to-video: does the first frame keep the input image?
    first = None
    if input_image is not None:
        with Image.open(input_image) as img:
            first = first_frame_match(frames[0], np.asarray(img.convert("RGB")))
    # 3. Shapes-world adherence when the prompt states slots
    adherence, extra_flags = None, []
    if expected:
        detection = detect(frames)
        result = score(expected, detection)
        adherence = result.to_dict() | {"detected": detection.to_dict()}
        if not result.all_correct:
            extra_flags.append(Flag("adherence", "warn", "the caption is not followed: " + adherence_misses(
                expected, adherence)))
    expect_static = bool(expected and expected.get("objects")
                         and all(o.get("motion") == "still" for o in expected["objects"]))
    flags = clip_flags(metrics, expect_static=expect_static, requested=requested, first=first) + extra_flags
    # 4. Light images for the report
    files = dict(files or {})
    sheet = write_sheet(frames, info["fps"], video.with_name(f"{video.stem}.sheet.jpg"))
    cover = files.get("cover")
    poster = write_poster(cover if cover and Path(cover).is_file() else frames[0],
                          video.with_name(f"{video.stem}.poster.jpg"))
    names = {"video": video, "poster": poster, "sheet": sheet, **files}
    report = ClipReport(
        candidate=candidate, seed=seed, files={k: rel(v, root) for k, v in names.items()},
        metrics=metrics.to_dict(), flags=[f.to_dict() for f in flags], adherence=adherence,
        first_frame=first.to_dict() if first else None, timings=dict(timings or {}),
    )
    return AnalysedClip(report, signature(frames), label or f"#{candidate}")


def adherence_misses(expected: dict, adherence: dict) -> str:
    """'colour: expected red, saw blue; background: expected grass, saw sky' from a scored clip."""
    detected = adherence.get("detected") or {}
    parts = []
    for slot in ("background", "count"):
        if adherence["slots"].get(slot) is not None and adherence["slots"][slot] < 0.999:
            parts.append(f"{slot}: expected {expected.get(slot, len(expected.get('objects') or []))}, "
                         f"saw {detected.get(slot)}")
    for match in adherence.get("matches") or []:
        want, got = match["expected"], match.get("detected")
        for slot in ("colour", "shape", "motion"):
            if match.get(slot) is False:
                parts.append(f"{slot}: expected {want.get(slot)}, saw {got.get(slot) if got else 'no object'}")
    return "; ".join(parts) or "some slots differ"


def mark_candidate_duplicates(clips: list[AnalysedClip]) -> None:
    """Candidates of one prompt that look alike: the seeds did not give different clips (fail)."""
    for i, a in enumerate(clips):
        for b in clips[i + 1:]:
            if near_duplicate(a.signature, b.signature):
                share = duplicate_distance(a.signature, b.signature)
                for x, y in ((a, b), (b, a)):
                    x.report.flags.append(Flag("near_duplicate", "fail", f"near-duplicate of {y.label}, another "
                                               f"candidate of this prompt ({share:.1%} of pixels differ)").to_dict())


def mark_cross_duplicates(groups: list[list[AnalysedClip]]) -> None:
    """Clips of different rows that look alike: a model that ignores its prompt (warn)."""
    for gi, clips in enumerate(groups):
        for other in groups[gi + 1:]:
            for a in clips:
                for b in other:
                    if near_duplicate(a.signature, b.signature):
                        for x, y in ((a, b), (b, a)):
                            x.report.flags.append(Flag("same_as_other", "warn", f"looks the same as {y.label}, "
                                                       "made from another row").to_dict())


def write_sheet(frames: np.ndarray, fps: float, path: Path, count: int = SHEET_FRAMES) -> Path:
    """One row of evenly spaced frames, each labelled with its time."""
    t, h, w, _ = frames.shape
    idx = np.linspace(0, t - 1, count).round().astype(int)
    label = 14
    sheet = Image.new("RGB", (count * w + (count - 1) * 2, h + label), (20, 20, 22))
    draw = ImageDraw.Draw(sheet)
    for col, i in enumerate(idx):
        x = col * (w + 2)
        sheet.paste(Image.fromarray(frames[i]), (x, label))
        draw.text((x + 3, 1), f"{i / fps:.1f}s" if fps else f"#{i}", fill=(210, 210, 210))
    _save_jpeg(sheet, path)
    return path


def write_poster(source: Path | np.ndarray, path: Path, width: int = POSTER_WIDTH) -> Path:
    if isinstance(source, np.ndarray):
        img = Image.fromarray(source)
    else:
        with Image.open(source) as opened:
            img = opened.convert("RGB")
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.LANCZOS)
    _save_jpeg(img, path)
    return path


def _save_jpeg(img: Image.Image, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    img.save(tmp, format="JPEG", quality=JPEG_QUALITY)
    tmp.replace(path)
