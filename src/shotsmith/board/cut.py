"""The cut: a board's picked takes, in order, as one MP4 with a chapter per shot.

One ffmpeg process (the imageio-ffmpeg binary, like every encode in post/) reads every take,
brings each to the board's size (cover and crop, as post/ does: no stretching) and frame rate
(`fps`: frames are dropped or repeated, never blended), gives it an exact frame count, joins
them and encodes once. The chapters go in through an FFMETADATA input (`-map_chapters`), which
the MP4 muxer writes as a chapter track that players (mpv, VLC, QuickTime) list and PyAV's
`container.chapters()` reads back.

Timing: shot k starts at frame round(S_k * fps), where S_k is the sum of the lengths of the
takes before it (each take's frames / its frame rate), so the cut lasts the sum of the takes to
within half a frame in total, and chapter k starts there and ends where shot k+1 starts.

Crossfade (0 to 1 s, default 0 = hard cuts) never changes that: the cut still lasts the sum of
the takes and every chapter still starts at its cut point. Each join becomes a dissolve of that
length centred on the cut point; for the half before it the outgoing take's last frame is held
while the incoming take fades in from its first frame, held for the half before its start.
So no frame of any take is dropped, and the frame at a chapter's start is the midpoint of its
dissolve (half the previous take's last frame, half this take's first frame).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from shotsmith.errors import FieldError
from shotsmith.post import ffmpeg
from shotsmith.post.media import probe_video
from shotsmith.post.settings import PostError, PostSettings

from . import limits

CUT_NAME = "cut.mp4"


@dataclass(frozen=True)
class CutPiece:
    """One picked take: its MP4 and the title its chapter gets."""

    path: Path
    title: str


@dataclass(frozen=True)
class CutResult:
    path: Path
    duration: float  # seconds, of the written file
    chapters: list[tuple[str, float, float]]  # (title, start_s, end_s), in order


def _escape(value: str) -> str:
    """A value for an FFMETADATA file: '=', ';', '#', '\\' and line breaks are escaped."""
    out = []
    for ch in value:
        if ch in "=;#\\\n":
            out.append("\\" + ch)
        elif ch == "\r":
            continue
        else:
            out.append(ch)
    return "".join(out)


def chapters_file(chapters: list[tuple[str, float, float]], title: str | None = None) -> str:
    """The FFMETADATA text for `chapters` (milliseconds), with the file's title if given."""
    lines = [";FFMETADATA1"]
    if title:
        lines.append(f"title={_escape(title)}")
    for name, start, end in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(start * 1000)}", f"END={round(end * 1000)}",
                  f"title={_escape(name)}"]
    return "\n".join(lines) + "\n"


def _take_length(path: Path) -> tuple[int, float]:
    """A take's frames and frame rate, read from the file."""
    if not Path(path).is_file():
        raise PostError(f"take file {Path(path).name} is missing")
    info = probe_video(path)
    if not info["frames"] or not info["fps"]:
        raise PostError(f"take file {Path(path).name} has no frames")
    return info["frames"], info["fps"]


def frame_plan(lengths: list[float], fps: int) -> list[int]:
    """Where each shot starts in the cut, in frames at `fps`, plus the cut's end: cumulative
    rounding, so the rounding of one shot never adds up over many."""
    bounds, total = [0], 0.0
    for seconds in lengths:
        total += seconds
        bounds.append(round(total * fps))
    return bounds


