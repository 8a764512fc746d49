"""Edit (video-to-video) and extend (chained image-to-video) on the embedded models: the files a
user gets (frame counts, sizes, durations, sidecars), strength 0 giving the source back, source
clips made elsewhere, and the extension limits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clips import encode, moving_box

from shotsmith.engine import Cancelled
from shotsmith.post import probe_video, read_clip_metadata
from shotsmith.post.source import read_resampled
from shotsmith.service import Studio
from shotsmith.spec import build_spec

OUT = dict(width=192, height=128, fps=8, interpolation="none")  # small, fast outputs


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def studio():
    return Studio()


@pytest.fixture(scope="module")
def shotsmith_clip(studio, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("source") / "clip.mp4"
    studio.generate(build_spec(prompt="a red ball moves right on green grass", seed=3, steps=8, **OUT), out)
    return out


# Edit


def test_edit_gives_a_clip_of_the_native_frame_count_at_the_output_size(studio, shotsmith_clip, tmp_path):
    out = studio.generate(build_spec(prompt="a blue cube moves left on green grass", video=str(shotsmith_clip),
                                     strength=0.6, seed=5, steps=5, **OUT), tmp_path / "edit.mp4")
    clip = out.clips[0]
    assert (clip.width, clip.height, clip.frames, clip.fps) == (192, 128, 50, 8)  # 25 native frames at 4 fps
    sidecar = json.loads(clip.sidecar.read_text())
    assert sidecar["clip"]["native"]["frames"] == 25
    assert sidecar["metadata"]["edit"] == {"source": "clip.mp4", "strength": 0.6, "steps_run": 3}
    assert sidecar["metadata"]["spec"]["video"] == "clip.mp4"  # the name, never a server path
    assert any("resampled to 96x64, 25 frames" in note for note in out.notes)


def test_strength_zero_gives_the_source_back_and_strength_one_does_not(studio, shotsmith_clip, tmp_path):
    source, _ = read_resampled(shotsmith_clip, 96, 64, 25, 4)
    kept = studio.generate(build_spec(prompt="a blue cube moves left on green grass", video=str(shotsmith_clip),
                                      strength=0.0, seed=5, **OUT), tmp_path / "kept.mp4")
    back, _ = read_resampled(kept.clips[0].video, 96, 64, 25, 4)
    assert psnr(back, source) >= 35
    assert any("given back unchanged" in note for note in kept.notes)
    redone = studio.generate(build_spec(prompt="a blue cube moves left on green grass",
                                        video=str(shotsmith_clip), strength=1.0, seed=5, steps=4, **OUT),
                             tmp_path / "redone.mp4")
    new, _ = read_resampled(redone.clips[0].video, 96, 64, 25, 4)
    assert psnr(new, source) < 25


def test_a_large_odd_length_clip_made_elsewhere_is_resampled_and_said_so(studio, tmp_path):
    source = encode(tmp_path / "phone.mp4", moving_box(37, 320, 240), fps=30)
    out = studio.generate(build_spec(prompt="a red ball moves right on green grass", video=str(source),
                                     strength=0.3, seed=1, candidates=2, steps=4, **OUT), tmp_path / "edit.mp4")
    assert [c.frames for c in out.clips] == [50, 50]
    assert out.notes[0] == ("source phone.mp4: 320x240, 37 frames at 30 fps (1.23 s) resampled to 96x64, "
                            "25 frames at 4 fps (6.25 s)")
    assert read_clip_metadata(out.clips[0].video)["notes"] == out.notes
    assert probe_video(out.clips[1].video)["width"] == 192


def test_edit_runs_on_a_cogvideox_folder_model_with_progress_and_cancel(studio, tiny_model_dirs, tmp_path):
    """The real-checkpoint path (226-token T5-style limit, its own native size) on a tiny random CogVideoX."""
    source = encode(tmp_path / "src.mp4", moving_box(12, 64, 48), fps=12)
    spec = build_spec(prompt="a red ball moves right", video=str(source), model=str(tiny_model_dirs["t2v"]),
                      strength=0.5, steps=6, frames=9, seed=2, candidates=2, **OUT)
    seen = []
    out = studio.generate(spec, tmp_path / "edit.mp4", on_progress=seen.append)
    assert [p.step for p in seen if p.stage == "denoise"] == [1, 2, 3, 4, 5, 6]  # 3 steps of 6, twice
    assert out.clips[0].frames == 9 and "resampled to 48x32, 9 frames at 8 fps" in out.notes[0]
    with pytest.raises(Cancelled):
        studio.generate(spec, tmp_path / "stopped.mp4", on_progress=seen.append,
                        should_cancel=lambda: any(p.stage == "denoise" for p in seen[-1:]))
    assert not (tmp_path / "stopped.mp4").exists()


# Extend

EXT = dict(width=192, height=128, fps=4, interpolation="none", steps=3)  # one output frame per native frame


def _frame_diffs(frames: np.ndarray) -> list[float]:
    return [float(np.abs(frames[i].astype(int) - frames[i - 1]).mean()) for i in range(1, len(frames))]


def test_an_extension_of_a_shotsmith_clip_is_one_clip_of_the_stitched_length(studio, shotsmith_clip, tmp_path):
    from shotsmith.post import decode_frames

    spec = build_spec(prompt="a red ball moves right on green grass", extend_from=str(shotsmith_clip), seconds=4,
                      frames=9, seed=4, **EXT).check_inputs()
    out = studio.generate(spec, tmp_path / "longer.mp4")
    clip = out.clips[0]
    assert abs(clip.duration - (6.25 + 4)) <= 0.2 and (clip.width, clip.height) == (192, 128)
    frames = decode_frames(clip.video)
    assert len(frames) == clip.frames == 41  # 25 source frames + 16 new ones at 4 fps
    sidecar = json.loads(clip.sidecar.read_text())["metadata"]
    parts = sidecar["segments"]
    assert [p["kind"] for p in parts] == ["generate", "extension"]  # one segment per extension
    assert parts[0]["seed"] == 3 and parts[0]["model"] == "cogvideox-shapes"
    assert (parts[1]["model"], parts[1]["kept"], parts[1]["seconds"], parts[1]["seed"]) == ("cogvideox-shapes-i2v",
                                                                                            16, 4.0, 4)
    renders = parts[1]["renders"]  # 9-frame image-to-video renders: 8 new frames each
    assert [(r["kept"], r["seconds"]) for r in renders] == [(8, 2.0)] * 2
    assert renders[0]["seed"] == 4 and renders[1]["seed"] != renders[0]["seed"]
    assert sidecar["extension"]["count"] == 1 and len(sidecar["joins"]) == 2
    assert min(_frame_diffs(frames[23:27])) > 0.5  # no frame repeats across the join (frame 25 is the first new)
    assert read_clip_metadata(clip.video)["segments"] == parts


def test_extending_twice_lists_every_segment_and_counts_extensions(studio, shotsmith_clip, tmp_path):
    first = studio.generate(build_spec(prompt="a red ball moves right", extend_from=str(shotsmith_clip), seconds=2,
                                       frames=9, seed=1, **EXT).check_inputs(), tmp_path / "one.mp4")
    second = studio.generate(build_spec(prompt="a red ball stops", extend_from=str(first.clips[0].video), seconds=2,
                                        frames=9, seed=2, **EXT).check_inputs(), tmp_path / "two.mp4")
    meta = read_clip_metadata(second.clips[0].video)
    assert [p["kind"] for p in meta["segments"]] == ["generate", "extension", "extension"]
    assert [p.get("prompt") for p in meta["segments"][1:]] == ["a red ball moves right", "a red ball stops"]
    assert meta["extension"]["count"] == 2
    assert abs(second.clips[0].duration - (6.25 + 2 + 2)) <= 0.2


def test_an_mp4_made_elsewhere_is_extended_at_the_output_size_and_rate(studio, tmp_path):
    source = encode(tmp_path / "phone.mp4", moving_box(37, 320, 240), fps=30)
    out = studio.generate(build_spec(prompt="a red box moves right", extend_from=str(source), seconds=2, frames=9,
                                     seed=6, candidates=2, **EXT).check_inputs(), tmp_path / "more.mp4")
    assert len(out.clips) == 2 and out.contact_sheet.is_file()
    for clip in out.clips:
        assert (clip.width, clip.height, clip.fps) == (192, 128, 4)
        assert abs(clip.duration - (37 / 30 + 2)) <= 0.2
    meta = read_clip_metadata(out.clips[0].video)
    assert meta["segments"][0] == {"kind": "source", "file": "phone.mp4", "seconds": 1.233}
    assert "resampled to 192x128 at 4 fps" in " ".join(out.notes)
    assert read_clip_metadata(out.clips[1].video)["segments"][1]["seed"] == 7  # its own chain, its own seed


def test_extension_limits_name_the_field(shotsmith_clip, tmp_path):
    from shotsmith.post import PostSettings, finish_clip
    from shotsmith.spec import SpecError

    with pytest.raises(SpecError) as err:
        build_spec(prompt="more", extend_from=str(shotsmith_clip), seconds=115).check_inputs()
    assert err.value.field == "seconds" and "120 s" in str(err.value)
    six = {"prompt": "p", "model": "cogvideox-shapes-i2v", "extension": {"count": 6},
           "segments": [{"kind": "extension", "extension": n} for n in range(1, 7)]}
    made = finish_clip(moving_box(25, 96, 64), 4, tmp_path / "six.mp4", PostSettings(192, 128, 4, "none"), six)
    with pytest.raises(SpecError) as err:
        build_spec(prompt="more", extend_from=str(made.video), seconds=4).check_inputs()
    assert err.value.field == "extend_from" and "at most 6 times" in str(err.value)


def test_cost_counts_every_segment(shotsmith_clip):
    one = build_spec(prompt="more", extend_from=str(shotsmith_clip), seconds=6)
    two = build_spec(prompt="more", extend_from=str(shotsmith_clip), seconds=8)
    assert two.cost() == pytest.approx(2 * one.cost())


def test_cancel_during_an_extension_stops_it(studio, shotsmith_clip, tmp_path):
    seen = []
    spec = build_spec(prompt="a red ball moves right", extend_from=str(shotsmith_clip), seconds=4, frames=9, **EXT)
    with pytest.raises(Cancelled, match="step 5 of 6"):  # in the second segment
        studio.generate(spec, tmp_path / "stopped.mp4", on_progress=seen.append,
                        should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 4)
    assert not (tmp_path / "stopped.mp4").exists()


def test_a_segment_length_the_model_cannot_render_is_refused_before_anything_runs(shotsmith_clip):
    from shotsmith.spec import SpecError

    with pytest.raises(SpecError) as err:
        build_spec(prompt="more", extend_from=str(shotsmith_clip), seconds=4, frames=12).check_inputs()
    assert err.value.field == "frames" and "8k+1" in str(err.value)


def test_seam_corrections_start_on_the_given_frame_and_pull_colour_back():
    from shotsmith.post.seams import (
        colour_stats,
        fade_residual,
        jump_ratio,
        match_colour,
    )

    clip = moving_box(12, 48, 32)
    drifted = np.clip(clip.astype(int) + np.arange(12)[:, None, None, None] * 4, 0, 255).astype(np.uint8)
    start = clip[0]
    fixed = fade_residual(match_colour(drifted, *colour_stats(clip[:4])), start, 4)
    assert np.array_equal(fixed[0], start)
    assert np.array_equal(fixed[6], match_colour(drifted, *colour_stats(clip[:4]))[6])  # faded out after 4
    drift = np.abs(colour_stats(drifted[-4:])[0] - colour_stats(clip[-4:])[0]).mean()
    kept = np.abs(colour_stats(fixed[-4:])[0] - colour_stats(clip[-4:])[0]).mean()
    assert kept < drift / 2
    smooth = jump_ratio(clip[:6], clip[6:])["ratio"]
    cut = jump_ratio(clip[:6], clip[::-1][:6])["ratio"]
    assert 0.5 < smooth < 1.5 < cut
