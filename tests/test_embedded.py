"""The shipped embedded model: plain diffusers loads it, and its clips show what the prompt says."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shotsmith.eval.detector import detect
from shotsmith.models import embedded as emb
from shotsmith.post import probe_video


def test_shipped_files_are_small():
    total = sum(f.stat().st_size for f in emb.WEIGHTS_DIR.rglob("*") if f.is_file())
    assert total < 40 * 2**20, f"shipped weights are {total / 2**20:.1f} MiB"
    for name in (emb.T2V_NAME, emb.I2V_NAME):
        assert (emb.WEIGHTS_DIR / name / "model_index.json").exists()


def _plain_text_encoder(folder: Path):
    """The text encoder a folder names, loaded by transformers alone: shotsmith only says where
    its package put the files (mpnet's are joined from its split zip on first use)."""
    import transformers

    name = json.loads((folder / "shotsmith_recipe.json").read_text())["recipe"].get("text_encoder", "minilm")
    return getattr(transformers, emb.TEXT_ENCODERS[name].model_class).from_pretrained(emb.text_encoder_dir(name))


@pytest.mark.slow  # the real embedded model in plain diffusers (~25 s)
def test_plain_diffusers_loads_and_generates():
    # No shotsmith code in the loading path: diffusers + transformers + the encoder's package.
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline
    from PIL import Image

    t2v_folder, i2v_folder = emb.WEIGHTS_DIR / "cogvideox-shapes", emb.WEIGHTS_DIR / "cogvideox-shapes-i2v"
    pipe = CogVideoXPipeline.from_pretrained(t2v_folder, text_encoder=_plain_text_encoder(t2v_folder))
    # The caption window the transformer was trained with (48 tokens for the v2 model, 226 before).
    tokens = pipe.transformer.config.max_text_seq_length
    video = pipe("a yellow square moves up on a gray studio background", height=64, width=96, num_frames=25,
                 num_inference_steps=4, max_sequence_length=tokens, generator=torch.Generator().manual_seed(0),
                 output_type="np").frames[0]
    assert video.shape == (25, 64, 96, 3)
    i2v = CogVideoXImageToVideoPipeline.from_pretrained(i2v_folder, text_encoder=_plain_text_encoder(i2v_folder))
    first = Image.fromarray((video[0] * 255).astype(np.uint8))
    clip = i2v(image=first, prompt="it moves up", height=64, width=96, num_frames=25, num_inference_steps=4,
               max_sequence_length=i2v.transformer.config.max_text_seq_length, output_type="np").frames[0]
    assert clip.shape == (25, 64, 96, 3)


def _centroid_x(frames: np.ndarray, rgb) -> list[float]:
    dist = np.abs(frames.astype(int) - np.array(rgb)).sum(-1)
    xs = []
    for mask in dist < 90:
        cols = np.nonzero(mask)[1]
        xs.append(cols.mean() / mask.shape[1] if len(cols) else np.nan)
    return xs


@pytest.fixture(scope="module")
def readme_clip(tmp_path_factory) -> Path:
    """README command 1, as a user runs it (a fresh process, default settings)."""
    folder = tmp_path_factory.mktemp("readme")
    proc = subprocess.run([sys.executable, "-m", "shotsmith.cli", "generate",
                           "a red ball rolls to the right on green grass", "--out", "clip.mp4", "--seed", "1"],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return folder / "clip.mp4"


@pytest.mark.slow  # the README's product clip from a fresh process (~35 s)
def test_the_readme_command_makes_the_product_clip(readme_clip):
    """A 1440x960, ~6 s, >= 24 fps H.264 clip with its seed in the sidecar."""
    probe = probe_video(readme_clip)
    assert (probe["codec"], probe["pix_fmt"], probe["width"], probe["height"]) == ("h264", "yuv420p", 1440, 960)
    assert abs(probe["duration"] - 6.0) <= 0.3 and probe["fps"] >= 24
    sidecar = json.loads(readme_clip.with_suffix(".json").read_text())
    assert sidecar["metadata"]["seed"] == 1
    assert "red ball rolls to the right on green grass" in sidecar["metadata"]["enhanced_prompt"]


@pytest.mark.slow  # uses the README clip
def test_the_readme_clip_shows_a_red_ball_moving_right_on_grass(readme_clip):
    from shotsmith.post import decode_frames

    frames = decode_frames(readme_clip)
    detection = detect(frames)
    assert detection.background == "grass"
    assert [o.colour for o in detection.objects] == ["red"]
    xs = [x for x in _centroid_x(frames[:, ::8, ::8], (220, 40, 40)) if not np.isnan(x)]
    assert xs[-1] - xs[0] > 0.25  # moved right by over a quarter of the width


@pytest.mark.slow  # the real I2V model (~20 s)
def test_image_to_video_starts_on_the_given_image(tmp_path):
    """The embedded I2V model's first frame is the image, as well as the VAE can draw it."""
    import random

    from PIL import Image

    from shotsmith.engine import Engine
    from shotsmith.eval.shapes_eval import psnr
    from shotsmith.spec import build_spec
    from shotsmith.train import world

    slots = {"background": "sand", "objects": [{"colour": "blue", "shape": "square", "motion": "left"}]}
    scene = world.scene_from_slots(slots, random.Random(5))
    first = world.render(scene)[0]
    image = tmp_path / "first.png"
    Image.fromarray(first).save(image)
    engine = Engine()
    spec = build_spec(prompt="a blue square slides left on sand", image=str(image), seed=9, steps=8)
    assert spec.entry().first_frame_lock
    frames = engine.render(spec).candidates[0].frames
    assert frames.shape == (25, 64, 96, 3)
    # what the model's own VAE gives back for that image alone: the best any sampler can do
    pipe = engine.pipeline(spec.entry())
    with torch.no_grad():
        pixels = pipe.video_processor.preprocess(Image.fromarray(first), height=64, width=96).unsqueeze(2)
        roundtrip = pipe.vae.decode(pipe.vae.encode(pixels).latent_dist.mean).sample
    roundtrip = ((roundtrip[0, :, 0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert psnr(frames[0], first) >= 25.0
    assert psnr(frames[0], first) >= psnr(roundtrip, first) - 0.5
