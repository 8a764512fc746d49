"""The evaluation report and the gallery export.

Metrics from frames alone must flag a broken model (frozen frames, wrong colour, a first
frame that is not the input image) and leave a good one alone; a suite runs through
Studio.generate into a folder that holds report.html, results.json and every clip, with
relative links only; `shotsmith eval` and `shotsmith gallery export` are thin over that.
The full seed suite on the embedded model is `-m slow`.
"""

from __future__ import annotations

import json
import random
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shotsmith.cli import app
from shotsmith.engine import Candidate, RenderResult
from shotsmith.eval.adherence import slots_from_caption
from shotsmith.eval.analyse import analyse_clip
from shotsmith.eval.metrics import clip_flags, first_frame_match, measure, near_duplicate, signature
from shotsmith.eval.records import Report, RowReport
from shotsmith.eval.report import write_report
from shotsmith.eval.suite import SuiteError, SuiteOptions, load_suite, run_suite
from shotsmith.post import PostSettings, finish_clip
from shotsmith.service import Studio
from shotsmith.train import world

REPO = Path(__file__).resolve().parents[1]
SEED_SUITE = REPO.parent / "shared" / "prompts" / "seed_suite.jsonl"
runner = CliRunner()
SMALL = dict(width=192, height=128)


def scene_for(caption: str, seed: int = 0, **change) -> world.Scene:
    slots = slots_from_caption(caption)
    for obj in slots["objects"]:
        obj.update(change)
    return world.scene_from_slots(slots, random.Random(seed))


def codes(flags) -> set[str]:
    return {f["code"] if isinstance(f, dict) else f.code for f in flags}


# 1. Metrics on frames built by hand -------------------------------------------------------


def test_a_moving_clip_raises_no_flag_and_reads_its_motion():
    frames = world.render(scene_for("a red ball rolls to the right on green grass"))
    m = measure(frames, 4.0)
    assert (m.frames, m.fps, m.duration) == (25, 4.0, 6.25)
    assert m.frozen_s == 0 and m.temporal_noise < 1
    assert 4 < m.motion < 20  # the ball crosses ~35% of the width in 6.25 s: ~6-9 %/s
    assert clip_flags(m) == []


def test_frozen_frames_are_flagged_unless_the_prompt_asks_for_stillness():
    moving = world.render(scene_for("a blue square moves up on sand"))
    frozen = np.repeat(moving[:1], 25, axis=0)  # a broken model: every frame the same
    m = measure(frozen, 4.0)
    assert m.flicker == 0 and m.motion == 0 and m.frozen_s == pytest.approx(6.25)
    assert [(f.code, f.severity) for f in clip_flags(m)] == [("frozen", "fail")]
    assert [(f.code, f.severity) for f in clip_flags(m, expect_static=True)] == [("static", "info")]
    stalled = np.concatenate([moving[:8], np.repeat(moving[8:9], 10, axis=0), moving[8:15]])
    assert codes(clip_flags(measure(stalled, 4.0))) == {"stall"}


def test_blank_flash_noise_and_format_problems_are_flagged():
    good = world.render(scene_for("a yellow triangle moves left on a grey studio backdrop"))
    blank = np.full_like(good, 90)
    assert "blank" in codes(clip_flags(measure(blank, 4.0)))
    flash = good.copy()
    flash[12] = 255
    assert "flash" in codes(clip_flags(measure(flash, 4.0)))
    noisy = np.clip(good + np.random.default_rng(0).normal(0, 14, good.shape), 0, 255).astype(np.uint8)
    assert "flicker" in codes(clip_flags(measure(noisy, 4.0)))
    m = measure(good, 4.0, size=(1440, 960))
    asked = {"fps": 24, "width": 1440, "height": 960, "duration": 6.25}
    assert [f.message for f in clip_flags(m, requested=asked)] == [
        "not the clip that was asked for: 4 fps, asked 24"]


def test_near_duplicates_and_first_frame_match():
    a = world.render(scene_for("a red ball rolls to the right on green grass", seed=1))
    b = world.render(scene_for("a red ball rolls to the right on green grass", seed=2))
    assert near_duplicate(signature(a), signature(a.copy()))
    assert not near_duplicate(signature(a), signature(b))
    kept = first_frame_match(a[0], a[0])
    assert kept.psnr == 99.0 and kept.colour_shift == 0
    swapped = first_frame_match(a[0][..., ::-1], a[0])  # RGB <-> BGR: the wrong colours
    assert swapped.psnr < 18 and swapped.colour_shift > 12
    assert "first_frame" in codes(clip_flags(measure(a, 4.0), first=swapped))


