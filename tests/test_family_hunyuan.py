"""HunyuanVideo 1.5 through shotsmith: a tiny random-weight pipeline (its own config classes:
Qwen2.5-VL and ByT5 text encoders, the 16x/4x VAE) recognised from its folder, run by the
engine (its pipeline has no step callback: progress and cancel go through the scheduler's
steps), the service and the three surfaces, and refused by its rules before anything loads."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from shotsmith.engine import Cancelled, Engine
from shotsmith.models.registry import ENTRIES, resolve
from shotsmith.post import probe_video
from shotsmith.service import Studio
from shotsmith.spec import SpecError, build_spec

OUT = dict(width=192, height=128, fps=24, interpolation="none", enhance=False)
NAMES = ["hunyuanvideo1.5-480p", "hunyuanvideo1.5-480p-i2v", "hunyuanvideo1.5-720p", "hunyuanvideo1.5-720p-i2v"]


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


def _spec(model, **kw):
    return build_spec(**{"prompt": "a red ball rolls to the right", "model": str(model), "steps": 2,
                         "guidance": 1.0, **kw})


SMALL = dict(frames=5, native_width=32, native_height=32)  # the quickest clip the rules allow here


def test_registry_has_the_hunyuanvideo_15_checkpoints():
    for name in NAMES:
        entry = ENTRIES[name]
        assert entry.family == "hunyuanvideo15" and entry.hub_id.startswith("hunyuanvideo-community/HunyuanVideo-1.5-")
        assert (entry.frame_step, entry.size_multiple, entry.fps) == (4, 16, 24) and "lora" not in entry.capabilities()
    assert ENTRIES["hunyuanvideo1.5-720p"].width == 1280


@pytest.mark.parametrize("values, field, words", [
    (dict(frames=24), "frames", "4k+1"),
    (dict(frames=125), "frames", "at most 121"),
    (dict(native_width=856), "native_width", "a multiple of 16"),  # the spec's own rule, before the family's
    (dict(lora="some-lora"), "lora", "takes no LoRA"),
    (dict(audio=True), "audio", "makes silent clips"),
])
def test_rules_refuse_what_the_model_cannot_do(values, field, words):
    with pytest.raises(SpecError) as err:
        build_spec(prompt="a boat", model="hunyuanvideo1.5-480p", **values)
    assert err.value.field == field and words in str(err.value)


def test_the_folder_is_recognised_and_renders_by_seed(engine, tiny_hunyuan_dirs):
    entry = resolve(str(tiny_hunyuan_dirs["t2v"]))
    assert (entry.family, entry.task, entry.frame_step, entry.size_multiple) == ("hunyuanvideo15", "t2v", 4, 16)
    seen = []
    first = engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=7, **SMALL), on_progress=seen.append)
    again = engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=7, **SMALL))
    other = engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=8, **SMALL))
    video = first.candidates[0].frames
    assert video.shape == (5, 32, 32, 3) and video.dtype == np.uint8
    assert np.array_equal(video, again.candidates[0].frames)
    assert not np.array_equal(video, other.candidates[0].frames)
    assert [p.step for p in seen if p.stage == "denoise"] == [1, 2]  # counted on the scheduler


@pytest.mark.slow
def test_guidance_reaches_the_pipelines_guider(engine, tiny_hunyuan_dirs):
    plain = engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=2, **SMALL)).candidates[0].frames
    guided = engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=2, guidance=5.0, **SMALL)).candidates[0].frames
    assert not np.array_equal(plain, guided)
    assert np.array_equal(engine.render(_spec(tiny_hunyuan_dirs["t2v"], seed=2, **SMALL)).candidates[0].frames, plain)


def test_cancel_stops_between_steps(engine, tiny_hunyuan_dirs):
    seen = []
    with pytest.raises(Cancelled, match="step 3 of 6"):
        engine.render(_spec(tiny_hunyuan_dirs["t2v"], steps=6, **SMALL), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 2)


def test_the_service_writes_a_clip_at_the_asked_size_and_fps(engine, tiny_hunyuan_dirs, tmp_path):
    out = tmp_path / "hy.mp4"
    Studio(engine).generate(_spec(tiny_hunyuan_dirs["t2v"], seed=3, **SMALL, **OUT), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 5, 24)


@pytest.mark.slow
def test_shotsmith_generate_and_the_openai_sdk_make_a_clip(tiny_hunyuan_dirs, tmp_path):
    import openai
    from api_server import KEY_A, decode_video, start_server
    from typer.testing import CliRunner

    from shotsmith.cli import app

    out = tmp_path / "cli.mp4"
    result = CliRunner().invoke(app, ["generate", "a red ball rolls", "--model", str(tiny_hunyuan_dirs["t2v"]),
                                      "--steps", "2", "--guidance", "1", "--seed", "4", "--size", "192x128",
                                      "--fps", "24", "--interpolation", "none", "--no-enhance", "--out", str(out),
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert probe_video(out)["frames"] == 9

    models = tmp_path / "models"
    shutil.copytree(tiny_hunyuan_dirs["t2v"], models / "hunyuanvideo1.5-480p")
    server = start_server(tmp_path / "home", env={"SHOTSMITH_MODELS": str(models)})
    try:
        client = openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)
        # the registry's rules: 848x480 at 24 fps; 0.2 s is the nearest 4k+1 count, 5 frames
        video = client.videos.create_and_poll(prompt="a boat", model="hunyuanvideo1.5-480p", size="192x128",
                                              seconds="0.2", poll_interval_ms=250, extra_body={
                                                  "steps": 1, "guidance": 1.0, "fps": 24, "interpolation": "none",
                                                  "enhance": False, "seed": 3})
        assert video.status == "completed", video
        clip = decode_video(client.videos.download_content(video.id, variant="video").read())
        assert (clip["frames"], clip["width"], clip["height"]) == (5, 192, 128)
    finally:
        server.stop()


# Image-to-video ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("hy-images")
    red, blue = root / "red.png", root / "blue.png"
    Image.new("RGB", (64, 48), (210, 40, 40)).save(red)
    Image.new("RGB", (96, 48), (40, 40, 210)).save(blue)  # another aspect: cropped to the asked one
    return red, blue


def test_image_to_video_through_its_siglip_encoder_at_the_asked_size(engine, tiny_hunyuan_dirs, images):
    folder = tiny_hunyuan_dirs["i2v"]
    entry = resolve(str(folder))
    assert (entry.family, entry.task) == ("hunyuanvideo15", "i2v")
    pipe = engine.pipeline(entry)
    encoded, seen = [], []
    hook = pipe.image_encoder.register_forward_hook(lambda *_: encoded.append(1))
    try:
        red = engine.render(_spec(folder, seed=3, frames=5, image=str(images[0])), on_progress=seen.append)
    finally:
        hook.remove()
    assert red.candidates[0].frames.shape == (5, 48, 64, 3) and encoded == [1]
    assert [p.step for p in seen if p.stage == "denoise"] == [1, 2]
    again = engine.render(_spec(folder, seed=3, frames=5, image=str(images[0]))).candidates[0].frames
    blue = engine.render(_spec(folder, seed=3, frames=5, image=str(images[1]))).candidates[0].frames
    small = engine.render(_spec(folder, seed=3, image=str(images[0]), **SMALL)).candidates[0].frames
    assert np.array_equal(red.candidates[0].frames, again) and not np.array_equal(again, blue)
    assert blue.shape == (5, 48, 64, 3) and small.shape == (5, 32, 32, 3)  # the asked size, whatever the bucket


def test_the_i2v_registry_entry_writes_a_clip_and_cancels(engine, tiny_hunyuan_dirs, images, tmp_path, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(tiny_hunyuan_dirs["i2v"], models / "hunyuanvideo1.5-480p-i2v")
    monkeypatch.setenv("SHOTSMITH_MODELS", str(models))
    spec = dict(prompt="the ball rolls", model="hunyuanvideo1.5-480p-i2v", image=str(images[0]), guidance=1.0,
                frames=5, native_width=64, native_height=48)
    out = tmp_path / "hy-i2v.mp4"
    Studio(engine).generate(build_spec(**spec, steps=2, seed=2, **OUT), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 5, 24)
    seen = []
    with pytest.raises(Cancelled, match="step 3 of 6"):
        engine.render(build_spec(**spec, steps=6), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 2)
