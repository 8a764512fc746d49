"""`shotsmith train lora` on the families beyond CogVideoX's text-to-video: LTX-2 (the picture's
stream; the sound branch left as it was), Wan image-to-video (with and without its CLIP image
encoder) and LTX-Video image-to-video, each on a tiny random-weight folder. The LoRA it writes
loads into the family's own pipeline through the engine and changes the clip (seed fixed); scale
0, and the next request without it, give the base model's frames back. Families and layouts
diffusers 0.42 cannot load a LoRA into, or whose training step is not written, are refused
naming `model` before anything trains."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from PIL import Image

from shotsmith.engine import Engine
from shotsmith.spec import build_spec
from shotsmith.train.lora import LoraRecipe, TrainingError, train_lora

RECIPE = dict(rank=4, steps=3, lr=5e-2, batch=1, warmup=1)


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two captioned clips of a red star (the shapes world), 12 frames at 80x60."""
    from shotsmith.train import world
    from shotsmith.train.clips import write_clip

    folder = tmp_path_factory.mktemp("lora-data")
    for i in range(2):
        scene = world.novel_scene(random.Random(i), colour="red", shape="star")
        write_clip(world.render(scene, frames=12, width=80, height=60), folder / f"star{i}.mp4", fps=16)
        (folder / f"star{i}.txt").write_text(f"a red star moves, take {i}\n")
    return folder


def _train(data, out, model):
    result = train_lora(data, out, model, LoraRecipe(**RECIPE), log=lambda m: None, show_progress=False)
    assert result.steps == 3 and result.clips == 2 and (out / "pytorch_lora_weights.safetensors").exists()
    assert result.validation and result.validation[-1].exists()
    return result


def _changes_the_clip_and_goes_away(engine, model, lora, **kw):
    def render(**extra):
        spec = build_spec(prompt="a red star moves", model=model, steps=2, guidance=1.0, seed=8, **kw, **extra)
        return engine.render(spec).candidates[0]

    base = render()
    tuned = render(lora=str(lora))
    assert np.abs(tuned.frames.astype(int) - base.frames.astype(int)).max() > 0  # the adapter is used
    assert np.array_equal(render(lora=str(lora), lora_scale=0.0).frames, base.frames)
    assert np.array_equal(render().frames, base.frames)  # the shared pipeline is back to the base model
    return base, tuned


def _adapter_keys(folder) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "pytorch_lora_weights.safetensors"), "pt") as f:
        return list(f.keys())


@pytest.mark.slow
def test_an_ltx2_lora_trains_the_picture_and_loads_into_ltx2(engine, data, tiny_ltx2_dirs, tmp_path):
    model = str(tiny_ltx2_dirs["t2v"])
    result = _train(data, tmp_path / "lora", model)
    info = json.loads((result.path / "lora.json").read_text())
    assert info["model"] == model and all(m.startswith(("attn1.", "attn2.")) for m in info["target_modules"])
    keys = _adapter_keys(result.path)
    # the picture's own attention only: the sound branch and the cross-modal attention are untouched
    assert keys and all(".attn1." in k or ".attn2." in k for k in keys) and not any("audio" in k for k in keys)
    base, tuned = _changes_the_clip_and_goes_away(engine, model, result.path, frames=9)
    assert tuned.audio is not None and tuned.audio.shape == base.audio.shape  # still a clip with sound


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["i2v", "i2v-clip"])
def test_a_wan_image_to_video_lora_loads_and_changes_the_clip(engine, data, tiny_wan_dirs, tmp_path, folder):
    model = str(tiny_wan_dirs[folder])
    result = _train(data, tmp_path / "lora", model)
    assert json.loads((result.path / "lora.json").read_text())["task"] == "i2v"
    first = tmp_path / "first.png"
    Image.new("RGB", (64, 48), (210, 40, 40)).save(first)
    _changes_the_clip_and_goes_away(engine, model, result.path, image=str(first), frames=5)


@pytest.mark.slow
def test_an_ltx_video_image_to_video_lora_loads_and_changes_the_clip(engine, data, tiny_ltx_dirs, tmp_path):
    # the tiny LTX folder as an image-to-video folder: the same five modules, its index naming the I2V pipeline
    model = tmp_path / "tiny-ltx-i2v"
    shutil.copytree(tiny_ltx_dirs["t2v"], model)
    index = json.loads((model / "model_index.json").read_text())
    (model / "model_index.json").write_text(json.dumps({**index, "_class_name": "LTXImageToVideoPipeline"}))
    result = _train(data, tmp_path / "lora", str(model))
    assert json.loads((result.path / "lora.json").read_text())["task"] == "i2v"
    first = tmp_path / "first.png"
    Image.new("RGB", (64, 64), (210, 40, 40)).save(first)
    _changes_the_clip_and_goes_away(engine, str(model), result.path, image=str(first), frames=9)


def test_hunyuan_is_refused_naming_the_model_before_loading(tiny_hunyuan_dirs, tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(TrainingError, match="model: diffusers loads no LoRA into HunyuanVideo 1.5 models"):
        train_lora(tmp_path / "data", tmp_path / "out", str(tiny_hunyuan_dirs["t2v"]), LoraRecipe(steps=1),
                   log=lambda m: None, show_progress=False)


def test_ltx2_image_to_video_is_refused_naming_the_model(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(TrainingError, match="model: LoRA training on LTX-2 runs on its text-to-video model"):
        train_lora(tmp_path / "data", tmp_path / "out", "ltx-2-i2v", LoraRecipe(steps=1), log=lambda m: None,
                   show_progress=False)


def test_wan_two_experts_are_refused_naming_the_model(data, tiny_wan_dirs, tmp_path):
    with pytest.raises(TrainingError, match="model: .* switches between two transformers"):
        train_lora(data, tmp_path / "out", str(tiny_wan_dirs["t2v-a14b"]), LoraRecipe(steps=1), log=lambda m: None,
                   show_progress=False)
