"""The shot list: an offline HTML page, a CSV and a Markdown table from a board, and remake
commands that really make the same take again."""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_board_cut import shapes_frames, write_take
from typer.testing import CliRunner

from shotsmith.board.shotlist import csv_cell, md_cell, remake_command, write_shot_list
from shotsmith.post.media import decode_frames
from shotsmith.post.source import read_tail

HOSTILE = 'Mara says "hi" | <script>alert(1)</script> & leaves\nnext line'


def _board(takes_dir: Path) -> tuple[dict, dict[str, Path]]:
    takes_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "take_a1": write_take(takes_dir / "a1.mp4", shapes_frames(12, 96, 64, (60, 170, 70), (220, 30, 30), 0.5), 4),
        "take_a2": write_take(takes_dir / "a2.mp4", shapes_frames(12, 96, 64, (60, 170, 70), (30, 30, 220), 0.5), 4),
        "take_b1": write_take(takes_dir / "b1.mp4", shapes_frames(12, 96, 64, (230, 200, 120), (220, 30, 30), -.5), 4),
    }

    def take(tid, seed, status="completed"):
        return {"id": tid, "job_id": "job_" + tid, "seed": seed, "status": status, "progress": 100,
                "video_url": f"/api/v1/jobs/job_{tid}/files/clip.mp4", "cover_url": None, "duration": 3.0}

    board = {
        "id": "board_1", "object": "board", "name": "Pip's day | out", "width": 96, "height": 64, "fps": 4,
        "model": None, "style": None, "status": "ready",
        "shots": [
            {"id": "shot_a", "index": 0, "title": "Meadow", "text": "Pip, a small red ball, rolls right.",
             "prompt": "A red circle moves right on green grass.", "mode": "t2v", "duration": 3.0, "style": None,
             "seed": 11, "candidates": 2, "status": "done", "takes": [take("take_a1", 11), take("take_a2", 12)],
             "picked_take_id": "take_a2", "model": "cogvideox-shapes"},
            {"id": "shot_b", "index": 1, "title": "Beach (continues)", "text": "Pip keeps rolling left.",
             "prompt": "The scene from the first frame continues. Pip keeps rolling left.", "mode": "continue",
             "duration": 3.0, "style": None, "seed": 20, "candidates": 1, "status": "done",
             "takes": [take("take_b1", 20)], "picked_take_id": "take_b1"},
            {"id": "shot_c", "index": 2, "title": "<b>Night</b>", "text": HOSTILE, "prompt": "=cmd|' /C calc'!A0",
             "mode": "t2v", "duration": 2.25, "style": "anime-2d", "seed": None, "candidates": 1,
             "status": "draft", "takes": [], "picked_take_id": None},
        ],
    }
    return board, files


@pytest.fixture
def written(tmp_path):
    board, files = _board(tmp_path / "src")
    out = tmp_path / "export"
    paths = write_shot_list(board, out, take_files=lambda t: files.get(t["id"]))
    return board, files, out, paths


def test_html_is_offline_marks_the_pick_and_plays_it(written):
    board, files, out, paths = written
    html = paths["html"].read_text()
    assert paths == {"html": out / "shotlist.html", "csv": out / "shotlist.csv", "md": out / "shotlist.md"}
    # nothing is loaded from elsewhere: every src/href is relative, a data URL or a fragment
    for ref in re.findall(r'(?:src|href|poster)="([^"]*)"', html):
        assert not re.match(r"^(https?:)?//|^/", ref), ref
    # the picked take is copied beside the page and plays from there; it is take a2, not a1
    video = re.search(r'<video[^>]*autoplay[^>]*src="([^"]+)"', html).group(1)
    assert video == "takes/shot-01-take_a2.mp4"
    assert np.array_equal(decode_frames(out / video)[0], decode_frames(files["take_a2"])[0])
    # every take has its first frame inline, the picked one marked
    assert html.count('src="data:image/jpeg;base64,') == 3
    assert re.search(r'<li class="picked"><img[^>]*take take_a2', html)
    assert "seed 11" in html and "seed 12" in html and "cogvideox-shapes" in html
    assert "no take picked" in html


def test_html_escapes_hostile_text(written):
    html = written[3]["html"].read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>Night</b>" not in html and "&lt;b&gt;Night&lt;/b&gt;" in html
    assert "Pip&#39;s day | out" in html


