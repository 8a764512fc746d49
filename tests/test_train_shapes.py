"""The training recipe end to end at toy scale: it resumes, and its folders load in plain diffusers."""

import json
import random

import numpy as np
import pytest
import torch

from shotsmith.train import world
from shotsmith.train.shapes import ShapesRecipe, train_shapes


def test_world_renders_what_its_caption_says():
    rng = random.Random(3)
    for _ in range(50):
        scene = world.random_scene(rng, two_objects_share=0.5)
        frames = world.render(scene)
        assert frames.shape == (25, 64, 96, 3) and frames.dtype == np.uint8
        for obj in scene.objects:
            assert (obj.colour, scene.background) not in world.CLASHES
        text = world.cinematic_caption(scene, rng)
        assert any(w in text.lower() for o in scene.objects for w in world.SHAPE_WORDS[o.shape])


def test_recipe_writes_loadable_t2v_and_i2v_folders_and_resumes(tmp_path):
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    from shotsmith.models.embedded import load_text_encoder

    recipe = ShapesRecipe(scenes=8, vae_steps=2, decoder_steps=2, t2v_steps=2, i2v_steps=2, batch=2)
    logs: list[str] = []
    paths = train_shapes(tmp_path, recipe, log=logs.append)
    assert any("vae done" in line for line in logs)
    for phase in ("vae", "data", "vae_refined", "transformer", "transformer_i2v"):
        assert (tmp_path / "checkpoints" / f"{phase}.done").exists()
    _, text_encoder = load_text_encoder()
    t2v = CogVideoXPipeline.from_pretrained(paths["cogvideox-shapes"], text_encoder=text_encoder)
    i2v = CogVideoXImageToVideoPipeline.from_pretrained(paths["cogvideox-shapes-i2v"], text_encoder=text_encoder)
    assert t2v.transformer.config.in_channels == 8 and i2v.transformer.config.in_channels == 16
    assert t2v.transformer.config.use_rotary_positional_embeddings
    # stored in float16 (half the size), loaded by plain diffusers as float32
    from safetensors import safe_open

    for folder in paths.values():
        with safe_open(folder / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as f:
            assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
    assert t2v.transformer.dtype == i2v.transformer.dtype == torch.float32
    # A second run finds every phase done and only re-exports.
    logs.clear()
    train_shapes(tmp_path, recipe, log=logs.append)
    assert not any("step" in line for line in logs)
    same = CogVideoXPipeline.from_pretrained(paths["cogvideox-shapes"], text_encoder=text_encoder)
    for a, b in zip(t2v.transformer.parameters(), same.transformer.parameters()):
        assert torch.equal(a, b)


@pytest.mark.slow  # a second recipe variant: ~9 s
def test_recipe_with_absolute_positions_and_another_snr_shift_runs_in_plain_diffusers(tmp_path):
    from diffusers import CogVideoXPipeline

    from shotsmith.models.embedded import load_text_encoder

    recipe = ShapesRecipe(scenes=8, vae_steps=2, decoder_steps=2, t2v_steps=2, i2v_steps=2, batch=2,
                          positions="sincos", snr_shift=1.0)
    paths = train_shapes(tmp_path, recipe, log=lambda _: None)
    _, text_encoder = load_text_encoder()
    pipe = CogVideoXPipeline.from_pretrained(paths["cogvideox-shapes"], text_encoder=text_encoder)
    assert not pipe.transformer.config.use_rotary_positional_embeddings
    assert pipe.scheduler.config.snr_shift_scale == 1.0  # sampled with the noise levels it was trained on
    video = pipe("a red ball moves right", height=32, width=48, num_frames=9, num_inference_steps=2,
                 output_type="np").frames[0]
    assert video.shape == (9, 32, 48, 3)


def test_train_shapes_refuses_an_unknown_position_layout(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path), "--positions", "learned"])
    assert result.exit_code == 2
    assert "--positions: 'learned' is not one of rotary, sincos" in result.output
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.slow  # two short trainings: ~6 s
def test_t2v_phase_can_start_from_a_trained_model_with_other_positions(tmp_path):
    from diffusers import CogVideoXTransformer3DModel

    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR, folder_text_encoder

    shipped = CogVideoXTransformer3DModel.from_pretrained(WEIGHTS_DIR / T2V_NAME / "transformer")
    # the shipped model's own patch and caption window (4 and 48 since the v2 model)
    recipe = ShapesRecipe(scenes=8, vae_steps=2, decoder_steps=2, t2v_steps=0, i2v_steps=0, batch=2,
                          positions="sincos", t2v_init=str(WEIGHTS_DIR / T2V_NAME),
                          text_encoder=folder_text_encoder(WEIGHTS_DIR / T2V_NAME),  # no bridge: its own
                          patch_size=shipped.config.patch_size, text_tokens=shipped.config.max_text_seq_length,
                          layers=shipped.config.num_layers, heads=shipped.config.num_attention_heads)
    paths = train_shapes(tmp_path, recipe, log=lambda _: None)
    started = CogVideoXTransformer3DModel.from_pretrained(paths[T2V_NAME] / "transformer")
    assert not started.config.use_rotary_positional_embeddings
    for (name, a), b in zip(shipped.named_parameters(), started.parameters()):
        assert torch.equal(a.half(), b.half()), name  # the folders keep the transformer in float16


