"""Wan 2.x through shotsmith: tiny random-weight Wan pipelines (Wan's own config classes,
saved with save_pretrained) recognised from their folders, run by the engine, the service,
a queue worker, and refused by Wan's rules before anything loads."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from shotsmith.engine import Cancelled, Engine
from shotsmith.models.registry import ENTRIES, OptionError, UnknownModel, resolve, with_options
from shotsmith.post import probe_video, read_clip_metadata
from shotsmith.service import Studio
from shotsmith.spec import SpecError, build_spec

OUT = dict(width=192, height=128, fps=16, interpolation="none", enhance=False)
WAN_ENTRIES = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-i2v-14b-720p",
               "wan2.1-flf2v-14b", "wan2.2-ti2v-5b", "wan2.2-t2v-a14b", "wan2.2-i2v-a14b"]


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan-images")
    red, blue = root / "red.png", root / "blue.png"
    Image.new("RGB", (64, 48), (210, 40, 40)).save(red)
    Image.new("RGB", (64, 48), (40, 40, 210)).save(blue)
    return red, blue


def _spec(folder, **kw):
    return build_spec(**{"prompt": "a red ball rolls to the right", "model": str(folder), "steps": 2, **kw})


SMALL = dict(frames=5, native_width=32, native_height=32)  # the quickest clip Wan's rules allow here


# Registry and rules (nothing loads) --------------------------------------------------------------

def test_registry_has_the_public_wan_checkpoints_with_their_rules():
    for name in WAN_ENTRIES:
        entry = ENTRIES[name]
        assert entry.family == "wan" and entry.hub_id.startswith("Wan-AI/") and entry.frame_step == 4
        assert entry.allowed_frames(81) and not entry.allowed_frames(80)
    assert ENTRIES["wan2.2-ti2v-5b"].size_multiple == 32 and ENTRIES["wan2.2-ti2v-5b"].fps == 24
    assert [n for n in WAN_ENTRIES if ENTRIES[n].last_frame] == ["wan2.1-flf2v-14b"]
    assert ENTRIES["wan2.1-t2v-1.3b"].can_edit and not ENTRIES["wan2.1-i2v-14b-480p"].can_edit


@pytest.mark.parametrize("values, field, words", [
    (dict(model="wan2.1-t2v-1.3b", frames=80), "frames", "4k+1"),
    (dict(model="wan2.1-t2v-1.3b", frames=85), "frames", "at most 81"),
    (dict(model="wan2.2-ti2v-5b", native_width=1264), "native_width", "multiples of 32"),
    (dict(model="wan2.1-i2v-14b-480p", image="IMG", last_image="IMG"), "last_image", "cannot hold a last frame"),
    (dict(model="wan2.1-i2v-14b-480p", video="CLIP"), "model", "image-to-video"),
])
def test_wan_rules_refuse_what_the_model_cannot_do(values, field, words, images):
    values = {k: str(images[0]) if v == "IMG" else v for k, v in values.items()}
    with pytest.raises(SpecError) as err:
        build_spec(prompt="a boat", **values)
    assert err.value.field == field and words in str(err.value)


def test_a_last_frame_goes_to_the_flf2v_model(images):
    spec = build_spec(prompt="a boat", model="wan2.1-flf2v-14b", image=str(images[0]), last_image=str(images[1]))
    assert spec.entry().last_frame and spec.native_frames() == 81


def test_memory_options_are_validated():
    entry = ENTRIES["wan2.1-t2v-14b"]
    assert entry.memory["group_offload"] == "block"
    assert with_options(entry, layerwise_fp8=True).memory["layerwise_fp8"] is True
    assert with_options(entry, group_offload="leaf").memory["group_offload"] == "leaf"
    with pytest.raises(OptionError) as err:
        with_options(entry, cpu_offload="model")  # beside group offloading
    assert err.value.field == "group_offload"
    with pytest.raises(OptionError) as err:
        with_options(entry, layerwise_fp8="yes")
    assert err.value.field == "layerwise_fp8"


@pytest.mark.parametrize("name, placed", [("wan2.1-t2v-14b", ["group_offload"]),
                                           ("wan2.1-t2v-1.3b", ["enable_model_cpu_offload"])])
def test_a_gpu_load_places_the_weights_once_as_the_memory_options_say(name, placed, monkeypatch):
    """On a GPU a 14B entry's weights stay in CPU memory (group offloading), and a model-offload
    entry is offloaded once: the whole pipeline is never moved onto the GPU first. Recorded on a
    stand-in pipeline (no GPU here); diffusers' own calls are what is recorded."""
    from shotsmith.models import loader

    calls = []

    class Recorder:
        vae = None

        def to(self, device):
            calls.append(f"to:{device}")

        def enable_model_cpu_offload(self):
            calls.append("enable_model_cpu_offload")

        def enable_sequential_cpu_offload(self):
            calls.append("enable_sequential_cpu_offload")

    monkeypatch.setattr(loader, "apply_group_offload", lambda pipe, device, mode: calls.append("group_offload"))
    loader.apply_memory_options(Recorder(), ENTRIES[name], "cuda")
    assert calls == placed


