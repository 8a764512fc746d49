"""The CLI as a user runs it: clips on disk, one clear line for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotsmith.cli import app
from shotsmith.post import decode_frames, probe_video, read_clip_metadata

runner = CliRunner()


@pytest.mark.parametrize("args, words", [
    (["x", "--size", "1000x960"], "width must be a multiple of 16"),
    (["x", "--size", "big"], "size: 'big' is not a size"),
    (["x", "--frames", "24"], "8k+1"),
    (["x", "--model", "cogvideox-9000"], "unknown model"),
    (["x", "--model", "cogvideox-5b-i2v"], "needs a first-frame image"),
    (["x", "--seconds", "-2"], "seconds must be more than 0"),
    (["x", "--candidates", "7"], "candidates"),
    (["x", "--style", "vaporwave-deluxe"], "not a preset"),
    (["", "--no-enhance"], "needs a prompt"),
])
def test_bad_values_exit_with_one_clear_line(args, words, tmp_path):
    result = runner.invoke(app, ["generate", *args, "--out", str(tmp_path / "c.mp4")])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "c.mp4").exists()


def test_unreadable_image_is_refused(tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = runner.invoke(app, ["generate", "", "--image", str(bad), "--out", str(tmp_path / "c.mp4")])
    assert result.exit_code == 2 and "not a readable image" in result.output


def test_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shotsmith.cli", "generate", "x", "--size", "1441x960"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "width must be a multiple of 16" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_generate_writes_clip_gif_cover_and_sidecar(tiny_model_dirs, tmp_path):
    out = tmp_path / "shots" / "clip.mp4"
    result = runner.invoke(app, ["generate", "a red ball moves right", "--model", str(tiny_model_dirs["t2v"]),
                                 "--steps", "2", "--frames", "9", "--seed", "42", "--size", "480x320",
                                 "--out", str(out), "--no-enhance", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    clip = info["clips"][0]
    assert clip["seed"] == 42
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["codec"], probe["pix_fmt"]) == (480, 320, "h264", "yuv420p")
    # 9 native frames at the folder's 8 fps = 1.125 s, interpolated to 24 fps
    assert probe["frames"] == 27 and abs(probe["duration"] - 1.125) < 0.1
    meta = read_clip_metadata(out)
    assert meta["seed"] == 42 and meta["prompt"] == "a red ball moves right"
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["metadata"]["seed"] == 42
    assert out.with_suffix(".gif").exists() and out.with_suffix(".jpg").exists()


def test_candidates_write_numbered_clips_and_a_contact_sheet(tiny_model_dirs, tmp_path):
    out = tmp_path / "pick.mp4"
    result = runner.invoke(app, ["generate", "a blue box falls", "--model", str(tiny_model_dirs["t2v"]),
                                 "--steps", "1", "--frames", "9", "--candidates", "3", "--size", "192x128",
                                 "--seed", "5", "--out", str(out), "--no-enhance", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert [c["seed"] for c in info["clips"]] == [5, 6, 7]
    videos = [tmp_path / f"pick-{i}.mp4" for i in (1, 2, 3)]
    assert all(v.exists() for v in videos)
    assert not np.array_equal(decode_frames(videos[0]), decode_frames(videos[1]))
    sheet = Image.open(tmp_path / "pick-contact.jpg")
    assert sheet.height > sheet.width / 6 * 3 * 0.5  # one row per candidate


def test_models_lists_entries_with_availability():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["cogvideox-shapes"]["available"] is True
    assert rows["cogvideox-5b"]["path"] == "hub:THUDM/CogVideoX-5b"
