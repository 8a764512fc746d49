"""`shotsmith train lora` on the tiny random-weight model: data layouts, bad data,
a LoRA that plain diffusers loads, scale 0 = base output, resume after an interruption."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from shotsmith.models.lora import LoraError, apply_lora, clear_lora, list_loras, resolve_lora
from shotsmith.train import world
from shotsmith.train.clips import DataError, iter_training_clips, scan_folder, write_clip
from shotsmith.train.lora import LORA_FILE, LoraRecipe, TrainingError, train_lora


def _frames(n: int, seed: int = 0, size=(80, 40)) -> np.ndarray:
    """A rendered star clip at a size other than the tiny model's (48x32), so it is resized and cropped."""
    scene = world.novel_scene(random.Random(seed), colour="red", shape="star")
    return world.render(scene, frames=n, width=size[0], height=size[1])


def _pairs_folder(root: Path, good: int = 3, bad: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        write_clip(_frames(12, seed=i), root / f"good{i}.mp4", fps=8)
        (root / f"good{i}.txt").write_text(f"a red star moves number {i}\n")
    if bad:
        (root / "broken.mp4").write_bytes(b"this is not a video")
        (root / "broken.txt").write_text("a broken clip")
        write_clip(_frames(12, seed=9), root / "uncaptioned.mp4", fps=8)
        write_clip(_frames(5, seed=8), root / "short.mp4", fps=8)
        (root / "short.txt").write_text("a short clip")
    return root


def test_pairs_layout_reports_bad_clips_by_name(tmp_path):
    folder = _pairs_folder(tmp_path / "data")
    training = scan_folder(folder)
    assert training.layout == "pairs"
    reported: list[str] = []
    loaded = {source.name: clip for source, clip in iter_training_clips(training, 48, 32, 9, reported.append)}
    assert sorted(loaded) == ["good0.mp4", "good1.mp4", "good2.mp4"]
    assert all(clip.shape == (9, 32, 48, 3) and clip.dtype == np.uint8 for clip in loaded.values())
    problems = " | ".join(training.problems)
    assert "uncaptioned.mp4: missing caption" in problems
    assert "broken.mp4: unreadable video" in problems
    assert "short.mp4: too short (5 frames, the model needs 9)" in problems
    assert sorted(reported) == sorted(p for p in training.problems if not p.startswith("uncaptioned"))


def test_cogvideo_layout(tmp_path):
    folder = tmp_path / "cog"
    (folder / "videos").mkdir(parents=True)
    for i in range(2):
        write_clip(_frames(10, seed=i, size=(40, 60)), folder / "videos" / f"{i:05d}.mp4", fps=8)
    (folder / "videos.txt").write_text("videos/00000.mp4\nvideos/00001.mp4\nvideos/missing.mp4\nvideos/00000.mp4\n")
    (folder / "prompts.txt").write_text("a red star rises\na red star falls\na lost clip\n")
    training = scan_folder(folder)
    assert training.layout == "cogvideo"
    assert [(c.name, c.caption) for c in training.clips] == [("videos/00000.mp4", "a red star rises"),
                                                              ("videos/00001.mp4", "a red star falls")]
    assert any(p.startswith("videos/missing.mp4: file not found") for p in training.problems)
    assert any(p.startswith("videos/00000.mp4: missing caption (line 4") for p in training.problems)
    clips = [clip for _, clip in iter_training_clips(training, 48, 32, 9, lambda msg: None)]
    assert [c.shape for c in clips] == [(9, 32, 48, 3)] * 2  # portrait clip centre-cropped to landscape


def test_nothing_usable_is_refused(tmp_path, tiny_model_dirs):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"junk")
    (folder / "broken.txt").write_text("a caption")
    write_clip(_frames(4), folder / "short.mp4", fps=8)
    (folder / "short.txt").write_text("a caption")
    with pytest.raises(DataError) as exc:
        train_lora(folder, tmp_path / "out", str(tiny_model_dirs["t2v"]), LoraRecipe(steps=1), log=lambda m: None,
                   show_progress=False)
    assert "no usable clips" in str(exc.value)
    assert "broken.mp4: unreadable video" in str(exc.value) and "short.mp4: too short" in str(exc.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no clips"):
        scan_folder(empty)
    with pytest.raises(DataError, match="does not exist"):
        scan_folder(tmp_path / "nowhere")


def test_bad_settings_name_the_field():
    with pytest.raises(TrainingError, match="^rank: "):
        LoraRecipe(rank=0).check()
    with pytest.raises(TrainingError, match="^lr: "):
        LoraRecipe(lr=0).check()


RECIPE = dict(rank=4, steps=4, lr=2e-2, batch=2, checkpoint_every=2, seed=3)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return _pairs_folder(tmp_path_factory.mktemp("lora-data"), good=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, tiny_model_dirs):
    out = tmp_path_factory.mktemp("lora-out")
    logs: list[str] = []
    result = train_lora(data_dir, out, str(tiny_model_dirs["t2v"]), LoraRecipe(**RECIPE), log=logs.append,
                        show_progress=False)
    return result, logs


def _generate(pipe) -> torch.Tensor:
    return pipe("a red star moves", num_inference_steps=2, height=32, width=48, num_frames=9, guidance_scale=1.0,
                generator=torch.Generator().manual_seed(0), output_type="latent").frames


def test_training_writes_a_lora_that_plain_diffusers_loads(trained, tiny_model_dirs):
    from diffusers import CogVideoXPipeline

    result, logs = trained
    assert result.steps == 4 and result.clips == 3
    assert {p.split(":")[0] for p in result.problems} == {"broken.mp4", "uncaptioned.mp4", "short.mp4"}
    assert (result.path / LORA_FILE).exists()
    assert result.validation and result.validation[-1].exists()  # the final validation clip (MP4)

    pipe = CogVideoXPipeline.from_pretrained(tiny_model_dirs["t2v"])
    pipe.set_progress_bar_config(disable=True)
    base = _generate(pipe)
    pipe.load_lora_weights(result.path, adapter_name="star")
    tuned = _generate(pipe)
    assert (tuned - base).abs().max() > 1e-3  # the LoRA changes the output
    pipe.set_adapters(["star"], adapter_weights=[0.0])
    assert torch.allclose(_generate(pipe), base, atol=1e-6)  # scale 0 is the base model


def test_apply_and_clear_lora_helpers(trained, tiny_model_dirs, tmp_path, monkeypatch):
    from shotsmith.models.loader import load_pipeline
    from shotsmith.models.registry import resolve

    result, _ = trained
    model = str(tiny_model_dirs["t2v"])
    pipe = load_pipeline(resolve(model), "cpu")
    base = _generate(pipe)
    ref = apply_lora(pipe, str(result.path), 1.0, model=model)
    tuned = _generate(pipe)
    assert (tuned - base).abs().max() > 1e-3
    apply_lora(pipe, str(result.path), 0.0, model=model)
    assert torch.allclose(_generate(pipe), base, atol=1e-6)
    clear_lora(pipe)
    assert torch.allclose(_generate(pipe), base, atol=1e-6)
    assert ref.info["steps"] == 4 and ref.info["rank"] == 4

    # named LoRAs live in SHOTSMITH_LORAS; bad references name the field
    monkeypatch.setenv("SHOTSMITH_LORAS", str(tmp_path / "loras"))
    (tmp_path / "loras" / "stars").mkdir(parents=True)
    (tmp_path / "loras" / "stars" / LORA_FILE).write_bytes((result.path / LORA_FILE).read_bytes())
    assert list_loras() == ["stars"]
    assert resolve_lora("stars").file == tmp_path / "loras" / "stars" / LORA_FILE
    with pytest.raises(LoraError, match=r"^lora: no LoRA named 'nope'.*known: stars"):
        resolve_lora("nope")
    with pytest.raises(LoraError, match="^lora: .* does not exist"):
        resolve_lora(str(tmp_path / "missing"))
    with pytest.raises(LoraError, match=f"^lora: .* was trained on {model}, not cogvideox-2b"):
        resolve_lora(str(result.path), model="cogvideox-2b")
    with pytest.raises(LoraError, match="^lora_scale: "):
        apply_lora(pipe, str(result.path), 10.0)


def test_resume_continues_from_the_checkpoint(trained, data_dir, tiny_model_dirs, tmp_path):
    from safetensors.torch import load_file

    straight, _ = trained
    out = tmp_path / "resumed"

    def interrupt_at_3(step: int, loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(data_dir, out, str(tiny_model_dirs["t2v"]), LoraRecipe(**RECIPE), log=lambda m: None,
                   show_progress=False, on_step=interrupt_at_3)
    assert not (out / LORA_FILE).exists()
    logs: list[str] = []
    steps_seen: list[int] = []
    result = train_lora(data_dir, out, str(tiny_model_dirs["t2v"]), LoraRecipe(**RECIPE), log=logs.append,
                        show_progress=False, on_step=lambda step, loss: steps_seen.append(step))
    assert "resumed from checkpoint at step 3" in logs
    assert not any(line.startswith("encoding") for line in logs)  # latents and captions came from the cache
    assert steps_seen == [4] and result.steps == 4
    a, b = load_file(straight.path / LORA_FILE), load_file(out / LORA_FILE)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # same as the uninterrupted run

    with pytest.raises(TrainingError, match="^rank: the checkpoint .* was made with rank 4, not 8"):
        train_lora(data_dir, out, str(tiny_model_dirs["t2v"]), LoraRecipe(**{**RECIPE, "rank": 8}),
                   log=lambda m: None, show_progress=False)


def test_detector_reads_the_novel_vocabulary():
    """Pink and star (the LoRA demo's new concept) are read from clean renders; captions parse."""
    from shotsmith.eval.adherence import aggregate, score, slots_from_caption
    from shotsmith.eval.detector import detect

    rng = random.Random(11)
    results = []
    for i in range(30):
        colour = "pink" if i % 3 == 0 else rng.choice(list(world.COLOURS))
        shape = "star" if i % 3 != 2 else rng.choice(world.SHAPES)
        scene = world.novel_scene(rng, colour=colour, shape=shape)
        results.append(score(scene.slots(), detect(world.render(scene, frames=13))))
    agg = aggregate(results)
    assert agg["per_slot"]["shape"] >= 95 and agg["per_slot"]["colour"] >= 95, agg
    assert slots_from_caption("On a starless night, a fuchsia five-pointed star glides rightwards")["objects"] == [
        {"colour": "pink", "shape": "star", "motion": "right"}]
    with pytest.raises(ValueError, match="^shape: 'hexagon'"):
        world.novel_scene(rng, shape="hexagon")


# A request names a LoRA: engine, CLI and API ------------------------------------------------------

def _render(engine, model: str, **extra) -> np.ndarray:
    from shotsmith.spec import build_spec

    spec = build_spec(prompt="a red star moves", model=model, seed=3, steps=2, guidance=1.0, enhance=False,
                      native_width=48, native_height=32, frames=9, **extra)
    return engine.render(spec).candidates[0].frames


def test_a_request_with_a_lora_changes_the_clip_and_the_next_one_without_is_the_base(trained, tiny_model_dirs):
    from shotsmith.engine import Engine

    result, _ = trained
    engine, model = Engine(device="cpu"), str(tiny_model_dirs["t2v"])
    base = _render(engine, model)
    tuned = _render(engine, model, lora=str(result.path))
    assert np.abs(tuned.astype(int) - base.astype(int)).max() > 0  # the adapter is used
    assert np.array_equal(_render(engine, model, lora=str(result.path), lora_scale=0.0), base)
    assert np.array_equal(_render(engine, model), base)  # the shared pipeline is back to the base model


def test_bad_lora_requests_name_the_field(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from shotsmith.cli import app
    from shotsmith.spec import SpecError, build_spec

    monkeypatch.setenv("SHOTSMITH_LORAS", str(tmp_path / "loras"))
    spec = build_spec(prompt="x", lora="nope")  # a pure data check; the LoRA folder is read by check_inputs
    with pytest.raises(SpecError, match="^lora: no LoRA named 'nope'"):
        spec.check_inputs()
    with pytest.raises(SpecError, match="^lora_scale"):
        build_spec(prompt="x", lora_scale=9)
    run = CliRunner().invoke(app, ["generate", "a ball", "--lora", str(tmp_path / "missing"), "--no-enhance"])
    assert run.exit_code == 2 and "lora:" in run.output and "does not exist" in run.output


def test_the_api_lists_loras_and_takes_names_not_paths(trained, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from shotsmith.api.app import create_app
    from shotsmith.settings import Settings
    from shotsmith.jobs import LocalBackend

    result, _ = trained
    loras = tmp_path / "loras"
    (loras / "stars").mkdir(parents=True)
    (loras / "stars" / LORA_FILE).write_bytes((result.path / LORA_FILE).read_bytes())
    settings = Settings(home=tmp_path / "home", loras_dir=loras, worker=False)
    app = create_app(settings, backend=LocalBackend(settings.home, run_worker=False))
    with TestClient(app) as http:
        assert [x["name"] for x in http.get("/api/v1/loras").json()] == ["stars"]
        assert http.get("/api/v1/studio/config").json()["loras"] == ["stars"]
        bad = http.post("/api/v1/jobs", json={"prompt": "a star", "lora": str(result.path)})
        assert bad.status_code == 400 and "not a path" in bad.json()["error"]["message"]
        unknown = http.post("/v1/videos", json={"prompt": "a star", "lora": "nope"})
        assert unknown.status_code == 400 and "unknown LoRA 'nope' (known: stars)" in unknown.json()["error"]["message"]
        ok = http.post("/api/v1/jobs", json={"prompt": "a star", "lora": "stars", "lora_scale": 0.5})
        assert ok.status_code == 200 and ok.json()["spec"]["lora"] == "stars"
        assert ok.json()["spec"]["lora_scale"] == 0.5