def test_a_folder_of_an_unknown_pipeline_is_refused_naming_model(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(UnknownModel) as err:
        resolve(str(tmp_path))
    assert err.value.field == "model" and "StableDiffusionPipeline" in str(err.value)


# Tiny pipelines ----------------------------------------------------------------------------------

def test_folders_are_recognised_from_model_index(tiny_wan_dirs):
    t2v, i2v = resolve(str(tiny_wan_dirs["t2v"])), resolve(str(tiny_wan_dirs["i2v"]))
    assert (t2v.family, t2v.task, i2v.task) == ("wan", "t2v", "i2v")
    assert (t2v.width, t2v.height, t2v.frames, t2v.fps, t2v.frame_step, t2v.size_multiple) == (64, 48, 9, 16, 4, 16)
    assert i2v.last_frame and not t2v.last_frame and t2v.can_edit


def test_same_seed_same_frames_other_seed_other_frames(engine, tiny_wan_dirs):
    first = engine.render(_spec(tiny_wan_dirs["t2v"], seed=7, candidates=2, **SMALL))
    again = engine.render(_spec(tiny_wan_dirs["t2v"], seed=7, **SMALL))
    video = first.candidates[0].frames
    assert video.shape == (5, 32, 32, 3) and video.dtype == np.uint8
    assert np.array_equal(video, again.candidates[0].frames)
    assert not np.array_equal(video, first.candidates[1].frames)
    assert set(first.candidates[0].timings) == {"denoise", "decode"}


def test_cancel_stops_between_steps(engine, tiny_wan_dirs):
    seen = []
    with pytest.raises(Cancelled, match="step 3 of 6"):  # asked during step 3, stopped after it
        engine.render(_spec(tiny_wan_dirs["t2v"], steps=6, **SMALL), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 2)
    assert [p.step for p in seen if p.stage == "denoise"] == [1, 2]


@pytest.mark.slow
def test_first_and_last_frame(engine, tiny_wan_dirs, images):
    red, blue = images
    result = engine.render(_spec(tiny_wan_dirs["i2v"], seed=3, image=str(red), last_image=str(blue)))
    frames = result.candidates[0].frames
    assert frames.shape == (9, 48, 64, 3)
    alone = engine.render(_spec(tiny_wan_dirs["i2v"], seed=3, image=str(red)))
    assert not np.array_equal(frames, alone.candidates[0].frames)  # the last image reached the pipeline


def test_layerwise_fp8_stores_the_transformer_in_float8_and_still_renders(tiny_wan_dirs):
    import torch

    from shotsmith.models.loader import load_pipeline

    entry = with_options(resolve(str(tiny_wan_dirs["t2v"])), layerwise_fp8=True)
    pipe = load_pipeline(entry, "cpu")
    stored = {p.dtype for name, p in pipe.transformer.named_parameters() if "blocks." in name and "weight" in name}
    assert torch.float8_e4m3fn in stored
    out = pipe(prompt="a ball", height=32, width=32, num_frames=5, num_inference_steps=1, guidance_scale=1.0,
               output_type="np", generator=torch.Generator().manual_seed(0)).frames[0]
    assert out.shape == (5, 32, 32, 3) and np.isfinite(out).all()


def test_service_writes_a_clip_at_the_asked_size_and_fps(engine, tiny_wan_dirs, tmp_path):
    out = tmp_path / "wan.mp4"
    result = Studio(engine).generate(_spec(tiny_wan_dirs["t2v"], seed=5, frames=5, **OUT), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"]) == (192, 128, 5)
    assert abs(probe["fps"] - 16) < 0.01 and abs(probe["duration"] - 5 / 16) < 0.1
    meta = read_clip_metadata(out)
    assert meta["seed"] == 5 and result.seeds == [5]


@pytest.mark.slow
def test_an_edit_runs_on_wans_video_to_video_pipeline(engine, tiny_wan_dirs, tmp_path):
    source = tmp_path / "source.mp4"
    Studio(engine).generate(_spec(tiny_wan_dirs["t2v"], seed=2, **OUT), source)
    out = tmp_path / "edited.mp4"
    result = Studio(engine).generate(_spec(tiny_wan_dirs["t2v"], seed=3, steps=4, video=str(source), strength=0.5,
                                           **OUT).check_inputs(), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"]) == (192, 128, 9)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["metadata"]["edit"]["steps_run"] == 2 and result.seeds == [3]


@pytest.mark.slow
def test_a_queue_worker_runs_a_wan_job_and_cancels_one(engine, tiny_wan_dirs, tmp_path):
    from shotsmith.jobs import LocalBackend

    backend = LocalBackend(tmp_path / "home", studio_factory=lambda: Studio(engine))
    backend.start()
    try:
        done = _wait(backend, backend.submit("alice", _spec(tiny_wan_dirs["t2v"], seed=9, **OUT)).id)
        assert done.status == "completed" and done.seeds == [9], done.error
        clip = backend.file_path(done, done.outputs[0].video)
        assert probe_video(clip)["frames"] == 9
        slow = backend.submit("alice", _spec(tiny_wan_dirs["t2v"], steps=200, **OUT))
        deadline = time.monotonic() + 60
        while backend.get("alice", slow.id).step < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        backend.cancel("alice", slow.id)
        stopped = _wait(backend, slow.id)
        assert stopped.status == "cancelled" and stopped.step < 200
    finally:
        backend.stop()


def _wait(backend, job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = backend.get("alice", job_id)
        if job.status in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"{job_id} still {job.status}")


def test_a_registry_entry_loads_its_local_folder(tiny_wan_dirs, tmp_path, monkeypatch, engine):
    from shotsmith.models.registry import is_available, local_path

    models = tmp_path / "models"
    shutil.copytree(tiny_wan_dirs["t2v"], models / "wan2.1-t2v-1.3b")
    monkeypatch.setenv("SHOTSMITH_MODELS", str(models))
    entry = ENTRIES["wan2.1-t2v-1.3b"]
    assert local_path(entry) == models / "wan2.1-t2v-1.3b" and is_available(entry)
    # the registry's rules (832x480, 16 fps), a short clip of them on the tiny weights
    result = engine.render(build_spec(prompt="a boat", model="wan2.1-t2v-1.3b", steps=1, frames=5, seed=1,
                                      native_width=64, native_height=32))
    assert result.candidates[0].frames.shape == (5, 32, 64, 3)


# The three surfaces (slow: each starts its own engine or server) ----------------------------------

@pytest.mark.slow
def test_shotsmith_generate_makes_a_wan_clip(tiny_wan_dirs, tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    out = tmp_path / "wan.mp4"
    args = ["generate", "a red ball rolls", "--model", str(tiny_wan_dirs["t2v"]), "--steps", "2", "--frames", "5",
            "--seed", "4", "--size", "192x128", "--fps", "16", "--interpolation", "none", "--no-enhance",
            "--out", str(out), "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["clips"][0]["seed"] == 4
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 5, 16)
    again = tmp_path / "again.mp4"
    assert CliRunner().invoke(app, [*args[:-3], "--out", str(again), "--json"]).exit_code == 0
    from shotsmith.post.media import iter_frames

    a = [frame for _, frame in iter_frames(out, range(5))]
    b = [frame for _, frame in iter_frames(again, range(5))]
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b))  # same seed, same frames


@pytest.mark.slow
def test_the_openai_sdk_gets_a_wan_clip_from_a_registry_entry(tiny_wan_dirs, tmp_path):
    import httpx
    import openai
    from api_server import KEY_A, decode_video, start_server

    models = tmp_path / "models"
    shutil.copytree(tiny_wan_dirs["t2v"], models / "wan2.1-t2v-1.3b")
    server = start_server(tmp_path / "home", env={"SHOTSMITH_MODELS": str(models)})
    try:
        client = openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)
        # the registry's rules: 832x480 at 16 fps; 0.3 s is the nearest 4k+1 count, 5 frames
        body = {"steps": 1, "enhance": False, "fps": 16, "interpolation": "none", "seed": 21}
        video = client.videos.create_and_poll(prompt="a boat on a lake", model="wan2.1-t2v-1.3b", size="192x128",
                                              seconds="0.3", poll_interval_ms=250, extra_body=body)
        assert video.status == "completed", video
        clip = decode_video(client.videos.download_content(video.id, variant="video").read())
        assert (clip["frames"], clip["width"], clip["height"]) == (5, 192, 128)
        # Wan's rules answer before anything loads, naming the field
        raw = httpx.post(f"{server.url}/v1/videos", headers={"Authorization": f"Bearer {KEY_A}"},
                         json={"prompt": "a boat", "model": "wan2.1-t2v-1.3b", "seconds": "30"})
        assert raw.status_code == 400 and raw.json()["error"]["param"] == "seconds", raw.text
    finally:
        server.stop()


def test_shotsmith_models_lists_the_wan_family_and_what_each_entry_can_do():
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["wan2.1-flf2v-14b"]["family"] == "wan" and "last_frame" in rows["wan2.1-flf2v-14b"]["can"]
    assert rows["wan2.1-t2v-1.3b"]["can"] == ["t2v", "edit", "lora"]
    assert rows["wan2.2-ti2v-5b"]["frame_rule"] == "4k+1, at most 121"
    assert rows["wan2.1-t2v-14b"]["path"] == "hub:Wan-AI/Wan2.1-T2V-14B-Diffusers"


@pytest.mark.slow
def test_a_lora_trained_on_wan_by_train_lora_loads_and_changes_the_clip(engine, tiny_wan_dirs, tmp_path):
    import random

    from shotsmith.models.lora import LORA_FILE
    from shotsmith.train import world
    from shotsmith.train.clips import write_clip
    from shotsmith.train.lora import LoraRecipe, train_lora

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        scene = world.novel_scene(random.Random(i), colour="red", shape="star")
        write_clip(world.render(scene, frames=12, width=80, height=60), data / f"star{i}.mp4", fps=16)
        (data / f"star{i}.txt").write_text(f"a red star moves, take {i}\n")
    model = str(tiny_wan_dirs["t2v"])
    result = train_lora(data, tmp_path / "lora", model, LoraRecipe(rank=4, steps=3, lr=5e-2, batch=1, warmup=1),
                        log=lambda m: None, show_progress=False)
    assert (result.path / LORA_FILE).exists() and result.steps == 3 and result.clips == 2
    assert json.loads((result.path / "lora.json").read_text())["model"] == model

    def render(**extra):
        return engine.render(_spec(model, seed=8, guidance=1.0, **SMALL, **extra)).candidates[0].frames

    base = render()
    tuned = render(lora=str(result.path))
    assert np.abs(tuned.astype(int) - base.astype(int)).max() > 0  # the adapter is used
    assert np.array_equal(render(lora=str(result.path), lora_scale=0.0), base)
    assert np.array_equal(render(), base)  # the shared pipeline is back to the base model


# Wan 2.1 image-to-video with its CLIP image encoder ----------------------------------------------

def test_wan21_i2v_reads_the_first_frame_through_its_clip_image_encoder(engine, tiny_wan_dirs, images):
    folder = tiny_wan_dirs["i2v-clip"]
    entry = resolve(str(folder))
    assert (entry.family, entry.task) == ("wan", "i2v")
    pipe = engine.pipeline(entry)
    clip_calls, image_context = [], []
    hooks = [pipe.image_encoder.register_forward_hook(lambda *_: clip_calls.append(1)),
             pipe.transformer.register_forward_pre_hook(
                 lambda m, a, kw: image_context.append(kw.get("encoder_hidden_states_image")), with_kwargs=True)]
    try:
        red = engine.render(_spec(folder, seed=3, image=str(images[0]), **SMALL)).candidates[0].frames
    finally:
        for hook in hooks:
            hook.remove()
    assert red.shape == (5, 32, 32, 3)
    assert len(clip_calls) == 1  # the image encoded once, its features read by every step
    assert len(image_context) == 2 * 2 and all(c is not None and c.shape[-1] == 8 for c in image_context)
    again = engine.render(_spec(folder, seed=3, image=str(images[0]), **SMALL)).candidates[0].frames
    blue = engine.render(_spec(folder, seed=3, image=str(images[1]), **SMALL)).candidates[0].frames
    assert np.array_equal(red, again) and not np.array_equal(red, blue)


@pytest.mark.slow
def test_shotsmith_generate_image_makes_a_wan21_i2v_clip(tiny_wan_dirs, images, tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    out = tmp_path / "i2v.mp4"
    result = CliRunner().invoke(app, ["generate", "the ball rolls away", "--image", str(images[0]), "--model",
                                      str(tiny_wan_dirs["i2v-clip"]), "--steps", "2", "--frames", "5", "--seed", "4",
                                      "--size", "192x128", "--fps", "16", "--interpolation", "none", "--no-enhance",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 5, 16)
    assert read_clip_metadata(out)["seed"] == 4


@pytest.mark.slow
def test_the_openai_sdk_gets_a_wan21_i2v_clip_from_an_uploaded_image(tiny_wan_dirs, images, tmp_path):
    import openai
    from api_server import KEY_A, decode_video, start_server

    models = tmp_path / "models"
    shutil.copytree(tiny_wan_dirs["i2v-clip"], models / "wan2.1-i2v-14b-480p")
    server = start_server(tmp_path / "home", env={"SHOTSMITH_MODELS": str(models)})
    try:
        client = openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)
        body = {"steps": 1, "enhance": False, "fps": 16, "interpolation": "none", "seed": 5}
        video = client.videos.create_and_poll(
            prompt="the ball rolls away", model="wan2.1-i2v-14b-480p", size="192x128", seconds="0.3",
            input_reference=("first.png", images[0].read_bytes(), "image/png"), poll_interval_ms=250,
            extra_body=body)
        assert video.status == "completed", video
        clip = decode_video(client.videos.download_content(video.id, variant="video").read())
        assert (clip["frames"], clip["width"], clip["height"]) == (5, 192, 128)
    finally:
        server.stop()


# Wan 2.2 A14B: two experts, switched inside the pipeline ----------------------------------------

def test_wan22_a14b_uses_both_experts_and_renders_a_clip(engine, tiny_wan_dirs, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(tiny_wan_dirs["t2v-a14b"], models / "wan2.2-t2v-a14b")
    monkeypatch.setenv("SHOTSMITH_MODELS", str(models))
    spec = build_spec(prompt="a boat", model="wan2.2-t2v-a14b", steps=6, seed=2, frames=5, native_width=64,
                      native_height=32, guidance=1.0, **OUT)
    pipe = engine.pipeline(spec.entry())
    assert pipe.config.boundary_ratio == 0.875 and pipe.transformer_2 is not None
    calls = {"transformer": 0, "transformer_2": 0}
    hooks = [getattr(pipe, name).register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
             for name in calls]
    out = tmp_path / "a14b.mp4"
    try:
        Studio(engine).generate(spec, out)
    finally:
        for hook in hooks:
            hook.remove()
    # the high-noise expert runs the steps at or above the boundary (t >= 875), the other the rest
    timesteps = pipe.scheduler.timesteps
    high = int((timesteps >= 0.875 * pipe.scheduler.config.num_train_timesteps).sum())
    assert 0 < high < 6 and calls == {"transformer": high, "transformer_2": 6 - high}
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 5, 16)