def test_train_shapes_refuses_a_t2v_init_that_is_not_a_model_folder(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"),
                                      "--t2v-init", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "--t2v-init:" in result.output and "not a diffusers pipeline folder" in result.output
    assert not (tmp_path / "out").exists()


def test_train_shapes_refuses_a_negative_object_weight(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--object-weight", "-1"])
    assert result.exit_code == 2
    assert "--object-weight" in result.output
    assert not (tmp_path / "out").exists()


def test_train_shapes_refuses_a_zero_snr_shift(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--snr-shift", "0"])
    assert result.exit_code == 2
    assert "--snr-shift" in result.output
    assert not (tmp_path / "out").exists()


def test_train_device_names_are_checked_before_anything_runs(tmp_path):
    import pytest

    from shotsmith.train.shapes import check_device

    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^device: 'banana' is not a torch device"):
        check_device("banana")
    with pytest.raises(ValueError, match=r"^device: 'meta' is not supported"):
        check_device("meta")
    with pytest.raises(ValueError, match=r"^device: 'banana' is not a torch device"):
        train_shapes(tmp_path / "py", ShapesRecipe(device="banana"), log=lambda _: None)
    assert not (tmp_path / "py").exists()
    if not torch.cuda.is_available():
        from typer.testing import CliRunner

        from shotsmith.cli import app

        result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--device", "cuda"])
        assert result.exit_code == 2
        assert "--device: 'cuda' asked for, but this torch sees no CUDA device" in result.output
        assert not (tmp_path / "out").exists()


def test_canonical_layout_starts_each_object_where_its_motion_says_and_seeds_still_vary():
    from shotsmith.eval.adherence import score
    from shotsmith.eval.detector import detect

    rng = random.Random(11)
    for _ in range(200):
        scene = world.random_scene(rng, two_objects_share=0.5, layout="canonical")
        for obj in scene.objects:
            if obj.motion == "right":
                assert obj.x0 < 0.35
            elif obj.motion == "left":
                assert obj.x0 > 0.65
            elif obj.motion == "down":
                assert obj.y0 < 0.4
            elif obj.motion == "up":
                assert obj.y0 > 0.6
        if len(scene.objects) == 2:
            a, b = scene.objects
            assert abs(a.x0 - b.x0) > 0.25 or abs(a.y0 - b.y0) > 0.25  # separate lanes
    # The detector reads what the canonical world renders.
    results = []
    for _ in range(12):
        scene = world.random_scene(rng, two_objects_share=0.5, layout="canonical")
        results.append(score(scene.slots(), detect(world.render(scene))).overall)
    assert min(results) == 1.0
    # Two scenes with the same slots still differ (size, travel, small offsets).
    r1, r2 = random.Random(5), random.Random(6)
    clips = []
    for r in (r1, r2):
        while True:
            scene = world.random_scene(r, 0.0, layout="canonical")
            if scene.objects[0].motion == "right":
                break
        clips.append(world.render(scene).astype(int))
    assert np.abs(clips[0] - clips[1]).mean() > 0.5
    import pytest

    with pytest.raises(ValueError, match="layout: 'grid' is not one of random, canonical"):
        world.random_scene(rng, layout="grid")


def test_wide_captions_say_what_the_scene_holds():
    from shotsmith.eval.adherence import slots_from_caption

    rng = random.Random(2)
    wordings = set()
    for _ in range(150):
        scene = world.random_scene(rng, two_objects_share=0.4, layout="canonical")
        for text in world.captions_for(scene, rng, plain=2, cinematic=2, wide=True):
            assert slots_from_caption(text) == scene.slots(), text
            wordings.add(text.lower())
    assert len(wordings) > 500  # few alike


def _lora_heldout_words() -> set[str]:
    """The LoRA benchmark's held-out wording (benchmarks/lora_demo.py), outside the training vocabulary."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lora_demo.py"
    spec = importlib.util.spec_from_file_location("lora_demo_words", path)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    words = set()
    for template, colour_phrase, *_ in demo.NOVEL_HELDOUT:
        words |= set(world._WORD.findall(template.lower())) | set(world._WORD.findall(colour_phrase.lower()))
    for phrases in demo.NOVEL_COLOUR_PHRASES.values():
        words |= {w for p in phrases for w in world._WORD.findall(p.lower())}
    return words - world.training_vocabulary()


def test_broad_captions_are_wider_and_never_hold_a_held_out_word():
    banned = world.held_out_words()
    assert {"scarlet", "orb", "pyramid", "dunes", "dune"} <= banned  # the named ones, and a singular
    assert not banned & world.training_vocabulary()  # words the models already read stay usable
    lora = _lora_heldout_words()
    assert "sapphire" in lora and "we" in lora  # the benchmark's colour phrases and sentence shapes are read
    rng = random.Random(7)
    seen: set[str] = set()
    for _ in range(2000):
        scene = world.random_scene(rng, two_objects_share=0.5, layout="canonical")
        for text in world.captions_for(scene, rng, broad=True):
            words = set(world._WORD.findall(text.lower()))
            assert not words & banned, text
            assert not words & lora, text
            seen |= words
    new = seen - world.training_vocabulary()
    assert len(new) > 120  # the broad lists reach the captions ...
    assert {"red", "circle", "grass", "rises"} <= seen  # ... and the wide words still do


def test_each_broad_phrase_names_one_value_only():
    families = (world.BROAD_COLOUR_WORDS, world.BROAD_SHAPE_WORDS, world.BROAD_MOTION_WORDS,
                world.BROAD_BACKGROUND_WORDS)
    wide = (world.COLOUR_WORDS, world.SHAPE_WORDS, world.MOTION_WORDS, world.BACKGROUND_WORDS)
    for broad, own in zip(families, wide):
        assert broad.keys() == own.keys()
        for value, phrases in broad.items():
            assert len(phrases) == len(set(phrases)), value
            others = {p for lists in (broad, own) for v, ps in lists.items() if v != value for p in ps}
            assert not set(phrases) & others, value
            assert world.broad_words(phrases), value  # the held-out filter leaves each value some words


def test_broad_recipe_builds_captions_from_the_broad_wording(tmp_path):
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=1, i2v_steps=0, batch=2, patch_size=4, text_tokens=48,
                          layout="canonical", captions="broad", two_objects_share=0.5, warmup_steps=1,
                          layers=2, heads=2, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    train_shapes(tmp_path, recipe, log=lambda _: None)
    data = torch.load(tmp_path / "checkpoints" / "data.pt")
    assert len(data["captions"]) == 32
    words = {w for text in data["captions"] for w in world._WORD.findall(text.lower())}
    assert words - world.training_vocabulary()  # broad words made it into the cache
    assert not words & world.held_out_words()


def test_v2_recipe_patch_4_and_48_text_tokens_loads_in_plain_diffusers_and_sets_the_text_limit(tmp_path):
    from diffusers import CogVideoXPipeline

    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR, load_text_encoder
    from shotsmith.models.registry import entry_from_folder
    from shotsmith.train.shapes import export_snapshot

    recipe = ShapesRecipe(scenes=8, t2v_steps=3, i2v_steps=0, batch=2, patch_size=4, text_tokens=48,
                          layout="canonical", captions="wide", two_objects_share=0.5, lr=2.4e-3, warmup_steps=2,
                          layers=3, heads=2, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    logs: list[str] = []
    paths = train_shapes(tmp_path, recipe, log=logs.append)
    assert list(paths) == [T2V_NAME]  # no I2V phase asked for: no I2V folder
    assert not any("vae step" in line for line in logs)  # the given VAE is reused
    data = torch.load(tmp_path / "checkpoints" / "data.pt")
    assert data["embeds"].shape[1] == 48 and len(data["captions"]) == len(data["owners"])
    _, text_encoder = load_text_encoder()
    pipe = CogVideoXPipeline.from_pretrained(paths[T2V_NAME], text_encoder=text_encoder)
    assert pipe.transformer.config.patch_size == 4 and pipe.transformer.config.max_text_seq_length == 48
    assert pipe.transformer.config.num_layers == 3 and pipe.transformer.config.num_attention_heads == 2
    assert entry_from_folder(paths[T2V_NAME]).text_limit == 48
    video = pipe("a red ball moves right", height=64, width=96, num_frames=9, num_inference_steps=2,
                 max_sequence_length=48, output_type="np").frames[0]
    assert video.shape == (9, 64, 96, 3)
    # The averaged weights of the saved state export as the same folder.
    snap = export_snapshot(tmp_path, recipe, tmp_path / "snap", log=lambda _: None)
    again = CogVideoXPipeline.from_pretrained(snap, text_encoder=text_encoder)
    for a, b in zip(pipe.transformer.parameters(), again.transformer.parameters()):
        assert torch.equal(a, b)


def test_train_shapes_refuses_bad_v2_options_before_anything_runs(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    for args, message in ((["--patch-size", "3"], "--patch-size: 3 is not one of 2, 4"),
                          (["--text-tokens", "500"], "--text-tokens: 500 is not in 8-226"),
                          (["--layout", "grid"], "--layout: 'grid' is not one of random, canonical"),
                          (["--captions", "long"], "--captions: 'long' is not one of base, wide, broad")):
        result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), *args])
        assert result.exit_code == 2, args
        assert message in result.output
        assert not (tmp_path / "out").exists()


def test_embedded_entries_read_their_text_limit_from_the_folder(tmp_path):
    import json

    from shotsmith.models.embedded import folder_text_limit

    assert folder_text_limit(tmp_path) == 226  # no folder config: the old default
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({"max_text_seq_length": 32}))
    assert folder_text_limit(tmp_path) == 32


def test_a_warm_start_maps_the_shipped_patch_4_weights_to_patch_2_and_keeps_the_blocks(tmp_path):
    from diffusers import CogVideoXTransformer3DModel

    from shotsmith.models import embedded as emb
    from shotsmith.train.shapes import repatch

    shipped = CogVideoXTransformer3DModel.from_pretrained(emb.WEIGHTS_DIR / emb.T2V_NAME / "transformer")
    p = shipped.config.patch_size
    other = CogVideoXTransformer3DModel(**emb.transformer_config(patch_size=2 if p == 4 else 4,
                                                                 text_tokens=shipped.config.max_text_seq_length,
                                                                 layers=shipped.config.num_layers,
                                                                 heads=shipped.config.num_attention_heads,
                                                                 text_dim=shipped.config.text_embed_dim))
    state = repatch(shipped.state_dict(), other.state_dict())
    other.load_state_dict(state)
    # A flat latent gives the same token at either patch size, and a flat output stays flat.
    flat = torch.randn(1, emb.LATENT_CHANNELS, 1, 1).expand(1, emb.LATENT_CHANNELS, 16, 24)
    assert torch.allclose(shipped.patch_embed.proj(flat)[..., 0, 0], other.patch_embed.proj(flat)[..., 0, 0],
                          atol=1e-4)
    for name, value in shipped.state_dict().items():
        if name.startswith("transformer_blocks."):
            assert torch.equal(value, state[name]), name
    # And back: patch 2 -> 4 -> 2 of the output projection's sub-block mean is the mean again.
    back = repatch(state, shipped.state_dict())
    assert back["patch_embed.proj.weight"].shape == shipped.state_dict()["patch_embed.proj.weight"].shape


def test_the_rim_weight_marks_the_objects_outline():
    from shotsmith.train.shapes import _rim

    mask = torch.zeros(2, 3, 1, 8, 8)
    mask[..., 3:6, 3:6] = 1
    rim = _rim(mask)
    assert rim.shape == mask.shape
    assert rim[0, 0, 0, 4, 4] == 0  # the inside
    assert rim[0, 0, 0, 2, 2] == 1 and rim[0, 0, 0, 3, 3] == 1  # just outside and on the edge
    assert rim[0, 0, 0, 0, 0] == 0  # far away
    assert int(rim[0, 0, 0].sum()) == 24


def test_train_shapes_refuses_bad_shape_loss_options(tmp_path):
    import pytest

    for kwargs, message in (({"t_focus_phase": "first"}, "t_focus_phase: 'first'"),
                            ({"edge_weight": -1.0}, "edge_weight: -1.0 is below 0")):
        with pytest.raises(ValueError, match=message):
            train_shapes(tmp_path / "out", ShapesRecipe(**kwargs), log=lambda _: None)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--t-focus-range", "750-300"], "--t-focus-range: '750-300' is not LOW-HIGH timesteps"),
    (["--t-focus-range", "a-b"], "--t-focus-range: 'a-b' is not LOW-HIGH timesteps"),
    (["--t-focus-phase", "later"], "--t-focus-phase: 'later' is not one of more, all"),
])
def test_cli_refuses_bad_focus_options_naming_them(tmp_path, args, message):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_i2v_last_frame_share_trains_on_the_latent_the_engine_gives_for_a_last_image(tmp_path):
    from diffusers import CogVideoXImageToVideoPipeline
    from PIL import Image

    from shotsmith.engine.engine import encode_last_frame
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR, load_text_encoder
    from shotsmith.train.shapes import _scene

    recipe = ShapesRecipe(scenes=8, t2v_steps=2, i2v_steps=2, batch=2, patch_size=4, text_tokens=48,
                          warmup_steps=2, i2v_last_frame_share=1.0, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    logs: list[str] = []
    paths = train_shapes(tmp_path, recipe, log=logs.append)
    assert any("last-frame latents done: 8 scenes" in line for line in logs)
    assert any("transformer_i2v step" in line or "transformer_i2v done: 2 steps" in line for line in logs)
    lasts = torch.load(tmp_path / "checkpoints" / "last_latents.pt")
    assert lasts.shape == (8, 1, 8, 16, 24)
    # The folder says it learned the condition (the engine reads this) ...
    folder = paths["cogvideox-shapes-i2v"]
    import json

    assert json.loads((folder / "shotsmith_recipe.json").read_text())["recipe"]["i2v_last_frame_share"] == 1.0
    # ... and what it learned from is what inference gives for the scene's last frame as `last_image`.
    _, text_encoder = load_text_encoder()
    pipe = CogVideoXImageToVideoPipeline.from_pretrained(folder, text_encoder=text_encoder)
    data = torch.load(tmp_path / "checkpoints" / "data.pt")
    for i in (0, 5):
        image = Image.fromarray(world.render(_scene(data["scenes"][i]))[-1])
        want = encode_last_frame(pipe, image, 64, 96, "held")
        assert torch.allclose(lasts[i:i + 1].float(), want.float(), atol=0.02), i
    # Resuming finds the latents done and does not build them again.
    logs.clear()
    train_shapes(tmp_path, recipe, log=logs.append)
    assert not any("last-frame latents done" in line for line in logs)


@pytest.mark.parametrize("field", ["i2v_last_frame_share", "fresh_caption_share", "i2v_shape_swap_share",
                                   "text_token_drop"])
def test_train_shapes_refuses_a_share_outside_0_1(tmp_path, field):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=f"{field}: .* is not in 0-1"):
            train_shapes(tmp_path / "out", ShapesRecipe(**{field: bad}), log=lambda _: None)
    flag = "--" + field.replace("_", "-")
    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), flag, "1.5"])
    assert result.exit_code == 2 and f"{flag}: 1.5 is not in 0-1" in result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_object_scale_draws_larger_objects_that_stay_in_frame_and_that_the_detector_reads():
    from shotsmith.eval.adherence import score
    from shotsmith.eval.detector import detect

    def sizes(scale):
        rng = random.Random(21)
        return [o.size for _ in range(300)
                for o in world.random_scene(rng, 0.3, layout="canonical", object_scale=scale).objects]

    assert np.mean(sizes(1.4)) > 1.25 * np.mean(sizes(1.0))
    rng = random.Random(4)
    results = []
    for layout in ("canonical", "random"):
        for _ in range(10):
            scene = world.random_scene(rng, two_objects_share=0.5, layout=layout, object_scale=1.4)
            for obj in scene.objects:
                for t in (0.0, 1.0):
                    x, y, s = world._object_at(obj, t)
                    assert -0.02 <= y - s and y + s <= 1.02, (obj, t)  # stays in frame top to bottom
            results.append(score(scene.slots(), detect(world.render(scene))).overall)
    assert np.mean(results) >= 0.95
    # The default draws exactly the v2 world's scenes.
    a = world.random_scene(random.Random(8), 0.3, layout="canonical")
    b = world.random_scene(random.Random(8), 0.3, layout="canonical", object_scale=1.0)
    assert a == b


def test_train_shapes_refuses_an_object_scale_outside_its_range(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--object-scale", "2"])
    assert result.exit_code == 2 and "--object-scale: 2.0 is not in 1.0-1.5" in result.output
    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--layers", "0"])
    assert result.exit_code == 2 and "--layers: 0 is not in 1-24" in result.output
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="object_scale: nan is not in 1.0-1.5"):
        world.random_scene(random.Random(0), object_scale=float("nan"))


def test_a_run_killed_while_saving_keeps_its_previous_checkpoint_whole(tmp_path, monkeypatch):
    from shotsmith.train import shapes

    ck = shapes._Checkpoints(tmp_path)
    ck.save({"step": 100, "model": {"w": torch.ones(3)}}, "transformer.state.pt")

    def dies_half_way(obj, f):  # the process is killed with half the bytes on disk
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(shapes.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ck.save({"step": 200, "model": {"w": torch.zeros(3)}}, "transformer.state.pt")
    monkeypatch.undo()
    state = torch.load(tmp_path / "checkpoints" / "transformer.state.pt")
    assert state["step"] == 100 and torch.equal(state["model"]["w"], torch.ones(3))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if not p.name.startswith(".")) == [
        "transformer.state.pt"]


def test_an_object_scale_range_gives_a_cache_of_many_sizes_and_bad_ranges_are_refused(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app
    from shotsmith.train.shapes import _scene_scale, check_recipe

    rng = random.Random(2)
    drawn = [_scene_scale(ShapesRecipe(object_scale=1.0, object_scale_max=1.4), rng) for _ in range(400)]
    assert 1.0 <= min(drawn) < 1.05 and 1.35 < max(drawn) <= 1.4
    # a fixed scale draws nothing, so caches built before the option are rebuilt the same
    state = rng.getstate()
    assert _scene_scale(ShapesRecipe(object_scale=1.2), rng) == 1.2 and rng.getstate() == state
    for top in (1.1, 1.6, float("nan")):
        with pytest.raises(ValueError, match=f"object_scale_max: {top} is not in 1.2-1.5"):
            check_recipe(ShapesRecipe(object_scale=1.2, object_scale_max=top))
    result = CliRunner().invoke(app, ["train", "shapes", "--out", str(tmp_path / "out"), "--object-scale", "1.2",
                                      "--object-scale-max", "1.1"])
    assert result.exit_code == 2 and "--object-scale-max: 1.1 is not in 1.2-1.5" in result.output
    assert not (tmp_path / "out").exists()


def test_snapshot_phase_is_checked_before_anything_is_read(tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    (tmp_path / "out" / "checkpoints").mkdir(parents=True)
    base = ["train", "shapes", "--out", str(tmp_path / "out"), "--snapshot", str(tmp_path / "snap")]
    for args, message in ((["--snapshot-phase", "vae"], "--snapshot-phase: 'vae' is not one of t2v, t2v-more, i2v, i2v-more"),
                          (["--snapshot-phase", "i2v-more"], "no saved state of the i2v-more phase")):
        result = CliRunner().invoke(app, [*base, *args])
        assert result.exit_code == 2, args
        assert message in " ".join(result.output.split())
        assert not (tmp_path / "snap").exists()


def test_token_shape_labels_follow_each_object_through_the_clip():
    from shotsmith.train.shapes import AUX_SHAPES, token_shape_labels

    square = world.ShapeObject(colour="red", shape="square", motion="right", x0=0.2, y0=0.3, size=0.15, travel=0.6)
    triangle = world.ShapeObject(colour="blue", shape="triangle", motion="still", x0=0.75, y0=0.75, size=0.15)
    labels = token_shape_labels([world.Scene("grass", [square, triangle]).to_dict()], frames_latent=7, patch=4)
    grid = labels.view(7, 4, 6)  # latent frames x token rows x token columns (16x16 pixels each)
    sq, tri = 1 + AUX_SHAPES.index("square"), 1 + AUX_SHAPES.index("triangle")
    cols = [set(torch.nonzero(grid[k] == sq)[:, 1].tolist()) for k in range(7)]
    assert min(cols[0]) < 2 and max(cols[-1]) >= 4  # the square's tokens travel right ...
    assert set(torch.nonzero(grid[0] == sq)[:, 0].tolist()) <= {0, 1, 2}  # ... in its upper lane
    assert all(bool((grid[k] == tri).any()) for k in range(7))  # the still triangle is there throughout
    assert torch.equal(grid[0] == tri, grid[-1] == tri)
    assert (grid == 0).float().mean() > 0.6  # most tokens are background


def test_the_shape_reading_loss_trains_exports_a_plain_model_and_resumes(tmp_path):
    from diffusers import CogVideoXTransformer3DModel

    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=3, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, shape_aux_weight=0.05, shape_aux_block=1,
                          vae_init=str(WEIGHTS_DIR / T2V_NAME))
    logs: list[str] = []
    paths = train_shapes(tmp_path, recipe, log=logs.append)
    state = torch.load(tmp_path / "checkpoints" / "transformer.state.pt")
    assert state["step"] == 3 and state["aux_head"]["weight"].shape == (3, 128)  # three shapes from 4 heads x 32 channels
    # the head is not part of the model: plain diffusers loads every exported weight, and only those
    model = CogVideoXTransformer3DModel.from_pretrained(paths["cogvideox-shapes"] / "transformer")
    from safetensors import safe_open

    with safe_open(paths["cogvideox-shapes"] / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert set(f.keys()) == set(model.state_dict())
    # More steps resume the run, head included.
    logs.clear()
    (tmp_path / "checkpoints" / "transformer.done").unlink()
    train_shapes(tmp_path, ShapesRecipe(**{**recipe.__dict__, "t2v_steps": 5}), log=logs.append)
    assert any("resumed at step 3" in line for line in logs)
    assert torch.load(tmp_path / "checkpoints" / "transformer.state.pt")["step"] == 5
    # A run trained without the head can continue with it (the head starts fresh).
    plain = tmp_path / "plain"
    train_shapes(plain, ShapesRecipe(**{**recipe.__dict__, "shape_aux_weight": 0.0}), log=lambda _: None)
    assert "aux_head" not in torch.load(plain / "checkpoints" / "transformer.state.pt")
    (plain / "checkpoints" / "transformer.done").unlink()
    train_shapes(plain, ShapesRecipe(**{**recipe.__dict__, "t2v_steps": 5}), log=lambda _: None)
    assert torch.load(plain / "checkpoints" / "transformer.state.pt")["aux_head"]["weight"].shape == (3, 128)


def test_the_head_with_a_background_class_trains_and_refuses_a_run_without_it(tmp_path):
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=3, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, shape_aux_weight=0.05, shape_aux_background=True,
                          vae_init=str(WEIGHTS_DIR / T2V_NAME))
    logs: list[str] = []
    train_shapes(tmp_path, recipe, log=logs.append)
    state = torch.load(tmp_path / "checkpoints" / "transformer.state.pt")
    assert state["aux_head"]["weight"].shape == (4, 128)  # background + three shapes
    assert json.loads((tmp_path / "cogvideox-shapes" / "shotsmith_recipe.json").read_text())["recipe"]["shape_aux_background"]
    # Continuing the run without the class would load a head of the wrong size: refused, naming the flag.
    (tmp_path / "checkpoints" / "transformer.done").unlink()
    with pytest.raises(ValueError, match="trained with the background class; continue it with --shape-aux-background"):
        train_shapes(tmp_path, ShapesRecipe(**{**recipe.__dict__, "t2v_steps": 5, "shape_aux_background": False}),
                     log=lambda _: None)


def _patterned_latents(labels: torch.Tensor, frames: int, rows: int, cols: int, patch: int = 4) -> torch.Tensor:
    """Latents whose every 4x4 patch draws its token's label: nothing, a disc, a full square or
    a triangle (lower-left half), in channel 0."""
    yy, xx = torch.meshgrid(torch.arange(patch) - 1.5, torch.arange(patch) - 1.5, indexing="ij")
    marks = torch.stack([torch.zeros(patch, patch), (yy ** 2 + xx ** 2 <= 2.6).float(),
                         torch.ones(patch, patch), (yy >= xx).float()])
    grid = labels.view(-1, frames, rows, cols).long()
    drawn = marks[grid].permute(0, 1, 2, 4, 3, 5).reshape(-1, frames, rows * patch, cols * patch)
    out = torch.zeros(len(labels), frames, 2, rows * patch, cols * patch)
    out[:, :, 0] = drawn
    return out


@pytest.mark.parametrize("outline", [False, True])
def test_the_drawn_shape_reader_reads_each_token_in_the_transformers_order(outline):
    from shotsmith.train.shapes import train_shape_reader

    gen = torch.Generator().manual_seed(0)
    frames, rows, cols = 2, 3, 4
    labels = torch.randint(0, 4, (40, frames * rows * cols), generator=gen)
    latents = _patterned_latents(labels, frames, rows, cols)
    logs: list[str] = []
    reader, accuracy = train_shape_reader(latents, labels, 4, seed=0, log=logs.append, steps=150, batch=8,
                                          outline=outline)
    assert accuracy > 0.9, logs  # on the four clips it did not train on
    assert any("drawn-shape reader" in line for line in logs)
    # Frozen: it scores a model's output, it is not trained by it.
    assert not any(p.requires_grad for p in reader.parameters())
    # The token order is the transformer's (frame, row, column): moving a shape moves the answer.
    moved = labels[:1].clone().view(frames, rows, cols).roll(1, dims=2).reshape(1, -1)
    assert (reader(_patterned_latents(moved, frames, rows, cols)).argmax(-1) == moved).float().mean() > 0.9


@pytest.mark.slow  # a design that did not ship: ~4 s
def test_the_drawn_shape_loss_trains_exports_a_plain_model_and_resumes_with_the_same_reader(tmp_path):
    from diffusers import CogVideoXTransformer3DModel

    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=3, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, draw_aux_weight=0.05, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    logs: list[str] = []
    paths = train_shapes(tmp_path, recipe, log=logs.append)
    assert any(line.startswith("drawn-shape reader:") for line in logs)
    state = torch.load(tmp_path / "checkpoints" / "transformer.state.pt")
    assert state["step"] == 3 and "aux_head" not in state  # the reader alone, without the feature head
    reader = state["draw_reader"]
    model = CogVideoXTransformer3DModel.from_pretrained(paths["cogvideox-shapes"] / "transformer")
    assert not any(k.startswith("net.") for k in model.state_dict())  # the reader is not exported
    assert json.loads((tmp_path / "cogvideox-shapes" / "shotsmith_recipe.json").read_text())["recipe"]["draw_aux_weight"] == 0.05
    # Resuming loads the saved reader instead of fitting a new one.
    logs.clear()
    (tmp_path / "checkpoints" / "transformer.done").unlink()
    train_shapes(tmp_path, ShapesRecipe(**{**recipe.__dict__, "t2v_steps": 5}), log=logs.append)
    assert any("resumed at step 3" in line for line in logs)
    assert not any(line.startswith("drawn-shape reader:") for line in logs)
    after = torch.load(tmp_path / "checkpoints" / "transformer.state.pt")
    assert after["step"] == 5 and all(torch.equal(reader[k], after["draw_reader"][k]) for k in reader)


@pytest.mark.slow  # a design that did not ship: ~4 s
def test_the_outline_reader_sees_only_where_the_clip_differs_from_its_background(tmp_path):
    from shotsmith.train.shapes import LatentShapeReader, soft_object_mask

    gen = torch.Generator().manual_seed(1)
    frames, rows, cols = 2, 4, 6
    labels = torch.randint(1, 4, (4, frames * rows * cols), generator=gen)
    labels[torch.rand(labels.shape, generator=gen) < 0.8] = 0  # mostly background, as in a clip
    latents = _patterned_latents(labels, frames, rows, cols)
    mask = soft_object_mask(latents)
    assert mask.shape == (4, frames, 1, rows * 4, cols * 4)
    assert torch.equal(mask > 0.5, latents[:, :, :1] > 0.5)  # the drawn marks, and nothing else
    reader = LatentShapeReader(2, 4, outline=True)
    # A change of value that keeps the outline (another colour inside the same marks) reads the same.
    recoloured = latents.clone()
    recoloured[:, :, 1] = 0.8 * latents[:, :, 0]
    assert torch.allclose(reader(latents), reader(recoloured), atol=1e-3)  # the soft edge is saturated
    # and the loss on it reaches the latents
    x = latents.clone().requires_grad_(True)
    reader(x).sum().backward()
    assert x.grad.abs().sum() > 0
    # A run trained with the outline reader is not continued with the other one.
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=2, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, draw_aux_weight=0.05, draw_aux_outline=True,
                          vae_init=str(WEIGHTS_DIR / T2V_NAME))
    train_shapes(tmp_path, recipe, log=lambda _: None)
    assert torch.load(tmp_path / "checkpoints" / "transformer.state.pt")["draw_reader"]["net.0.weight"].shape[1] == 1
    (tmp_path / "checkpoints" / "transformer.done").unlink()
    with pytest.raises(ValueError, match="trained with --draw-aux-outline; continue it with the flag"):
        train_shapes(tmp_path, ShapesRecipe(**{**recipe.__dict__, "t2v_steps": 4, "draw_aux_outline": False}),
                     log=lambda _: None)


@pytest.mark.parametrize("kwargs, message", [
    ({"shape_aux_weight": -0.1}, "shape_aux_weight: -0.1 is below 0"),
    ({"shape_aux_weight": float("nan")}, "shape_aux_weight: nan is below 0"),
    ({"shape_aux_block": 4}, "shape_aux_block: 4 is not in 0-3"),
    ({"shape_aux_block": -1}, "shape_aux_block: -1 is not in 0-3"),
    ({"shape_aux_background": True}, "shape_aux_background: needs shape_aux_weight above 0"),
    ({"draw_aux_weight": -0.5}, "draw_aux_weight: -0.5 is below 0"),
    ({"draw_aux_weight": float("nan")}, "draw_aux_weight: nan is below 0"),
    ({"draw_aux_outline": True}, "draw_aux_outline: needs draw_aux_weight above 0"),
])
def test_train_shapes_refuses_bad_shape_reading_options(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_shapes(tmp_path / "out", ShapesRecipe(layers=4, **kwargs), log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_the_training_vocabulary_holds_every_word_of_the_training_captions():
    from shotsmith.prompt import lexicon as lx

    vocab = world.training_vocabulary()
    rng = random.Random(12345)  # another seed than the vocabulary's own draw
    seen: set[str] = set()
    for _ in range(4000):
        scene = world.random_scene(rng, two_objects_share=0.3, layout="canonical")
        for text in world.captions_for(scene, rng, wide=True):
            seen.update(lx.words(text))
    assert seen <= vocab
    assert {"crimson", "wedge", "meadow", "rises"} <= vocab  # wide wordings
    assert not {"scarlet", "orb", "pyramid", "turf"} & vocab  # the held-out examples stay out


def test_fresh_captions_describe_the_cached_scene_change_each_step_and_repeat_after_a_resume():
    from shotsmith.models.embedded import load_text_encoder
    from shotsmith.train.shapes import FreshCaptions

    rng = random.Random(3)
    scenes = [world.random_scene(rng, 0.0, layout="canonical") for _ in range(6)]
    recipe = ShapesRecipe(captions="broad", text_tokens=48, fresh_caption_share=1.0, seed=7)
    fresh = FreshCaptions(recipe, [s.to_dict() for s in scenes], 0, "cpu")
    owner = torch.tensor([0, 1, 2, 3, 4, 5])
    picked, caps = fresh.captions(owner, step=11)
    assert picked == [0, 1, 2, 3, 4, 5]
    for scene, text in zip(scenes, caps):  # each names its own scene's colour, in one of the wording's words
        colour = scene.objects[0].colour
        words = world.COLOUR_WORDS[colour] + world.broad_words(world.BROAD_COLOUR_WORDS[colour])
        assert any(w in text.lower() for w in words), (colour, text)
    assert fresh.captions(owner, step=12)[1] != caps  # another step, other wordings
    assert fresh.captions(owner, step=11)[1] == caps  # the same step again (a resumed run) writes the same
    # What the transformer reads is those captions through the text encoder, as the cache encodes them.
    cached = torch.zeros(6, 48, 384)
    text = fresh(cached, owner, step=11)
    assert torch.count_nonzero(cached) == 0  # the cache's tensor is left as it was
    tokenizer, encoder = load_text_encoder()
    tok = tokenizer(caps[:1], padding="max_length", max_length=48, truncation=True, return_tensors="pt")
    with torch.no_grad():
        want = encoder(tok.input_ids)[0].half().float()
    assert torch.allclose(text[:1], want, atol=1e-3)
    # A share of 0.5 leaves about half of a batch's captions as cached.
    half = FreshCaptions(ShapesRecipe(**{**recipe.__dict__, "fresh_caption_share": 0.5}),
                         [s.to_dict() for s in scenes], 0, "cpu")
    counts = [len(half.captions(owner, step)[0]) for step in range(200)]
    assert 0.4 < sum(counts) / (6 * 200) < 0.6


def test_a_run_with_fresh_captions_trains_and_records_the_share(tmp_path):
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=2, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, fresh_caption_share=1.0, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    paths = train_shapes(tmp_path / "run", recipe, log=lambda _: None)
    folder = paths["cogvideox-shapes"]
    assert json.loads((folder / "shotsmith_recipe.json").read_text())["recipe"]["fresh_caption_share"] == 1.0


def test_text_regularisers_noise_by_channel_spread_and_drop_tokens_to_the_empty_caption():
    from shotsmith.train.shapes import check_recipe, perturb_text

    text = torch.randn(64, 48, 16) * torch.linspace(0.1, 2.0, 16)  # channels of different spread
    empty = torch.full((48, 16), 7.0)
    spread = text.std(dim=(0, 1))
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(perturb_text(text, ShapesRecipe(), spread, empty, gen), text)  # off: untouched
    noisy = perturb_text(text, ShapesRecipe(text_noise=0.5), spread, empty, gen)
    ratio = (noisy - text).std(dim=(0, 1)) / spread
    assert torch.allclose(ratio, torch.full((16,), 0.5), atol=0.05)  # each channel by its own spread
    dropped = perturb_text(text, ShapesRecipe(text_token_drop=0.3), spread, empty, gen)
    gone = (dropped == 7.0).all(-1)
    assert 0.25 < gone.float().mean() < 0.35
    assert torch.equal(dropped[~gone], text[~gone])  # the other tokens are kept exactly
    for bad in (-1.0, 5.0, float("nan")):
        with pytest.raises(ValueError, match="text_noise: .* is not in 0-4"):
            check_recipe(ShapesRecipe(text_noise=bad))


def test_a_run_with_text_regularisers_trains_and_records_them(tmp_path):
    from shotsmith.models.embedded import T2V_NAME, WEIGHTS_DIR

    recipe = ShapesRecipe(scenes=8, t2v_steps=2, i2v_steps=0, batch=2, patch_size=4, text_tokens=48, layers=2,
                          warmup_steps=1, text_noise=0.5, text_token_drop=0.1, vae_init=str(WEIGHTS_DIR / T2V_NAME))
    paths = train_shapes(tmp_path / "run", recipe, log=lambda _: None)
    saved = json.loads((paths["cogvideox-shapes"] / "shotsmith_recipe.json").read_text())["recipe"]
    assert (saved["text_noise"], saved["text_token_drop"]) == (0.5, 0.1)


def test_i2v_shape_swap_captions_name_another_shape_than_the_clip_and_leave_t2v_captions_alone():
    import re

    from shotsmith.train.shapes import FreshCaptions, check_recipe

    rng = random.Random(5)
    scenes = []
    while len(scenes) < 8:  # one circle each, so any circle word in a caption names the clip's own shape
        scene = world.random_scene(rng, 0.0, layout="canonical")
        if scene.objects[0].shape == "circle":
            scenes.append(scene.to_dict())
    circle_words = re.compile(r"\b(circle|ball|disc|dot|sphere|round)\b")
    recipe = ShapesRecipe(captions="wide", text_tokens=48, fresh_caption_share=1.0, i2v_shape_swap_share=1.0)
    owner = torch.arange(8)
    swapped = FreshCaptions(recipe, scenes, 0, "cpu", shape_swap=1.0)
    plain = FreshCaptions(recipe, scenes, 0, "cpu")  # what a T2V phase gets from the same recipe
    for step in range(5):
        assert not any(circle_words.search(c) for c in swapped.captions(owner, step)[1])
        assert all(circle_words.search(c) for c in plain.captions(owner, step)[1])
    assert swapped.scenes[0]["objects"][0]["shape"] == "circle"  # the cache itself is untouched
    with pytest.raises(ValueError, match="i2v_shape_swap_share: needs fresh_caption_share above 0"):
        check_recipe(ShapesRecipe(i2v_shape_swap_share=0.5))
