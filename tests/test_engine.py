"""Engine and registry on real diffusers pipelines (tiny random configs saved to folders)."""

import numpy as np
import pytest
from PIL import Image

from shotsmith.engine import Cancelled, Engine
from shotsmith.models.registry import ENTRIES, entry_from_folder, resolve
from shotsmith.spec import build_spec


@pytest.fixture(scope="module")
def engine():
    return Engine()


def test_registry_lists_real_cogvideox_entries():
    for name in ["cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b", "cogvideox1.5-5b-i2v"]:
        entry = ENTRIES[name]
        assert entry.hub_id.startswith("THUDM/")
    assert ENTRIES["cogvideox-5b-i2v"].fixed_size
    assert ENTRIES["cogvideox1.5-5b"].frame_step == 16


def test_folder_entries_read_their_configs(tiny_model_dirs):
    t2v = entry_from_folder(tiny_model_dirs["t2v"])
    i2v = entry_from_folder(tiny_model_dirs["i2v"])
    assert (t2v.task, i2v.task) == ("t2v", "i2v")
    assert (t2v.width, t2v.height, t2v.family, t2v.frame_step) == (48, 32, "cogvideox", 8)
    assert resolve(str(tiny_model_dirs["t2v"])).path == str(tiny_model_dirs["t2v"])


def _spec(folder, **kw):
    return build_spec(**{"prompt": "a red ball moves right", "model": str(folder), "steps": 2, "frames": 9, **kw})


def test_same_seed_same_frames_and_distinct_candidates(engine, tiny_model_dirs):
    first = engine.render(_spec(tiny_model_dirs["t2v"], seed=11, candidates=2))
    again = engine.render(_spec(tiny_model_dirs["t2v"], seed=11, candidates=2))
    assert [c.seed for c in first.candidates] == [11, 12]
    video = first.candidates[0].frames
    assert video.shape == (9, 32, 48, 3) and video.dtype == np.uint8
    assert np.array_equal(video, again.candidates[0].frames)
    assert not np.array_equal(first.candidates[0].frames, first.candidates[1].frames)


def test_no_seed_picks_a_new_one_each_time_and_reports_it(engine, tiny_model_dirs):
    a = engine.render(_spec(tiny_model_dirs["t2v"]))
    b = engine.render(_spec(tiny_model_dirs["t2v"]))
    assert a.candidates[0].seed != b.candidates[0].seed
    assert not np.array_equal(a.candidates[0].frames, b.candidates[0].frames)


def test_progress_counts_every_step_and_pipeline_stays_loaded(engine, tiny_model_dirs):
    seen = []
    engine.render(_spec(tiny_model_dirs["t2v"], steps=3, candidates=2), on_progress=seen.append)
    steps = [p.step for p in seen if p.stage == "denoise"]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert all(p.total == 6 for p in seen)
    result = engine.render(_spec(tiny_model_dirs["t2v"], steps=1))
    assert result.timings["load"] < 0.05  # cached, not reloaded


def test_cancel_stops_between_steps(engine, tiny_model_dirs):
    seen = []
    with pytest.raises(Cancelled, match="step 2 of 5"):
        engine.render(_spec(tiny_model_dirs["t2v"], steps=5), on_progress=seen.append,
                      should_cancel=lambda: len([p for p in seen if p.stage == "denoise"]) >= 1)
    assert max(p.step for p in seen) == 1


def test_cancel_uses_the_pipelines_interrupt_flag(engine, tiny_model_dirs, monkeypatch):
    """A cancelled run stops through diffusers' interrupt flag: the steps left are skipped and the
    pipeline still ends normally (its model hooks are freed); the next request runs every step."""
    pipe = engine.pipeline(entry_from_folder(tiny_model_dirs["t2v"]))
    freed, steps_run = [], []
    monkeypatch.setattr(pipe, "maybe_free_model_hooks", lambda: freed.append(True))
    real_forward = pipe.transformer.forward
    monkeypatch.setattr(pipe.transformer, "forward", lambda *a, **k: steps_run.append(1) or real_forward(*a, **k))
    with pytest.raises(Cancelled, match="step 2 of 6"):
        engine.render(_spec(tiny_model_dirs["t2v"], steps=6, guidance=1.0), should_cancel=lambda: len(steps_run) >= 2)
    assert freed == [True] and len(steps_run) == 2
    steps_run.clear()
    engine.render(_spec(tiny_model_dirs["t2v"], steps=3, guidance=1.0))
    assert len(steps_run) == 3


def test_image_to_video_from_a_folder(engine, tiny_model_dirs, tmp_path):
    image = tmp_path / "first.png"
    Image.new("RGB", (48, 32), (200, 30, 30)).save(image)
    result = engine.render(_spec(tiny_model_dirs["i2v"], prompt="", image=str(image), seed=3))
    assert result.entry.task == "i2v"
    assert result.candidates[0].frames.shape == (9, 32, 48, 3)