# 2. A broken model, end to end through Studio, post-processing and the report ------------


class WorldEngine:
    """An engine whose 'model' draws the shapes world: right, frozen, or in the wrong colour.

    It stands in for the diffusers pipeline only; Studio.generate, finish_clip (ffmpeg),
    the analysis and the report writer all run for real.
    """

    device = "cpu"

    def __init__(self, fault: str | None = None):
        self.fault = fault

    def pipeline(self, entry):
        return type("Pipe", (), {"tokenizer": None})()

    def render(self, spec, on_progress=None, should_cancel=None):
        entry = spec.entry()
        seeds = [spec.seed + i for i in range(spec.candidates)]
        candidates = []
        for seed in seeds:
            slots = slots_from_caption(spec.prompt)
            if self.fault == "wrong_colour":
                for obj in slots["objects"]:
                    obj["colour"] = "blue" if obj["colour"] != "blue" else "red"
            frames = world.render(world.scene_from_slots(slots, random.Random(seed)))
            if spec.image:  # image-to-video: start from the given first frame
                from PIL import Image

                frames[0] = np.asarray(Image.open(spec.image).convert("RGB").resize((96, 64)))
            if self.fault == "frozen":
                frames = np.repeat(frames[:1], len(frames), axis=0)
            if self.fault == "swap_channels":
                frames = np.ascontiguousarray(frames[..., ::-1])
            candidates.append(Candidate(seed=seed, frames=frames, timings={"denoise": 0.01, "decode": 0.01}))
        return RenderResult(entry, candidates, 2, 6.0, 96, 64, 25, {"load": 0.0, "text": 0.0})


SHAPES_SUITE = [
    {"id": "good", "category": "fine", "prompt": "a red ball rolls to the right on green grass"},
    {"id": "two", "category": "fine", "prompt": "a white square moves left on a night sky"},
    {"id": "img", "category": "image", "mode": "i2v", "prompt": "a purple triangle moves down on sand"},
]


