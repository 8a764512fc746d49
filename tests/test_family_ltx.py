"""LTX-Video through shotsmith: a tiny random-weight LTX pipeline (LTX's own config classes,
with the real checkpoints' 32x/8x compression) recognised from its folder, run by the engine,
the service, the three surfaces, and refused by LTX's rules before anything loads."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from shotsmith.engine import Cancelled, Engine
from shotsmith.models.registry import ENTRIES, resolve
from shotsmith.post import probe_video
from shotsmith.service import Studio
from shotsmith.spec import SpecError, build_spec

OUT = dict(width=192, height=128, fps=24, interpolation="none", enhance=False)
LTX_ENTRIES = ["ltx-video-0.9.7-distilled", "ltx-video-0.9.7-distilled-i2v"]


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


@pytest.fixture(scope="module")
def i2v_entry(tiny_ltx_dirs, tmp_path_factory):
    """The registry's LTX image-to-video entry pointed at the tiny folder ($SHOTSMITH_MODELS/<name>),
    its spatial upsampler beside it under the hub repository's name."""
    models = tmp_path_factory.mktemp("ltx-models")
    shutil.copytree(tiny_ltx_dirs["t2v"], models / "ltx-video-0.9.7-distilled-i2v")
    shutil.copytree(tiny_ltx_dirs["upsampler"], models / "ltxv-spatial-upscaler-0.9.7")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOTSMITH_MODELS", str(models))
        yield ENTRIES["ltx-video-0.9.7-distilled-i2v"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("ltx-images")
    red, blue = root / "red.png", root / "blue.png"
    Image.new("RGB", (64, 64), (210, 40, 40)).save(red)
    Image.new("RGB", (64, 64), (40, 40, 210)).save(blue)
    return red, blue


def _spec(model, **kw):
    return build_spec(**{"prompt": "a red ball rolls to the right", "model": str(model), "steps": 2, **kw})


def test_registry_has_ltx_video_with_its_rules():
    for name in LTX_ENTRIES:
        entry = ENTRIES[name]
        assert entry.family == "ltx" and entry.hub_id == "Lightricks/LTX-Video-0.9.7-distilled"
        assert (entry.frame_step, entry.size_multiple) == (8, 32)
        assert entry.allowed_frames(121) and not entry.allowed_frames(120)
    assert ENTRIES["ltx-video-0.9.7-distilled-i2v"].last_frame
    assert ENTRIES["ltx-video-0.9.7-distilled"].can_edit
    for name in LTX_ENTRIES:  # the distilled checkpoint renders with its spatial upsampler
        assert ENTRIES[name].upsampler == "Lightricks/ltxv-spatial-upscaler-0.9.7" and ENTRIES[name].upsample


@pytest.mark.parametrize("values, field, words", [
    (dict(frames=12), "frames", "8k+1"),
    (dict(frames=265), "frames", "at most 257"),
    (dict(native_width=720), "native_width", "multiples of 32"),
    (dict(native_height=496), "native_height", "multiples of 32"),
])
def test_ltx_rules_refuse_what_the_model_cannot_do(values, field, words):
    with pytest.raises(SpecError) as err:
        build_spec(prompt="a boat", model="ltx-video-0.9.7-distilled", **values)
    assert err.value.field == field and words in str(err.value)


def test_the_folder_is_recognised_from_model_index(tiny_ltx_dirs):
    entry = resolve(str(tiny_ltx_dirs["t2v"]))
    assert (entry.family, entry.task, entry.frame_step, entry.size_multiple) == ("ltx", "t2v", 8, 32)
    assert (entry.width, entry.height, entry.frames, entry.fps) == (64, 64, 9, 24)
    assert entry.can_edit


def test_same_seed_same_frames_other_seed_other_frames(engine, tiny_ltx_dirs):
    first = engine.render(_spec(tiny_ltx_dirs["t2v"], seed=7, candidates=2))
    again = engine.render(_spec(tiny_ltx_dirs["t2v"], seed=7))
    video = first.candidates[0].frames
    assert video.shape == (9, 64, 64, 3) and video.dtype == np.uint8
    assert np.array_equal(video, again.candidates[0].frames)
    assert not np.array_equal(video, first.candidates[1].frames)


def test_cancel_stops_between_steps(engine, tiny_ltx_dirs):
    seen = []
    with pytest.raises(Cancelled, match="step 3 of 6"):
        engine.render(_spec(tiny_ltx_dirs["t2v"], steps=6), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 2)


def test_guidance_uses_the_negative_prompt_and_its_mask(engine, tiny_ltx_dirs):
    plain = engine.render(_spec(tiny_ltx_dirs["t2v"], seed=2, guidance=1.0)).candidates[0].frames
    guided = engine.render(_spec(tiny_ltx_dirs["t2v"], seed=2, guidance=3.0)).candidates[0].frames
    assert guided.shape == plain.shape and not np.array_equal(plain, guided)


def test_first_and_last_frame_through_the_registry_entry(engine, i2v_entry, images):
    red, blue = images
    small = dict(native_width=64, native_height=64, frames=9, seed=3)
    both = engine.render(_spec(i2v_entry.name, image=str(red), last_image=str(blue), **small)).candidates[0].frames
    first = engine.render(_spec(i2v_entry.name, image=str(red), **small)).candidates[0].frames
    assert both.shape == (9, 64, 64, 3) and not np.array_equal(both, first)


@pytest.mark.slow
def test_an_edit_starts_from_the_source_clip(engine, tiny_ltx_dirs, tmp_path):
    source = tmp_path / "source.mp4"
    Studio(engine).generate(_spec(tiny_ltx_dirs["t2v"], seed=2, **OUT), source)
    out = tmp_path / "edited.mp4"
    Studio(engine).generate(_spec(tiny_ltx_dirs["t2v"], seed=3, steps=4, video=str(source), strength=0.5,
                                  **OUT).check_inputs(), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"]) == (192, 128, 9)
    assert json.loads(out.with_suffix(".json").read_text())["metadata"]["edit"]["steps_run"] == 2


@pytest.mark.slow
def test_shotsmith_generate_makes_an_ltx_clip(tiny_ltx_dirs, tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    out = tmp_path / "ltx.mp4"
    result = CliRunner().invoke(app, ["generate", "a red ball rolls", "--model", str(tiny_ltx_dirs["t2v"]),
                                      "--steps", "2", "--seed", "4", "--size", "192x128", "--fps", "24",
                                      "--interpolation", "none", "--no-enhance", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 9, 24)


@pytest.mark.slow
def test_the_openai_sdk_and_a_queue_worker_make_an_ltx_clip_from_a_registry_entry(tiny_ltx_dirs, tmp_path):
    import httpx
    import openai
    from api_server import KEY_A, decode_video, start_server

    models = tmp_path / "models"
    shutil.copytree(tiny_ltx_dirs["t2v-upsampled"], models / "ltx-video-0.9.7-distilled")
    server = start_server(tmp_path / "home", env={"SHOTSMITH_MODELS": str(models)})
    try:
        client = openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)
        # the registry's rules: 768x512 at 24 fps; 0.3 s is the nearest 8k+1 count, 9 frames
        body = {"steps": 2, "enhance": False, "fps": 24, "interpolation": "none", "seed": 21}
        video = client.videos.create_and_poll(prompt="a boat on a lake", model="ltx-video-0.9.7-distilled",
                                              size="192x128", seconds="0.3", poll_interval_ms=250, extra_body=body)
        assert video.status == "completed", video
        clip = decode_video(client.videos.download_content(video.id, variant="video").read())
        assert (clip["frames"], clip["width"], clip["height"]) == (9, 192, 128)
        raw = httpx.post(f"{server.url}/v1/videos", headers={"Authorization": f"Bearer {KEY_A}"},
                         json={"prompt": "a boat", "model": "ltx-video-0.9.7-distilled", "seconds": "30"})
        assert raw.status_code == 400 and raw.json()["error"]["param"] == "seconds", raw.text
    finally:
        server.stop()


@pytest.mark.slow
def test_a_lora_trained_on_ltx_by_train_lora_loads_and_changes_the_clip(engine, tiny_ltx_dirs, tmp_path):
    import random

    from shotsmith.models.lora import LORA_FILE
    from shotsmith.train import world
    from shotsmith.train.clips import write_clip
    from shotsmith.train.lora import LoraRecipe, train_lora

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        scene = world.novel_scene(random.Random(i), colour="red", shape="star")
        write_clip(world.render(scene, frames=12, width=80, height=80), data / f"star{i}.mp4", fps=24)
        (data / f"star{i}.txt").write_text(f"a red star moves, take {i}\n")
    model = str(tiny_ltx_dirs["t2v"])
    result = train_lora(data, tmp_path / "lora", model, LoraRecipe(rank=4, steps=3, lr=5e-2, batch=1, warmup=1),
                        log=lambda m: None, show_progress=False)
    assert (result.path / LORA_FILE).exists() and result.steps == 3 and result.clips == 2

    def render(**extra):
        return engine.render(_spec(model, seed=8, **extra)).candidates[0].frames

    base = render()
    tuned = render(lora=str(result.path))
    assert np.abs(tuned.astype(int) - base.astype(int)).max() > 0  # the adapter is used
    assert np.array_equal(render(lora=str(result.path), lora_scale=0.0), base)
    assert np.array_equal(render(), base)  # the shared pipeline is back to the base model


# The two-stage recipe with the spatial latent upsampler ------------------------------------------

def _token_counts(pipe):
    """Latent tokens the transformer sees at each call, and the upsampler's input and output shapes."""
    tokens, upsampled = [], []
    hooks = [pipe.transformer.register_forward_pre_hook(
        lambda m, a, kw: tokens.append(kw["hidden_states"].shape[1]), with_kwargs=True),
        pipe._shotsmith_upsampler[1].latent_upsampler.register_forward_hook(
            lambda m, a, out: upsampled.append((tuple(a[0].shape[-2:]), tuple(out.shape[-2:]))))]
    return tokens, upsampled, hooks


def test_the_upsampled_recipe_runs_both_stages_at_their_sizes(engine, tiny_ltx_dirs):
    folder = tiny_ltx_dirs["t2v-upsampled"]
    entry = resolve(str(folder))
    assert entry.upsample and entry.upsampler == str(folder)  # the folder carries its upsampler
    pipe = engine.pipeline(entry)
    tokens, upsampled, hooks = _token_counts(pipe)
    seen = []
    try:
        first = engine.render(_spec(folder, seed=7, steps=3), on_progress=seen.append).candidates[0].frames
    finally:
        for hook in hooks:
            hook.remove()
    # 64x64 asked: the first stage at 2/3 of it rounded down to 32 (32x32: 1x1 latent tokens per latent
    # frame, 2 latent frames), the upsampler doubles the latents, 4 refine steps at 64x64 (2x2 tokens)
    assert tokens == [2] * 3 + [8] * 4 and upsampled == [((1, 1), (2, 2))]
    assert first.shape == (9, 64, 64, 3)
    denoise = [(p.step, p.total) for p in seen if p.stage == "denoise"]
    assert denoise == [(i, 7) for i in range(1, 8)]  # honest progress: both stages' steps
    assert [p.step for p in seen if p.stage == "decode"] == [7]
    again = engine.render(_spec(folder, seed=7, steps=3)).candidates[0].frames
    other = engine.render(_spec(folder, seed=8, steps=3)).candidates[0].frames
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    plain = engine.render(_spec(tiny_ltx_dirs["t2v"], seed=7, steps=3)).candidates[0].frames
    assert not np.array_equal(first, plain)  # the same weights in one stage make another clip


def test_the_vae_decodes_from_the_recipes_decode_timestep(engine, tiny_ltx_dirs):
    pipe = engine.pipeline(resolve(str(tiny_ltx_dirs["t2v"])))
    assert pipe.vae.config.timestep_conditioning
    timesteps = []
    hook = pipe.vae.decoder.register_forward_pre_hook(lambda m, a, kw: timesteps.append(
        (a[1] if len(a) > 1 else kw.get("temb"))), with_kwargs=True)
    try:
        engine.render(_spec(tiny_ltx_dirs["t2v"], seed=1, steps=1))
    finally:
        hook.remove()
    assert len(timesteps) == 1 and timesteps[0] is not None
    assert timesteps[0].flatten().tolist() == pytest.approx([0.05])


@pytest.mark.parametrize("stop_after, stage", [(2, "first"), (5, "refine")])
def test_cancel_works_in_either_stage(engine, tiny_ltx_dirs, stop_after, stage):
    seen = []
    with pytest.raises(Cancelled, match=f"step {stop_after + 1} of 7"):
        engine.render(_spec(tiny_ltx_dirs["t2v-upsampled"], steps=3), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= stop_after)
    assert [p.step for p in seen if p.stage == "denoise"] == list(range(1, stop_after + 1))
    assert not [p for p in seen if p.stage == "decode"]


def test_the_service_writes_an_upsampled_clip_at_the_asked_size_and_fps(engine, tiny_ltx_dirs, tmp_path):
    out = tmp_path / "two-stage.mp4"
    # 96x64 asked: the first stage at 64x32, doubled to 128x64, resized to 96x64, then to the output size
    result = Studio(engine).generate(_spec(tiny_ltx_dirs["t2v-upsampled"], seed=4, steps=2, native_width=96,
                                           native_height=64, **OUT), out)
    probe = probe_video(out)
    assert (probe["width"], probe["height"], probe["frames"], round(probe["fps"])) == (192, 128, 9, 24)
    assert result.seeds == [4]
    meta = json.loads(out.with_suffix(".json").read_text())["metadata"]
    assert (meta["steps"], meta["steps_run"]) == (2, 6)  # the asked steps, then the 4 refine steps


def test_upsample_is_an_option_of_ltx_entries_only(tiny_ltx_dirs):
    from shotsmith.models.registry import OptionError, with_options

    entry = with_options(ENTRIES["ltx-video-0.9.7-distilled"], upsample=False)
    assert not entry.upsample and entry.rules.extra_steps(entry) == 0
    with pytest.raises(OptionError) as err:
        with_options(ENTRIES["wan2.1-t2v-1.3b"], upsampler="some/upsampler", upsample=True)
    assert err.value.field == "upsample" and "LTX-Video" in str(err.value)
    with pytest.raises(OptionError) as err:
        with_options(resolve(str(tiny_ltx_dirs["t2v"])), upsample=True)  # a folder without one
    assert err.value.field == "upsample"


def test_a_missing_upsampler_is_named_with_how_to_get_it(engine, tiny_ltx_dirs, tmp_path, monkeypatch):
    from shotsmith.models.loader import ModelUnavailable

    models = tmp_path / "models"
    shutil.copytree(tiny_ltx_dirs["t2v"], models / "ltx-video-0.9.7-distilled")
    monkeypatch.setenv("SHOTSMITH_MODELS", str(models))
    with pytest.raises(ModelUnavailable, match="spatial upsampler of ltx-video-0.9.7-distilled.*"
                                               "huggingface-cli download Lightricks/ltxv-spatial-upscaler-0.9.7"):
        Engine(device="cpu").render(build_spec(prompt="a boat", model="ltx-video-0.9.7-distilled", steps=1,
                                               frames=9, native_width=64, native_height=64))