def test_csv_has_a_row_per_shot_and_neutralises_formulas(written):
    board, files, out, paths = written
    raw = paths["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # spreadsheets read UTF-8 by its mark
    rows = list(csv.DictReader(paths["csv"].open(encoding="utf-8-sig", newline="")))
    assert [r["index"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == ["index", "title", "text", "prompt", "mode", "seed", "model", "duration", "candidates",
                             "picked_take", "remake"]
    assert rows[0]["seed"] == "12" and rows[0]["picked_take"] == "take_a2" and rows[0]["model"] == "cogvideox-shapes"
    assert rows[1]["mode"] == "continue" and rows[1]["model"] == "cogvideox-shapes-i2v"
    assert rows[2]["text"] == HOSTILE  # quotes, pipes and line breaks survive the round trip
    assert rows[2]["prompt"] == "'=cmd|' /C calc'!A0"  # a formula shows as text
    assert rows[2]["seed"] == "" and rows[2]["picked_take"] == "" and rows[2]["remake"] == ""  # not rendered yet


def test_markdown_table_keeps_one_row_per_shot(written):
    md = written[3]["md"].read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3
    # each row has exactly the columns' cells: no pipe or line break in the text splits it
    for line in table:
        assert len(re.split(r"(?<!\\)\|", line)) == 11 + 2
    assert "&lt;script&gt;" in md and "<script>" not in md and "hi\" \\| &lt;script" in md
    assert "leaves<br>next line" in md


def test_remake_commands_name_the_seed_settings_and_first_frame(written):
    board, files, out, paths = written
    rows = list(csv.DictReader(paths["csv"].open(encoding="utf-8-sig", newline="")))
    first = shlex.split(rows[0]["remake"])
    assert first[:3] == ["shotsmith", "generate", "A red circle moves right on green grass."]
    options = dict(zip(first[3::2], first[4::2]))
    assert options["--seed"] == "12" and options["--model"] == "cogvideox-shapes" and options["--size"] == "96x64"
    assert options["--fps"] == "4" and options["--seconds"] == "3" and "--no-enhance" in first
    # the continued shot starts from shot 1's picked take's last frame, written beside the list
    second = shlex.split(rows[1]["remake"])
    image = second[second.index("--image") + 1]
    assert image == "inputs/shot-02-image.png"
    assert np.array_equal(np.asarray(Image.open(out / image).convert("RGB")), read_tail(files["take_a2"], 0)[-1])


def test_rewriting_drops_copies_the_list_no_longer_shows(written, tmp_path):
    board, files, out, _ = written
    board["shots"][0]["picked_take_id"] = "take_a1"
    write_shot_list(board, out, take_files=lambda t: files.get(t["id"]))
    assert sorted(p.name for p in (out / "takes").iterdir()) == ["shot-01-take_a1.mp4", "shot-02-take_b1.mp4"]


def test_cells_and_commands_escape_what_they_must():
    assert csv_cell("=1+1") == "'=1+1" and csv_cell("@x") == "'@x" and csv_cell("+1") == "'+1"
    assert csv_cell("a=b") == "a=b" and csv_cell(2.5) == "2.5" and csv_cell(None) == ""
    assert md_cell("a|b\nc") == "a\\|b<br>c"
    command, notes = remake_command({"prompt": "-x; rm -rf / $(boom)", "seed": 1, "enhance": True,
                                     "enhance_backend": "llm"})
    args = shlex.split(command)
    assert args[-2:] == ["--", "-x; rm -rf / $(boom)"] and "--no-enhance" not in args
    assert notes and "LLM" in notes[0]


def test_remake_command_makes_the_same_take_again(tiny_model_dirs, tmp_path, monkeypatch):
    """The take as a board render makes it (a job's spec through the service), then the shot list's
    command for it, run twice: the same frames every time."""
    from shotsmith.cli import app
    from shotsmith.service import Studio
    from shotsmith.spec import build_spec

    values = {"prompt": "a red ball moves right", "enhance": False, "model": str(tiny_model_dirs["t2v"]),
              "seed": 4242, "candidates": 1, "steps": 2, "frames": 9, "width": 96, "height": 64, "fps": 8,
              "interpolation": "none"}
    take_file = tmp_path / "take.mp4"
    Studio().generate(build_spec(**values), take_file)
    board = {"name": "b", "width": 96, "height": 64, "fps": 8, "shots": [
        {"id": "s1", "title": "One", "text": "x", "prompt": values["prompt"], "mode": "t2v", "duration": 1.125,
         "seed": 4242, "candidates": 1, "picked_take_id": "t1",
         "takes": [{"id": "t1", "job_id": "j1", "seed": 4242, "status": "completed"}]}]}
    out = tmp_path / "list"
    paths = write_shot_list(board, out, take_files=lambda t: take_file, take_specs=lambda t: values)
    command = next(csv.DictReader(paths["csv"].open(encoding="utf-8-sig", newline="")))["remake"]
    args = shlex.split(command)
    assert args[:2] == ["shotsmith", "generate"] and "--seed" in args and "4242" in args
    monkeypatch.chdir(out)
    made = []
    for run in range(2):
        result = CliRunner().invoke(app, [*args[1:-2], "--out", f"again{run}.mp4", "--local"])
        assert result.exit_code == 0, result.output
        made.append(decode_frames(out / f"again{run}.mp4"))
    original = decode_frames(take_file)
    assert original.shape == made[0].shape == (9, 64, 96, 3)
    assert np.array_equal(made[0], made[1]) and np.array_equal(made[0], original)
