"""First+last keyframes: a clip that starts on one image and ends on another, on every surface.

The engine test renders the embedded I2V model at its native size from the first and last
frames of a shapes-world clip; the API tests run a real server (Zhipu's two-image
`image_url`, the native `last_image`) and the CLI runs in-process.
"""

from __future__ import annotations

import json
import random

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from api_server import (  # noqa: F401  (server is a fixture)
    FAST_SIZE, KEY_A, KEY_B, data_url, decode_video, png_bytes, server, wait_for,
)
from shotsmith.cli import app
from shotsmith.eval.keyframes import keyframe_path
from shotsmith.eval.shapes_eval import psnr
from shotsmith.spec import SpecError, build_spec
from shotsmith.train import world

PROMPT = "a blue square slides right on sand"
CLIP_FRAMES = round(25 / 4 * 24)  # 25 native frames at 4 fps, 6.25 s at the default 24 fps
SLOTS = {"background": "sand", "objects": [{"colour": "blue", "shape": "square", "motion": "right"}]}


def keyframes(folder, slots=SLOTS, seed: int = 4) -> tuple[np.ndarray, str, str]:
    """A shapes-world clip where the object moves, and its first and last frames as PNG files."""
    clip = world.render(world.scene_from_slots(slots, random.Random(seed)))
    paths = []
    for name, frame in (("first.png", clip[0]), ("last.png", clip[-1])):
        Image.fromarray(frame).save(folder / name)
        paths.append(str(folder / name))
    return clip, paths[0], paths[1]


@pytest.fixture(scope="module")
def engine():
    from shotsmith.engine import Engine

    return Engine()


def test_clip_starts_on_the_first_image_ends_on_the_last_and_moves_between(engine, tmp_path):
    clip, first, last = keyframes(tmp_path)
    spec = build_spec(prompt=PROMPT, image=first, last_image=last, seed=11).check_inputs()
    assert spec.entry().last_frame
    frames = engine.render(spec).candidates[0].frames
    assert frames.shape == (25, 64, 96, 3)
    assert psnr(frames[0], clip[0]) >= 25.0
    assert psnr(frames[-1], clip[-1]) >= 22.0
    path = keyframe_path(frames, clip[0], clip[-1])
    assert path.ok, (path.why, [round(p, 2) for p in path.positions or []])
    # The last image does it, not only the prompt (the model moves the way a prompt says on its
    # own and then gets most of the way): with no motion in the text, the clip still ends on the
    # last image, and without that image it ends clearly further from it.
    quiet = "a blue square on sand"
    led = engine.render(build_spec(prompt=quiet, image=first, last_image=last, seed=11)).candidates[0].frames
    alone = engine.render(build_spec(prompt=quiet, image=first, seed=11)).candidates[0].frames
    assert psnr(led[-1], clip[-1]) >= 22.0
    assert psnr(alone[-1], clip[-1]) <= psnr(led[-1], clip[-1]) - 3.0


@pytest.mark.parametrize("values, field, words", [
    ({"prompt": PROMPT, "model": "cogvideox-shapes"}, "last_image", "text-to-video and cannot hold a last frame"),
    ({"prompt": PROMPT, "image": None}, "last_image", "needs a first frame"),
    ({"prompt": PROMPT, "model": "cogvideox-5b-i2v"}, "last_image", "cannot hold a last frame"),
    ({"prompt": PROMPT, "frames": 1}, "last_image", "one-frame clip"),
])
def test_requests_that_cannot_hold_a_last_frame_name_the_field(tmp_path, values, field, words):
    _, first, last = keyframes(tmp_path)
    with pytest.raises(SpecError) as caught:
        build_spec(**{"image": first, "last_image": last, **values})
    assert caught.value.field == field and words in str(caught.value)


