"""The board's cut: real small MP4 takes in, one MP4 out with the right length, chapters and frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from shotsmith.board.cut import CutPiece, chapters_file, cut_board
from shotsmith.errors import FieldError
from shotsmith.eval.shapes_eval import psnr
from shotsmith.post import ffmpeg
from shotsmith.post.media import decode_frames, probe_video
from shotsmith.post.settings import PostError
from shotsmith.post.source import resize_frame

W, H, FPS = 192, 128, 24


def shapes_frames(count: int, width: int, height: int, sky: tuple, ball: tuple, dx: float) -> list[np.ndarray]:
    """A soft ball moving across a graded background: smooth enough that scaling by ffmpeg and by
    PIL agree, distinct enough between takes that a wrong frame shows."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grade = (y / height)[..., None]
    background = np.array(sky, np.float32) * (1 - 0.4 * grade)
    frames = []
    for i in range(count):
        cx, cy, r = width * (0.2 + dx * i / max(count - 1, 1)), height * 0.5, height * 0.22
        alpha = np.clip(r - np.hypot(x - cx, y - cy), 0, 1)[..., None] * 0.95
        frames.append((background * (1 - alpha) + np.array(ball, np.float32) * alpha).round().astype(np.uint8))
    return frames


def write_take(path, frames: list[np.ndarray], fps: int):
    h, w = frames[0].shape[:2]
    ffmpeg.run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
                       "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p", str(path)],
                      "write a test take", stdin_frames=frames)
    return path


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    """Three takes: two at the board's size and rate, one at a quarter of the size and 8 fps."""
    d = tmp_path_factory.mktemp("takes")
    return [
        CutPiece(write_take(d / "meadow.mp4", shapes_frames(54, W, H, (60, 170, 70), (220, 30, 30), 0.6), FPS),
                 "Meadow"),
        CutPiece(write_take(d / "beach.mp4", shapes_frames(18, 96, 64, (230, 200, 120), (220, 30, 30), -0.6), 8),
                 "Beach = sand; #2\nat noon"),
        CutPiece(write_take(d / "night.mp4", shapes_frames(30, W, H, (20, 20, 50), (40, 90, 230), 0.5), FPS),
                 "Night"),
    ]


def _chapters(path):
    with av.open(str(path)) as container:
        return [(c["metadata"].get("title"), float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]))
                for c in container.chapters()]


def test_hard_cut_lasts_the_sum_with_a_chapter_per_take(takes, tmp_path):
    result = cut_board(takes, tmp_path / "cut.mp4", width=W, height=H, fps=FPS, title="Pip's day out")
    info = probe_video(result.path)
    lengths = [probe_video(t.path)["frames"] / probe_video(t.path)["fps"] for t in takes]  # 2.25, 2.25, 1.25
    assert (info["width"], info["height"], info["fps"]) == (W, H, 24.0)
    assert abs(result.duration - sum(lengths)) <= 0.1 and info["frames"] == round(sum(lengths) * FPS) == 138
    # the chapters a player lists, read back from the file
    titles = ["Meadow", "Beach = sand; #2 at noon", "Night"]
    assert _chapters(result.path) == [(titles[0], 0.0, 2.25), (titles[1], 2.25, 4.5), (titles[2], 4.5, 5.75)]
    assert result.chapters == _chapters(result.path)
    with av.open(str(result.path)) as container:
        assert container.metadata.get("title") == "Pip's day out"

    frames = decode_frames(result.path)
    for take, (_, start, end) in zip(takes, result.chapters):
        source = decode_frames(take.path)
        first, last = round(start * FPS), round(end * FPS) - 1
        assert psnr(frames[first], resize_frame(source[0], W, H)) >= 30
        assert psnr(frames[last], resize_frame(source[-1], W, H)) >= 30
    # and the test can tell takes apart: a chapter's first frame is not the previous take's
    assert psnr(frames[54], resize_frame(decode_frames(takes[0].path)[0], W, H)) < 20


def test_crossfade_keeps_the_length_and_centres_each_dissolve_on_the_cut(takes, tmp_path):
    hard = decode_frames(cut_board(takes, tmp_path / "hard.mp4", width=W, height=H, fps=FPS).path)
    result = cut_board(takes, tmp_path / "soft.mp4", width=W, height=H, fps=FPS, crossfade=0.5)
    soft = decode_frames(result.path)
    assert len(soft) == len(hard) == 138 and result.chapters == _chapters(result.path)
    assert [c[1] for c in result.chapters] == [0.0, 2.25, 4.5]
    # at a cut point: half the outgoing take's last frame, half the incoming take's first
    midpoint = (hard[53].astype(np.float32) + hard[54].astype(np.float32)) / 2
    assert psnr(soft[54], midpoint) >= 28
    assert psnr(soft[54], hard[54]) < 25
    # away from the joins (more than 6 frames, the half dissolve) every frame is the hard cut's
    for i in (0, 20, 40, 75, 90, 120, 137):
        assert psnr(soft[i], hard[i]) >= 35


def test_one_take_and_a_board_at_another_size(takes, tmp_path):
    result = cut_board(takes[1:2], tmp_path / "one.mp4", width=320, height=240, fps=12)
    info = probe_video(result.path)
    assert (info["width"], info["height"], info["frames"]) == (320, 240, 27)
    assert _chapters(result.path) == [("Beach = sand; #2 at noon", 0.0, 2.25)]


def test_bad_arguments_name_what_is_wrong(takes, tmp_path):
    out = tmp_path / "x.mp4"
    for kwargs, field in [({"takes": []}, "shots"), ({"width": 191}, "width"), ({"height": 8}, "height"),
                          ({"fps": 0}, "fps"), ({"crossfade": 1.5}, "crossfade"), ({"crossfade": -0.1}, "crossfade")]:
        args = {"takes": takes, "width": W, "height": H, "fps": FPS, **kwargs}
        with pytest.raises(FieldError) as err:
            cut_board(args.pop("takes"), out, **args)
        assert err.value.field == field
    with pytest.raises(PostError, match="gone.mp4 is missing"):
        cut_board([takes[0], CutPiece(tmp_path / "gone.mp4", "Gone")], out, width=W, height=H, fps=FPS)
    assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_chapter_titles_are_escaped_for_ffmetadata():
    text = chapters_file([("a=b;c#d\\e\nf", 0.0, 1.5)], title="T=1")
    assert "title=a\\=b\\;c\\#d\\\\e\\\nf" in text and "title=T\\=1" in text and "END=1500" in text