def write_suite(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_world_suite(tmp_path: Path, fault: str | None, candidates: int = 1) -> Report:
    rows = load_suite(write_suite(tmp_path / "suite.jsonl", SHAPES_SUITE))
    options = SuiteOptions(steps=2, candidates=candidates, enhance=False, suite="shapes", **SMALL)
    return run_suite(rows, tmp_path / f"report-{fault}", options, studio=Studio(WorldEngine(fault)))


def clip_codes(report: Report) -> dict[str, set[str]]:
    return {row.id: set().union(*[codes(c.flags) for c in row.clips]) for row in report.rows}


def test_a_correct_model_passes_and_each_broken_one_is_flagged(tmp_path):
    good = run_world_suite(tmp_path, None)
    assert all(row.error is None for row in good.rows), [row.error for row in good.rows]
    assert clip_codes(good) == {"good": set(), "two": set(), "img": set()}
    assert good.summary()["overall"]["adherence"]["overall"] == 100.0
    assert good.rows[2].first_frame["source"] == "world" and good.rows[2].clips[0].first_frame["psnr"] > 25

    frozen = run_world_suite(tmp_path, "frozen")
    assert all("frozen" in found for found in clip_codes(frozen).values())
    assert frozen.summary()["overall"]["frozen"] == 3
    assert all(c.adherence["slots"]["motion"] == 0 for row in frozen.rows for c in row.clips)

    wrong = run_world_suite(tmp_path, "wrong_colour")
    assert all("adherence" in found and "frozen" not in found for found in clip_codes(wrong).values())
    flag = next(f for f in wrong.rows[0].clips[0].flags if f["code"] == "adherence")
    assert flag["message"] == "the caption is not followed: colour: expected red, saw blue"
    assert wrong.summary()["overall"]["adherence"]["per_slot"]["colour"] == 0.0

    swapped = run_world_suite(tmp_path, "swap_channels")
    assert "first_frame" in clip_codes(swapped)["img"]

    html = (tmp_path / "report-frozen" / "report.html").read_text()
    assert html.count('class="badge fail">frozen') == 3
    assert 'colour: expected red, saw blue' in (tmp_path / "report-wrong_colour" / "report.html").read_text()
    saved = json.loads((tmp_path / "report-frozen" / "results.json").read_text())
    assert saved["summary"]["overall"]["frozen"] == 3 and saved["finished"] is True


def test_candidates_that_look_the_same_are_near_duplicates(tmp_path):
    class SameSeedEngine(WorldEngine):
        def render(self, spec, on_progress=None, should_cancel=None):
            result = super().render(spec.model_copy(update={"candidates": 1}))
            first = result.candidates[0]
            result.candidates = [first, Candidate(first.seed + 1, first.frames.copy(), first.timings)]
            return result

    rows = load_suite(write_suite(tmp_path / "s.jsonl", SHAPES_SUITE[:1]))
    report = run_suite(rows, tmp_path / "out", SuiteOptions(candidates=2, enhance=False, **SMALL),
                       studio=Studio(SameSeedEngine()))
    assert [codes(c.flags) for c in report.rows[0].clips] == [{"near_duplicate"}, {"near_duplicate"}]
    assert report.summary()["overall"]["near_duplicates"] == 2
    assert report.rows[0].contact_sheet == "clips/good/clip-contact.jpg"


def test_broken_frames_through_the_report_writer(tmp_path):
    """Frames built by hand, encoded by finish_clip, measured, and written as a report."""
    caption = "a green triangle moves up on a sky background"
    good = world.render(scene_for(caption))
    broken = {"ok": good, "frozen": np.repeat(good[:1], 25, axis=0),
              "wrong-colour": world.render(scene_for(caption, colour="orange"))}
    rows = []
    for name, frames in broken.items():
        video = tmp_path / "clips" / name / "clip.mp4"
        finish_clip(frames, 4, video, PostSettings(width=192, height=128, fps=12, gif=False), {"prompt": caption})
        clip = analyse_clip(video, tmp_path, expected=slots_from_caption(caption), seed=7,
                            requested={"width": 192, "height": 128, "fps": 12, "duration": 6.25},
                            files={"cover": video.with_suffix(".jpg")})
        rows.append(RowReport(id=name, category=name, prompt=caption, seeds=[7], clips=[clip.report]))
    report = Report(title="broken frames", kind="eval", rows=rows, finished=True)
    html = write_report(report, tmp_path).read_text()
    assert {k: codes(r.clips[0].flags) for k, r in zip(broken, rows)} == {
        "ok": set(), "frozen": {"frozen", "adherence"}, "wrong-colour": {"adherence"}}
    for name in broken:
        assert f'id="group-{name}"' in html
    assert "colour: expected green, saw orange" in html


def test_the_report_escapes_what_users_typed(tmp_path):
    row = RowReport(id="x", category="<i>cat</i>", prompt='<script>alert("hi")</script>',
                    enhanced_prompt="a & b", error={"type": "SpecError", "message": "<img src=x onerror=alert(1)>"})
    html = write_report(Report(title="t <b>", kind="eval", rows=[row]), tmp_path).read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;i&gt;cat&lt;/i&gt;" in html and "t &lt;b&gt;" in html


# 3. The suite file -------------------------------------------------------------------------


@pytest.mark.parametrize("line, words", [
    ("{not json", "line 1: not JSON"),
    ('{"id": "x"}', "'prompt' must be a string"),
    ('{"prompt": "a", "mode": "v2v"}', "'mode' must be t2v or i2v"),
    ('{"prompt": "a", "image": "missing.png"}', "image missing.png not found"),
    ('{"prompt": "a", "seed": -1}', "'seed' must be a whole number"),
    ("", "no prompts"),
])
def test_bad_suite_lines_name_the_line(tmp_path, line, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(SuiteError, match=re.escape(words)):
        load_suite(path)


def test_suite_rows_get_ids_categories_and_shapes_slots(tmp_path):
    rows = load_suite(write_suite(tmp_path / "s.jsonl", [
        {"id": "a b/c", "prompt": "a red ball rolls to the right on green grass"},
        {"id": "a b/c", "prompt": "A cheetah sleeps.", "category": "realistic"},
        {"prompt": "", "mode": "i2v"},
    ]))
    assert [r.id for r in rows] == ["a-b-c", "a-b-c-2", "line3"]
    assert [r.category for r in rows] == ["shapes-world", "realistic", "uncategorised"]
    assert rows[0].expected["objects"] == [{"colour": "red", "shape": "circle", "motion": "right"}]
    assert rows[1].expected is None


def test_the_seed_suite_loads_with_every_category():
    if not SEED_SUITE.is_file():
        pytest.skip("../shared/prompts/seed_suite.jsonl is not present beside the repository")
    rows = load_suite(SEED_SUITE)
    assert len(rows) == 31 and len({r.id for r in rows}) == 31
    assert {r.category for r in rows} == {"realistic", "animation", "scifi-fantasy", "multi-person", "classic-meme"}
    assert sum(r.mode == "i2v" for r in rows) == 16 and not any(r.image for r in rows)


# 4. The real embedded model, small and fast -------------------------------------------------


class LinkParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.videos: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href", "poster"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "video":
            self.videos.append(attrs)


def check_self_contained(folder: Path) -> LinkParser:
    """Every link of report.html is relative and points at a file in the folder; nothing online."""
    html = (folder / "report.html").read_text()
    parser = LinkParser()
    parser.feed(html)
    for link in parser.links:
        if link.startswith("#") or link == "data:,":  # in-page anchors; the empty favicon
            continue
        assert not re.match(r"^[a-z]+:|^/", link), link
        assert (folder / link).is_file(), link
    assert "http://" not in html and "https://" not in html
    for video in parser.videos:
        assert video["preload"] == "none" and video["poster"].endswith(".poster.jpg")
    return parser


@pytest.mark.slow  # ~30 s: the real embedded model over a small suite
def test_a_small_suite_on_the_embedded_model_makes_a_report_with_every_category(tmp_path):
    suite = write_suite(tmp_path / "small.jsonl", [
        {"id": "shape", "category": "shapes", "mode": "t2v", "prompt": "a red ball rolls to the right on green grass"},
        {"id": "cat", "category": "animation", "subject": "animals", "mode": "i2v",
         "prompt": "A small cat wags its tail and walks away."},
        {"id": "city", "category": "realistic", "mode": "t2v", "prompt": "A bustling street under a city skyline."},
    ])
    out = tmp_path / "report"
    result = runner.invoke(app, ["eval", str(suite), "--out", str(out), "--steps", "2", "--size", "192x128"])
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output
    data = json.loads((out / "results.json").read_text())
    assert [g["name"] for g in data["summary"]["groups"]] == ["shapes", "animation", "realistic"]
    html = (out / "report.html").read_text()
    for name in ("shapes", "animation", "realistic"):
        assert f'id="group-{name}"' in html
    rows = {r["id"]: r for r in data["rows"]}
    assert rows["cat"]["first_frame"]["source"] == "t2v"
    assert "text-to-video model cogvideox-shapes" in rows["cat"]["first_frame"]["how"]
    assert rows["cat"]["model"] == "cogvideox-shapes-i2v" and rows["cat"]["clips"][0]["first_frame"]["psnr"] > 0
    assert rows["shape"]["clips"][0]["adherence"] is not None and rows["city"]["clips"][0]["adherence"] is None
    for row in data["rows"]:
        assert row["error"] is None
        assert row["enhanced_prompt"] and row["seeds"] and row["timings"]["generate"] > 0
        clip = row["clips"][0]
        assert (clip["metrics"]["width"], clip["metrics"]["height"], clip["metrics"]["fps"]) == (192, 128, 24)
        assert clip["timings"]["denoise"] > 0
    parser = check_self_contained(out)
    assert len(parser.videos) == 3
    assert not list(out.rglob("*.gif")) and all(r["clips"][0]["files"]["gif"] is None for r in data["rows"])


def test_eval_cli_refuses_bad_input_with_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "mode": "v2v"}\n')
    for args, words in (([str(bad)], "'mode' must be t2v or i2v"),
                        ([str(tmp_path / "none.jsonl")], "cannot read it"),
                        (["--candidates", "9"], "candidates"),
                        (["--model", "cogvideox-9000"], "unknown model"),
                        (["--size", "100x100"], "multiple of 16")):
        result = runner.invoke(app, ["eval", *args, "--out", str(tmp_path / "o")])
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


# 5. Gallery export ---------------------------------------------------------------------------


def make_job(store, home: Path, owner_key: str, caption: str, style: str | None, created: float, seed: int):
    from shotsmith.jobs import JobResult, new_job_id, owner_of
    from shotsmith.jobs.worker import clip_output
    from shotsmith.spec import build_spec

    job_id = new_job_id()
    spec = build_spec(prompt=caption, style=style, seed=seed, **SMALL)
    store.create(job_id, owner_of(owner_key), spec.model_dump(mode="json"), source="native")
    folder = home / "jobs" / job_id
    frames = world.render(scene_for(caption, seed))
    files = finish_clip(frames, 4, folder / "clip.mp4", PostSettings(fps=24, **SMALL), {"prompt": caption,
                                                                                        "model": "cogvideox-shapes"})
    store.claim(job_id, "test-worker", lease_s=60)
    store.finish_completed(job_id, JobResult(outputs=[clip_output(files, seed, folder)], seeds=[seed],
                                             timings={"total": 1.5}, enhanced_prompt=caption + " Cinematic."))
    with store._write:  # backdate the record, as if made earlier
        from sqlalchemy import update
        from sqlalchemy.orm import Session

        from shotsmith.jobs.store import JobRow

        with Session(store.engine) as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(created_at=created))
            session.commit()
    return job_id