def test_cli_last_image_makes_a_clip_whose_sidecar_names_the_file_only(tmp_path):
    _, first, last = keyframes(tmp_path)
    out = tmp_path / "out" / "clip.mp4"
    result = CliRunner().invoke(app, ["generate", PROMPT, "--image", first, "--last-image", last, "--steps", "4",
                                      "--size", "192x128", "--interpolation", "none", "--seed", "3", "--local",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = decode_video(out.read_bytes())
    assert (info["width"], info["height"], info["frames"]) == (192, 128, CLIP_FRAMES)
    spec = json.loads(out.with_suffix(".json").read_text())["metadata"]["spec"]
    assert (spec["image"], spec["last_image"]) == ("first.png", "last.png")


def test_cli_refuses_a_last_image_on_a_text_to_video_model(tmp_path):
    _, first, last = keyframes(tmp_path)
    result = CliRunner().invoke(app, ["generate", PROMPT, "--model", "cogvideox-shapes", "--image", first,
                                      "--last-image", last, "--local", "--out", str(tmp_path / "c.mp4")])
    assert result.exit_code == 2 and "last_image" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c.mp4").exists()


# Through a real server ------------------------------------------------------------------------


def png_of(frame: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


def job_count(server) -> int:
    with server.client(KEY_A) as http:
        return len(http.get("/api/v1/jobs?limit=100").json()["data"])


ZHIPU = "/api/paas/v4/videos/generations"


def test_zhipu_two_images_make_a_clip_from_first_to_last(server, tmp_path):
    clip, _, _ = keyframes(tmp_path)
    body = {"model": "cogvideox-shapes-i2v", "prompt": PROMPT, "size": "192x128", "steps": 4, "enhance": False,
            "interpolation": "none", "seed": 5, "image_url": [data_url(png_of(clip[0])), data_url(png_of(clip[-1]))]}
    with server.client(KEY_A) as http:
        task = http.post(ZHIPU, json=body)
        assert task.status_code == 200, task.text
        job = wait_for(http, task.json()["id"])
        assert job["status"] == "completed", job
        # the job and its sidecar name the staged files, never a server path
        assert (job["spec"]["image"], job["spec"]["last_image"]) == ("input.png", "input-last.png")
        sidecar = http.get(job["clips"][0]["sidecar_url"]).json()
        assert sidecar["metadata"]["spec"]["last_image"] == "input-last.png"
        result = http.get(f"/api/paas/v4/async-result/{task.json()['id']}").json()
        assert result["task_status"] == "SUCCESS"
        video = http.get(result["video_result"][0]["url"])
        assert http.get(result["video_result"][0]["url"],
                        headers={"Authorization": f"Bearer {KEY_B}"}).status_code == 404
    info = decode_video(video.content)
    assert (info["width"], info["height"]) == (192, 128) and info["frames"] == CLIP_FRAMES


def test_zhipu_one_element_list_is_the_first_frame_only(server):
    body = {"model": "cogvideox-shapes-i2v", "prompt": PROMPT, "size": "192x128", "steps": 2, "enhance": False,
            "interpolation": "none", "image_url": [data_url(png_bytes(color=(20, 90, 220)))]}
    with server.client(KEY_A) as http:
        task = http.post(ZHIPU, json=body)
        assert task.status_code == 200, task.text
        job = wait_for(http, task.json()["id"])
    assert job["status"] == "completed" and job["spec"]["image"] == "input.png" and job["spec"]["last_image"] is None


PNG = data_url(png_bytes())


@pytest.mark.parametrize("image_url, model, words", [
    ([PNG, PNG, PNG], "cogvideox-shapes-i2v", "a list of 3"),
    ([], "cogvideox-shapes-i2v", "a list of 0"),
    ([PNG, 5], "cogvideox-shapes-i2v", "image_url"),
    ([PNG, " "], "cogvideox-shapes-i2v", "empty"),
    ([PNG, "data:image/png;base64,%%%"], "cogvideox-shapes-i2v", "base64"),
    ([PNG, PNG], "cogvideox-shapes", "text-to-video and cannot hold a last frame"),
])
def test_zhipu_bad_image_lists_are_refused_naming_image_url(server, image_url, model, words):
    before = job_count(server)
    with server.client(KEY_A) as http:
        answer = http.post(ZHIPU, json={"model": model, "prompt": PROMPT, "image_url": image_url})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] in ("1213", "1214") and words in error["message"] and "image_url" in error["message"]
    assert "last_image" not in error["message"]  # the client sent image_url: the error says so
    assert job_count(server) == before  # nothing queued


def test_native_last_image_makes_a_clip(server, tmp_path):
    clip, _, _ = keyframes(tmp_path)
    body = {"prompt": PROMPT, "model": "cogvideox-shapes-i2v", "size": "192x128", "steps": 4, "enhance": False,
            "interpolation": "none", "image": data_url(png_of(clip[0])), "last_image": data_url(png_of(clip[-1]))}
    with server.client(KEY_A) as http:
        answer = http.post("/api/v1/jobs", json=body)
        assert answer.status_code == 200, answer.text
        job = wait_for(http, answer.json()["id"])
        assert job["status"] == "completed", job
        assert job["spec"]["last_image"] == "input-last.png"
        video = http.get(job["clips"][0]["video_url"]).content
    assert decode_video(video)["frames"] == CLIP_FRAMES


@pytest.mark.parametrize("extra, words", [
    ({"image": None}, "needs a first frame"),
    ({"model": "cogvideox-shapes"}, "text-to-video and cannot hold a last frame"),
    ({"last_image": "data:image/png;base64,%%%"}, "base64"),
    ({"last_image": data_url(b"not an image at all")}, "last_image"),
    ({"last_image": 7}, "last_image"),
])
def test_native_bad_last_image_is_refused_naming_it(server, extra, words):
    before = job_count(server)
    body = {"prompt": PROMPT, "model": "cogvideox-shapes-i2v", "size": FAST_SIZE, "image": PNG, "last_image": PNG,
            **extra}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY_A}"}, timeout=60) as http:
        answer = http.post("/api/v1/jobs", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "last_image" and words in error["message"], error
    assert job_count(server) == before


# A model that learned the last frame as a condition -----------------------------------------


def conditioned_copy(folder, share: float):
    """A copy of the shipped I2V folder whose recipe says it was trained with `i2v_last_frame_share`."""
    import shutil

    from shotsmith.models.embedded import I2V_NAME, WEIGHTS_DIR

    dest = folder / f"i2v-{share}"
    shutil.copytree(WEIGHTS_DIR / I2V_NAME, dest)
    recipe = json.loads((dest / "shotsmith_recipe.json").read_text())
    recipe["recipe"]["i2v_last_frame_share"] = share
    (dest / "shotsmith_recipe.json").write_text(json.dumps(recipe))
    return dest


def test_a_folder_that_learned_the_last_frame_takes_it_and_others_keep_refusing(tmp_path):
    from shotsmith.models.registry import entry_from_folder

    learned = entry_from_folder(conditioned_copy(tmp_path, 0.5))
    assert learned.last_frame and learned.last_frame_condition
    plain = entry_from_folder(conditioned_copy(tmp_path, 0.0))
    assert not plain.last_frame and not plain.last_frame_condition
    _, first, last = keyframes(tmp_path)
    with pytest.raises(SpecError) as caught:
        build_spec(prompt=PROMPT, model=str(tmp_path / "i2v-0.0"), image=first, last_image=last)
    assert caught.value.field == "last_image"


def test_the_engine_gives_a_learned_last_frame_to_the_transformer_at_the_last_index(engine, tmp_path, monkeypatch):
    from dataclasses import replace

    import torch

    from shotsmith.models.embedded import I2V_NAME
    from shotsmith.models.registry import ENTRIES

    from shotsmith.engine.engine import encode_last_frame

    folder = conditioned_copy(tmp_path, 0.5)
    clip, first, last = keyframes(tmp_path)
    spec = build_spec(prompt=PROMPT, model=str(folder), image=first, last_image=last, seed=3, steps=2).check_inputs()
    pipe = engine.pipeline(spec.entry())
    seen = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()), with_kwargs=True)
    try:
        frames = engine.render(spec).candidates[0].frames
    finally:
        hook.remove()
    assert frames.shape == (25, 64, 96, 3) and len(seen) == 2
    channels = pipe.transformer.config.in_channels // 2
    want = encode_last_frame(pipe, Image.open(last).convert("RGB"), 64, 96, "held")[0, 0]
    for hidden in seen:
        condition = hidden[0, :, channels:]  # the image channels: first frame, zeros, the last frame
        assert torch.allclose(condition[-1], want, atol=1e-4)
        assert condition[1:-1].abs().max() == 0
    assert "prepare_latents" not in vars(pipe)  # the pipeline object is itself again for the next request
    # The same request on an entry without the condition (today's lock-only path) keeps it empty.
    seen.clear()
    monkeypatch.setitem(ENTRIES, I2V_NAME, replace(ENTRIES[I2V_NAME], last_frame_condition=False))
    plain = engine.pipeline(build_spec(prompt=PROMPT, image=first, seed=3).entry())
    hook = plain.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].detach().clone()), with_kwargs=True)
    try:
        engine.render(build_spec(prompt=PROMPT, image=first, last_image=last, seed=3, steps=2).check_inputs())
    finally:
        hook.remove()
    assert seen and all(h[0, -1, channels:].abs().max() == 0 for h in seen)
