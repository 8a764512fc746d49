"""LTX-2 through shotsmith: picture and sound from a tiny random-weight LTX-2 pipeline (LTX-2's
own config classes), the sound in the MP4 as AAC lasting as long as the clip, none in the GIF
or the cover, the sidecar saying which file has it; `audio` / Zhipu's `with_audio` asked of a
model without sound refused naming the field before anything loads."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from shotsmith.engine import Cancelled, Engine
from shotsmith.models.registry import ENTRIES, resolve
from shotsmith.service import Studio
from shotsmith.spec import SpecError, build_spec

OUT = dict(width=192, height=128, fps=24, interpolation="none", enhance=False)


@pytest.fixture(scope="module")
def engine():
    return Engine(device="cpu")


def _spec(model, **kw):
    return build_spec(**{"prompt": "a drum is struck twice", "model": str(model), "steps": 2, "guidance": 1.0,
                         **kw})


def sound_of(path):
    """(sample rate, decoded seconds, the audio stream's own duration) of an MP4's first audio stream, by PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.rate, samples / stream.rate, float(stream.duration * stream.time_base)


def test_registry_has_ltx2_with_its_rules():
    for name in ("ltx-2", "ltx-2-i2v"):
        entry = ENTRIES[name]
        assert entry.family == "ltx2" and entry.hub_id == "Lightricks/LTX-2" and entry.audio
        assert (entry.frame_step, entry.size_multiple) == (8, 32) and "audio" in entry.capabilities()
    assert not ENTRIES["cogvideox-shapes"].audio and not ENTRIES["wan2.1-t2v-1.3b"].audio


@pytest.mark.parametrize("values, field, words", [
    (dict(model="ltx-2", frames=24), "frames", "8k+1"),
    (dict(model="ltx-2", native_width=784), "native_width", "multiples of 32"),
    (dict(model="wan2.1-t2v-1.3b", audio=True), "audio", "makes silent clips"),
    (dict(model="cogvideox-shapes", audio=True), "audio", "models with sound: ltx-2, ltx-2-i2v"),
])
def test_rules_refuse_what_the_model_cannot_do(values, field, words):
    with pytest.raises(SpecError) as err:
        build_spec(prompt="a drum", **values)
    assert err.value.field == field and words in str(err.value)


def test_the_folder_is_recognised_and_makes_picture_and_sound(engine, tiny_ltx2_dirs):
    entry = resolve(str(tiny_ltx2_dirs["t2v"]))
    assert (entry.family, entry.task, entry.frame_step, entry.size_multiple, entry.audio) == ("ltx2", "t2v", 8, 32,
                                                                                              True)
    first = engine.render(_spec(tiny_ltx2_dirs["t2v"], seed=5))
    again = engine.render(_spec(tiny_ltx2_dirs["t2v"], seed=5))
    other = engine.render(_spec(tiny_ltx2_dirs["t2v"], seed=6))
    clip = first.candidates[0]
    assert clip.frames.shape == (9, 64, 64, 3) and clip.audio.ndim == 2 and clip.sample_rate == 16000
    assert abs(clip.audio.shape[1] / clip.sample_rate - 9 / 24) < 0.01  # as long as the clip
    assert np.array_equal(clip.frames, again.candidates[0].frames)
    assert np.array_equal(clip.audio, again.candidates[0].audio)
    assert not np.array_equal(clip.frames, other.candidates[0].frames)


def test_cancel_stops_between_steps(engine, tiny_ltx2_dirs):
    seen = []
    with pytest.raises(Cancelled, match="step 3 of 6"):
        engine.render(_spec(tiny_ltx2_dirs["t2v"], steps=6), on_progress=seen.append,
                      should_cancel=lambda: sum(p.stage == "denoise" for p in seen) >= 2)


def test_the_mp4_carries_aac_as_long_as_the_video_and_the_gif_and_cover_none(engine, tiny_ltx2_dirs, tmp_path):
    import av

    from shotsmith.post import probe_video

    out = tmp_path / "drum.mp4"
    Studio(engine).generate(_spec(tiny_ltx2_dirs["t2v"], seed=3, **OUT), out)
    video = probe_video(out)
    assert (video["width"], video["height"], video["frames"]) == (192, 128, 9)
    rate, decoded, stream_seconds = sound_of(out)
    assert rate == 16000 and abs(stream_seconds - video["duration"]) <= 0.1 and abs(decoded - video["duration"]) <= 0.1
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    with av.open(str(out.with_suffix(".gif"))) as gif:
        assert not gif.streams.audio
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["audio"] == {"codec": "aac", "sample_rate": 16000, "channels": 2, "seconds": 0.375, "in": ["video"]}

    silent = tmp_path / "silent.mp4"  # audio: false keeps the picture, drops the sound
    Studio(engine).generate(_spec(tiny_ltx2_dirs["t2v"], seed=3, audio=False, **OUT), silent)
    with av.open(str(silent)) as container:
        assert not container.streams.audio
    assert json.loads(silent.with_suffix(".json").read_text())["audio"] is None


@pytest.mark.slow
def test_shotsmith_generate_makes_a_clip_with_sound(tiny_ltx2_dirs, tmp_path):
    from typer.testing import CliRunner

    from shotsmith.cli import app

    out = tmp_path / "cli.mp4"
    result = CliRunner().invoke(app, ["generate", "a drum is struck", "--model", str(tiny_ltx2_dirs["t2v"]),
                                      "--steps", "2", "--guidance", "1", "--seed", "4", "--size", "192x128", "--fps",
                                      "24", "--interpolation", "none", "--no-enhance", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rate, decoded, _ = sound_of(out)
    assert rate == 16000 and abs(decoded - 9 / 24) <= 0.1


@pytest.mark.slow
def test_zhipu_with_audio_and_the_openai_sdk_through_a_real_server(tiny_ltx2_dirs, tmp_path):
    import io

    import httpx
    import openai
    from api_server import KEY_A, start_server, wait_for

    models = tmp_path / "models"
    shutil.copytree(tiny_ltx2_dirs["t2v"], models / "ltx-2")
    server = start_server(tmp_path / "home", env={"SHOTSMITH_MODELS": str(models)})
    try:
        headers = {"Authorization": f"Bearer {KEY_A}"}
        # a model without sound refuses with_audio: true, naming it, before anything loads
        raw = httpx.post(f"{server.url}/api/paas/v4/videos/generations", headers=headers,
                         json={"model": "cogvideox-shapes", "prompt": "a drum", "with_audio": True})
        assert raw.status_code == 400 and "with_audio" in raw.text, raw.text
        # ltx-2 (the registry entry, pointed at the tiny folder) with sound, over Zhipu's contract:
        # 768x512 at 24 fps, 0.3 s is the nearest 8k+1 count (9 frames)
        raw = httpx.post(f"{server.url}/api/paas/v4/videos/generations", headers=headers, json={
            "model": "ltx-2", "prompt": "a drum is struck", "with_audio": True, "duration": 0.3, "size": "192x128",
            "steps": 2, "guidance": 1.0, "fps": 24, "interpolation": "none", "enhance": False, "seed": 8})
        assert raw.status_code == 200, raw.text
        job = wait_for(server.client(), raw.json()["id"])
        assert job["status"] == "completed", job
        client = openai.OpenAI(api_key=KEY_A, base_url=f"{server.url}/v1", max_retries=0)
        clip = tmp_path / "zhipu.mp4"
        clip.write_bytes(client.videos.download_content(raw.json()["id"], variant="video").read())
        rate, decoded, _ = sound_of(clip)
        assert rate == 16000 and abs(decoded - 9 / 24) <= 0.1
        # the OpenAI SDK with shotsmith's `audio` extension
        video = client.videos.create_and_poll(prompt="a drum", model="ltx-2", size="192x128", seconds="0.3",
                                              poll_interval_ms=250, extra_body={
                                                  "steps": 2, "guidance": 1.0, "fps": 24, "interpolation": "none",
                                                  "enhance": False, "audio": False})
        assert video.status == "completed", video
        import av

        with av.open(io.BytesIO(client.videos.download_content(video.id, variant="video").read())) as container:
            assert not container.streams.audio and len(list(container.decode(video=0))) == 9
    finally:
        server.stop()


# Image-to-video ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("ltx2-images")
    red, blue = root / "red.png", root / "blue.png"
    Image.new("RGB", (64, 64), (210, 40, 40)).save(red)
    Image.new("RGB", (64, 64), (40, 40, 210)).save(blue)
    return red, blue


def test_image_to_video_with_sound_from_the_folder(engine, tiny_ltx2_dirs, images):
    folder = tiny_ltx2_dirs["i2v"]
    entry = resolve(str(folder))
    assert (entry.family, entry.task, entry.audio) == ("ltx2", "i2v", True)
    assert type(engine.pipeline(entry)).__name__ == "LTX2ImageToVideoPipeline"
    red = engine.render(_spec(folder, seed=5, image=str(images[0]))).candidates[0]
    again = engine.render(_spec(folder, seed=5, image=str(images[0]))).candidates[0]
    blue = engine.render(_spec(folder, seed=5, image=str(images[1]))).candidates[0]
    assert red.frames.shape == (9, 64, 64, 3) and abs(red.audio.shape[1] / red.sample_rate - 9 / 24) < 0.01
    assert np.array_equal(red.frames, again.frames) and np.array_equal(red.audio, again.audio)
    assert not np.array_equal(red.frames, blue.frames)  # the image reached the pipeline


def test_the_ltx2_i2v_registry_entry_writes_an_mp4_with_sound(engine, tiny_ltx2_dirs, images, tmp_path,
                                                             monkeypatch):
    from shotsmith.post import probe_video

    models = tmp_path / "models"
    shutil.copytree(tiny_ltx2_dirs["t2v"], models / "ltx-2-i2v")  # the hub checkpoint serves both pipelines
    monkeypatch.setenv("SHOTSMITH_MODELS", str(models))
    out = tmp_path / "i2v.mp4"
    Studio(engine).generate(build_spec(prompt="a drum", model="ltx-2-i2v", image=str(images[0]), steps=2,
                                       guidance=1.0, frames=9, native_width=64, native_height=64, seed=3, **OUT), out)
    video = probe_video(out)
    assert (video["width"], video["height"], video["frames"]) == (192, 128, 9)
    _, decoded, _ = sound_of(out)
    assert abs(decoded - video["duration"]) <= 0.1


# Spatio-temporal guidance --------------------------------------------------------------------------

def _with_stg(spec, blocks):
    from shotsmith.models.registry import with_options

    spec._entry = with_options(spec.entry(), stg_blocks=blocks)  # a model option, as a Python caller sets it
    return spec


def test_spatio_temporal_guidance_reaches_the_pipeline(engine, tiny_ltx2_dirs):
    folder = tiny_ltx2_dirs["t2v"]
    pipe = engine.pipeline(resolve(str(folder)))
    passes = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda m, a, kw: passes.append(kw.get("spatio_temporal_guidance_blocks")), with_kwargs=True)
    try:
        off = engine.render(_spec(folder, seed=4)).candidates[0]  # the default block 28: not in 2 blocks
        off_passes, passes[:] = list(passes), []
        on = engine.render(_with_stg(_spec(folder, seed=4), [1])).candidates[0]
        on_passes, passes[:] = list(passes), []
        again = engine.render(_with_stg(_spec(folder, seed=4), [1])).candidates[0]
    finally:
        hook.remove()
    assert off_passes == [None, None]  # one pass a step (guidance 1), nothing perturbed
    assert on_passes == [None, [1], None, [1]]  # and a perturbed pass at block 1 after each
    assert not np.array_equal(on.frames, off.frames) and not np.array_equal(on.audio, off.audio)
    assert np.array_equal(on.frames, again.frames)


def test_stg_blocks_the_checkpoint_lacks_are_refused_naming_the_option(engine, tiny_ltx2_dirs):
    from shotsmith.models.registry import OptionError, with_options

    with pytest.raises(OptionError) as err:
        engine.render(_with_stg(_spec(tiny_ltx2_dirs["t2v"]), [28]))
    assert err.value.field == "stg_blocks" and "blocks 0 to 1" in str(err.value)
    with pytest.raises(OptionError) as err:
        with_options(ENTRIES["ltx-2"], stg_blocks="28")
    assert err.value.field == "stg_blocks"


def test_stg_is_off_where_the_transformer_cannot_perturb_and_asking_for_it_is_refused():
    from types import SimpleNamespace

    from shotsmith.models.families.ltx2 import stg_arguments
    from shotsmith.models.registry import OptionError, with_options

    # diffusers' LTX-2.0 conversion: 48 blocks, no perturbed attention (its STG pass would change nothing)
    plain = SimpleNamespace(num_layers=48, perturbed_attn=False)
    assert stg_arguments(ENTRIES["ltx-2"], plain) == {"spatio_temporal_guidance_blocks": None, "stg_scale": 0.0,
                                                      "audio_stg_scale": 0.0}
    assert stg_arguments(ENTRIES["ltx-2"], SimpleNamespace(num_layers=48, perturbed_attn=True)) == {
        "spatio_temporal_guidance_blocks": [28]}  # the published default where the checkpoint can do it
    with pytest.raises(OptionError) as err:
        stg_arguments(with_options(ENTRIES["ltx-2"], stg_blocks=[28]), plain)
    assert err.value.field == "stg_blocks" and "perturbed_attn" in str(err.value)