def test_gallery_export_filters_by_key_style_and_date(tmp_path):
    from shotsmith.jobs import JobStore

    home = tmp_path / "home"
    store = JobStore(home / "jobs.sqlite3")
    old = time.time() - 10 * 86400
    mine = make_job(store, home, "key-a", "a red ball rolls to the right on green grass", "pixar-3d", time.time(), 1)
    mine_old = make_job(store, home, "key-a", "a blue square moves up on sand", None, old, 2)
    theirs = make_job(store, home, "key-b", "a white circle moves left on a night sky", "pixar-3d", time.time(), 3)
    store.create("video_" + "0" * 32, "x", {"prompt": "queued"}, source="native")  # not completed: left out
    store.close()

    out = tmp_path / "gallery"
    result = runner.invoke(app, ["gallery", "export", "--home", str(home), "--out", str(out), "--key", "key-a"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert {r["id"] for r in data["rows"]} == {mine, mine_old}
    assert [g["name"] for g in data["summary"]["groups"]] == ["pixar-3d", "no style"]
    row = next(r for r in data["rows"] if r["id"] == mine)
    assert row["seeds"] == [1] and row["enhanced_prompt"].endswith("Cinematic.")
    assert row["clips"][0]["adherence"]["all_correct"] is True and row["clips"][0]["flags"] == []
    check_self_contained(out)
    assert (out / "clips" / mine / "clip.mp4").is_file()

    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    result = runner.invoke(app, ["gallery", "export", "--home", str(home), "--out", str(tmp_path / "g2"),
                                 "--since", since, "--style", "pixar"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "g2" / "results.json").read_text())
    assert {r["id"] for r in data["rows"]} == {mine, theirs}

    for args, words in ((["--since", "last tuesday"], "is not a date"),
                        (["--home", str(tmp_path / "nowhere")], "no job store"),
                        (["--home", str(home), "--style", "vaporwave"], "unknown style preset")):
        result = runner.invoke(app, ["gallery", "export", "--out", str(tmp_path / "g3"), *args])
        assert result.exit_code == 2 and words in result.output, result.output


# 6. The whole seed suite (slow) ----------------------------------------------------------------


@pytest.mark.slow
def test_the_seed_suite_on_the_embedded_model(tmp_path):
    if not SEED_SUITE.is_file():
        pytest.skip("../shared/prompts/seed_suite.jsonl is not present beside the repository")
    out = tmp_path / "seed-report"
    started = time.perf_counter()
    result = runner.invoke(app, ["eval", str(SEED_SUITE), "--out", str(out)])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert [g["name"] for g in data["summary"]["groups"]] == [
        "realistic", "animation", "scifi-fantasy", "multi-person", "classic-meme"]
    assert data["summary"]["overall"]["clips"] == 31 and data["summary"]["overall"]["errors"] == 0
    assert sum(1 for r in data["rows"] if r["first_frame"] and r["first_frame"]["source"] == "t2v") == 16
    check_self_contained(out)
    print(f"seed suite: 31 clips in {seconds:.0f} s")