def cut_graph(count: int, bounds: list[int], width: int, height: int, fps: int, hold: int) -> str:
    """The filter graph: each input at the board's size and rate with its exact frames (plus `hold`
    held frames each side of every join), then joined: concat for hard cuts, xfade dissolves
    of 2 * hold frames centred on the cut points otherwise."""
    parts = []
    for i in range(count):
        frames = bounds[i + 1] - bounds[i]
        lead = hold if i > 0 else 0
        tail = hold if i < count - 1 else 0
        chain = (f"[{i}:v]fps={fps},scale={width}:{height}:flags=lanczos:force_original_aspect_ratio=increase,"
                 f"crop={width}:{height},setsar=1,format=yuv420p,"
                 # a take that ends early (rounding) repeats its last frame; the trim makes the count exact
                 f"tpad=stop_mode=clone:stop=-1,trim=end_frame={frames},setpts=PTS-STARTPTS")
        if lead or tail:
            chain += f",tpad=start_mode=clone:start={lead}:stop_mode=clone:stop={tail}"
        parts.append(f"{chain},settb=1/{fps}[v{i}]")
    if count == 1:
        parts.append("[v0]null[out]")
    elif hold == 0:
        parts.append("".join(f"[v{i}]" for i in range(count)) + f"concat=n={count}:v=1:a=0[out]")
    else:
        previous = "v0"
        for k in range(1, count):
            label = "out" if k == count - 1 else f"x{k}"
            offset = (bounds[k] - hold) / fps
            parts.append(f"[{previous}][v{k}]xfade=transition=fade:duration={2 * hold / fps:.6f}"
                         f":offset={offset:.6f}[{label}]")
            previous = label
    return ";".join(parts)


def cut_board(takes: list[CutPiece], out: Path, *, width: int, height: int, fps: int, crossfade: float = 0.0,
              title: str | None = None) -> CutResult:
    """Write the picked takes, in order, as one MP4 at width x height and fps with a chapter per take
    (see the module's docstring for timing and crossfades). `title`: the file's title tag (the
    board's name). Raises FieldError for bad arguments and PostError when a take cannot be read."""
    if not takes:
        raise FieldError("shots", "the board has no picked take to cut", "missing")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= 4096 or value % 2:
            raise FieldError(name, f"must be an even number of pixels from 16 to 4096 (got {value!r})")
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 60:
        raise FieldError("fps", f"must be a whole number from 1 to 60 (got {fps!r})")
    crossfade = limits.check_crossfade(crossfade)
    titles = [limits.check_title(piece.title) or f"Shot {i + 1}" for i, piece in enumerate(takes)]

    lengths = []
    for piece in takes:
        frames, rate = _take_length(Path(piece.path))
        lengths.append(frames / rate)
    bounds = frame_plan(lengths, fps)
    shortest = min(b - a for a, b in zip(bounds, bounds[1:]))
    if shortest < 1:
        raise PostError(f"a take is shorter than one frame at {fps} fps")
    # half the dissolve each side of a cut, in whole frames, never longer than half the shortest shot
    hold = min(round(crossfade * fps / 2), shortest // 2) if len(takes) > 1 else 0
    chapters = [(titles[i], bounds[i] / fps, bounds[i + 1] / fps) for i in range(len(takes))]

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = PostSettings(width=width, height=height, fps=fps)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    with tempfile.TemporaryDirectory(prefix="shotsmith-cut-") as work:
        meta = Path(work) / "chapters.txt"
        meta.write_text(chapters_file(chapters, title), encoding="utf-8")
        args = []
        for piece in takes:
            args += ["-i", str(piece.path)]
        args += ["-f", "ffmetadata", "-i", str(meta),
                 "-filter_complex", cut_graph(len(takes), bounds, width, height, fps, hold), "-map", "[out]",
                 "-map_metadata", str(len(takes)), "-map_chapters", str(len(takes)),
                 "-frames:v", str(bounds[-1]), "-c:v", "libx264", "-preset", settings.preset,
                 "-crf", str(settings.crf), "-pix_fmt", "yuv420p", "-r", str(fps), "-movflags", "+faststart",
                 "-f", "mp4", str(tmp)]
        try:
            ffmpeg.run_ffmpeg(args, "cut the board's takes together")
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    info = probe_video(out)
    return CutResult(path=out, duration=info["frames"] / info["fps"], chapters=chapters)
