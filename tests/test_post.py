"""Post-processing: finish_clip and its readers, on tiny synthetic clips (CPU, seconds)."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotsmith import __version__
from shotsmith.post import (
    ClipFiles,
    PostError,
    PostSettings,
    decode_frames,
    finish_clip,
    probe_video,
    read_clip_metadata,
)
from shotsmith.post.images import sprite_size
from shotsmith.post.media import iter_frames

NATIVE_FPS = 4
NATIVE_FRAMES = 25  # 25 frames at 4 fps = 6.25 s = 150 frames at 24 fps
METADATA = {
    "prompt": "a red square glides right over a green field",
    "enhanced_prompt": "A crisp red square glides steadily from left to right — «unicode» ok",
    "seed": 1234,
    "model": "cogvideox-2b",
    "steps": 50,
    "native_size": [96, 64],
}


def moving_square(frames: int = NATIVE_FRAMES, width: int = 96, height: int = 64) -> np.ndarray:
    """A red square moving 3 px right per frame over a green background."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    video[..., 1] = 160
    for t in range(frames):
        x = 4 + 3 * t
        video[t, 20:40, x : x + 16] = (220, 20, 20)
    return video


def red_centroid_x(frame: np.ndarray) -> float:
    """Centroid x of red pixels, as a fraction of the width (nan when there are none)."""
    red = (frame[..., 0] > 150) & (frame[..., 1] < 100)
    xs = np.nonzero(red)[1]
    return float(xs.mean() / frame.shape[1]) if xs.size else float("nan")


def centroids(path: Path) -> list[float]:
    # One frame at a time: 150 RGB frames at 1440x960 would be ~600 MB as one array.
    return [red_centroid_x(frame) for _, frame in iter_frames(path)]


def finish_timed(tmp: Path, name: str, settings: PostSettings, **kwargs) -> tuple[ClipFiles, float]:
    start = time.perf_counter()
    clip = finish_clip(moving_square(), NATIVE_FPS, tmp / f"{name}.mp4", settings, METADATA, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"\nfinish_clip 25x96x64@4 -> {settings.width}x{settings.height}@{settings.fps} "
          f"{settings.interpolation}: {elapsed:.2f} s {clip.timings}")
    return clip, elapsed


def assert_duration(clip_info, seconds: float = NATIVE_FRAMES / NATIVE_FPS, fps: int = 24) -> None:
    info = clip_info if isinstance(clip_info, dict) else vars(clip_info)
    assert info["duration"] == pytest.approx(seconds, abs=0.3)
    assert info["fps"] == pytest.approx(fps)
    assert abs(info["frames"] - seconds * fps) <= 1


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> ClipFiles:
    """The default chain (minterpolate, lanczos to 1440x960, GIF) run once for this module."""
    clip, _ = finish_timed(tmp_path_factory.mktemp("finished"), "clip", PostSettings(),
                           timings={"denoise_s": 12.5})
    return clip


@pytest.fixture(scope="module")
def finished_centroids(finished) -> list[float]:
    return centroids(finished.video)


# --- the finished MP4 ------------------------------------------------------------


def test_mp4_is_h264_yuv420p_at_output_size_and_rate(finished):
    info = probe_video(finished.video)
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert (info["width"], info["height"]) == (1440, 960)
    assert_duration(info)
    assert (finished.width, finished.height, finished.frames) == (1440, 960, info["frames"])
    assert finished.duration == pytest.approx(info["duration"])


def test_square_keeps_moving_right_and_motion_is_interpolated(finished_centroids):
    xs = finished_centroids
    assert not np.isnan(xs).any()
    sampled = xs[0:144:12]
    assert all(b > a for a, b in zip(sampled, sampled[1:])), sampled
    # Motion-compensated frames move a little every output frame; duplicated frames
    # ("none") would only move on every 6th.
    steps = np.diff(xs[:144])
    assert (steps > 0).mean() > 0.8


def test_metadata_round_trips_through_the_container(finished):
    assert read_clip_metadata(finished.video) == METADATA
    import av

    with av.open(str(finished.video)) as container:
        tags = container.metadata
    assert tags["title"] == METADATA["prompt"]
    assert METADATA["enhanced_prompt"] in tags["description"]
    assert "1234" in tags["description"]


def test_sidecar_records_everything_needed_to_remake_the_clip(finished):
    sidecar = json.loads(finished.sidecar.read_text())
    assert sidecar["metadata"] == METADATA
    assert PostSettings.from_dict(sidecar["post"]) == PostSettings()
    assert sidecar["shotsmith_version"] == __version__
    assert sidecar["files"] == {"video": "clip.mp4", "gif": "clip.gif", "cover": "clip.jpg",
                                "sprite": "clip.sprite.jpg", "sidecar": "clip.json"}
    timings = sidecar["timings"]
    assert timings["denoise_s"] == 12.5  # the caller's timings are kept
    for key in ("post_encode_s", "post_gif_s", "post_images_s", "post_total_s"):
        assert timings[key] >= 0
    assert sidecar["clip"]["frames"] == finished.frames


def test_gif_cover_and_sprite_open_at_expected_sizes(finished):
    with Image.open(finished.gif) as gif:
        assert gif.format == "GIF" and gif.size == (480, 320)
        assert gif.n_frames > 1
    with Image.open(finished.cover) as cover:
        assert cover.format == "JPEG" and cover.size == (1440, 960)
    with Image.open(finished.sprite) as sprite:
        assert sprite.format == "JPEG"
        assert sprite.size == sprite_size(1440, 960, columns=5, count=10) == (1200, 320)


def test_gif_preview_is_the_clip_at_a_preview_rate(finished):
    """GIF_FPS frames a second for the clip's whole length, each close to the MP4 frame at its time
    (the same size, lanczos-scaled): the cheaper palette must not cost the preview its look."""
    from shotsmith.post.ffmpeg import GIF_FPS

    with Image.open(finished.gif) as gif:
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.float64))
    assert len(frames) == round(finished.duration * GIF_FPS)
    step = round(finished.fps / GIF_FPS)
    clip = dict(iter_frames(finished.video, range(0, finished.frames, step)))
    psnrs = []
    for i, frame in enumerate(frames):
        ref = np.asarray(Image.fromarray(clip[i * step]).resize((480, 320), Image.Resampling.LANCZOS),
                         dtype=np.float64)
        psnrs.append(10 * np.log10(255**2 / max(np.mean((frame - ref) ** 2), 1e-9)))
    assert min(psnrs) > 28, [round(p, 1) for p in psnrs]
    # the square moves right from GIF frame to GIF frame (the clip's last frames hold still, as above)
    xs = [red_centroid_x(f.astype(np.uint8)) for i, f in enumerate(frames) if i * step < 144]
    assert all(b > a for a, b in zip(xs, xs[1:])), [round(x, 3) for x in xs]


def test_only_final_files_are_left(finished):
    names = sorted(p.name for p in finished.video.parent.iterdir())
    assert names == ["clip.gif", "clip.jpg", "clip.json", "clip.mp4", "clip.sprite.jpg"]


# --- other modes and sizes ---------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["blend", "none"])
def test_blend_and_none_keep_duration_and_motion(tmp_path, interpolation):
    settings = PostSettings(interpolation=interpolation)
    clip, _ = finish_timed(tmp_path, interpolation, settings)
    assert_duration(probe_video(clip.video))
    # Sample on native-frame boundaries, where blended frames are solid red again.
    sampled = [red_centroid_x(f) for _, f in iter_frames(clip.video, range(0, 144, 12))]
    assert all(b > a for a, b in zip(sampled, sampled[1:])), sampled


def test_other_size_with_different_aspect_is_cropped_not_stretched(tmp_path):
    settings = PostSettings(width=480, height=480, interpolation="none", gif_width=240)
    clip = finish_clip(moving_square(), NATIVE_FPS, tmp_path / "square.mp4", settings, METADATA)
    info = probe_video(clip.video)
    assert (info["width"], info["height"]) == (480, 480)
    assert_duration(info)
    with Image.open(clip.gif) as gif:
        assert gif.size == (240, 240)
    # Cover-and-crop scales 96x64 by 7.5 to 720x480 and crops the sides: the 16x20 px
    # rectangle (whole at native frame 12 = output frame 72) must be 120x150, not squashed.
    frame = dict(iter_frames(clip.video, [72]))[72]
    red = (frame[..., 0] > 150) & (frame[..., 1] < 100)
    height, width = red.any(axis=1).sum(), red.any(axis=0).sum()
    assert abs(width - 120) <= 3 and abs(height - 150) <= 3, (width, height)


@pytest.mark.parametrize("interpolation", ["minterpolate", "blend", "none"])
def test_cogvideox_native_rate_gives_exact_duration(tmp_path, interpolation):
    # CogVideoX: 49 frames at 8 fps = 6.125 s -> 147 frames at 24 fps (small output: fast).
    settings = PostSettings(width=96, height=64, interpolation=interpolation, gif=False)
    clip = finish_clip(moving_square(49), 8, tmp_path / "c.mp4", settings, METADATA)
    assert clip.frames == 147
    assert clip.duration == pytest.approx(6.125, abs=0.05)
    assert decode_frames(clip.video).shape == (147, 64, 96, 3)


# --- writing is atomic and idempotent ------------------------------------------------


def test_rerun_overwrites_cleanly_and_leaves_no_temp_files(tmp_path):
    out = tmp_path / "again.mp4"
    small = PostSettings(width=192, height=128, interpolation="none", gif_width=96)
    finish_clip(moving_square(), NATIVE_FPS, out, small, {**METADATA, "seed": 1})
    stale = tmp_path / ".again.shotsmith-tmp-deadbeef-video"  # as if a run had been killed
    stale.write_bytes(b"half a file")

    second = PostSettings(width=256, height=160, interpolation="none", gif=False)
    clip = finish_clip(moving_square(), NATIVE_FPS, out, second, {**METADATA, "seed": 2})

    assert read_clip_metadata(out)["seed"] == 2
    assert (probe_video(out)["width"], clip.gif) == (256, None)
    assert json.loads(clip.sidecar.read_text())["files"]["gif"] is None
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["again.jpg", "again.json", "again.mp4", "again.sprite.jpg"]


def test_ffmpeg_failure_is_a_post_error_with_stderr_and_no_files(tmp_path):
    settings = PostSettings(width=96, height=64, gif=False)
    settings.preset = "no-such-preset"  # slip past validation to make libx264 fail
    with pytest.raises(PostError, match="ffmpeg failed to encode video") as excinfo:
        finish_clip(moving_square(), NATIVE_FPS, tmp_path / "bad.mp4", settings, METADATA)
    assert "exit code" in str(excinfo.value)
    assert "(no stderr output)" not in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []


# --- validation ------------------------------------------------------------------------


def test_settings_round_trip_through_json():
    settings = PostSettings(width=720, height=480, fps=30, interpolation="blend", crf=23, gif=False)
    assert PostSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert PostSettings.from_dict({}) == PostSettings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 1441), ("width", 8), ("width", 5000), ("height", 15), ("height", "960"),
        ("fps", 0), ("fps", 61), ("interpolation", "rife"), ("preset", "turbo"),
        ("crf", 60), ("gif_width", 4), ("sprite_frames", 0), ("upscaler", ""),
    ],
)
def test_bad_settings_raise_naming_the_field(field, value):
    with pytest.raises(PostError, match=f"^{field}="):
        PostSettings(**{field: value})


def test_unknown_setting_key_is_named():
    with pytest.raises(PostError, match="interp"):
        PostSettings.from_dict({"interp": "blend"})


@pytest.mark.parametrize(
    ("frames", "fps", "name", "message"),
    [
        (moving_square().astype(np.float32), 4, "a.mp4", "uint8"),
        (moving_square()[..., :2].copy(), 4, "a.mp4", "shape"),
        (moving_square(), 0, "a.mp4", "native_fps"),
        (moving_square(), 4, "a.mov", "out_path"),
    ],
)
def test_bad_inputs_raise_clear_errors(tmp_path, frames, fps, name, message):
    with pytest.raises(PostError, match=message):
        finish_clip(frames, fps, tmp_path / name, PostSettings(), METADATA)


def test_oversized_metadata_is_refused_before_ffmpeg_runs(tmp_path):
    settings = PostSettings(width=96, height=64, gif=False)
    with pytest.raises(PostError, match="metadata is .* characters"):
        finish_clip(moving_square(), NATIVE_FPS, tmp_path / "big.mp4", settings,
                    {"prompt": "x" * 200_000})


def test_numpy_native_fps_is_accepted(tmp_path):
    settings = PostSettings(width=96, height=64, interpolation="none", gif=False)
    clip = finish_clip(moving_square(), np.int64(4), tmp_path / "np.mp4", settings, METADATA)
    assert clip.frames == 150
    assert json.loads(clip.sidecar.read_text())["clip"]["native"]["fps"] == 4.0


def test_read_clip_metadata_rejects_a_video_without_it(tmp_path):
    import av

    plain = tmp_path / "plain.mp4"
    with av.open(str(plain), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for frame in moving_square(4):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    with pytest.raises(PostError, match="no shotsmith metadata"):
        read_clip_metadata(plain)


# --- optional super-resolution ------------------------------------------------------------


def test_missing_sr_weights_file_names_the_setting(tmp_path):
    settings = PostSettings(upscaler=str(tmp_path / "RealESRGAN_x4plus.pth"))
    with pytest.raises(PostError, match="^upscaler=.*no such weights file"):
        finish_clip(moving_square(), NATIVE_FPS, tmp_path / "sr.mp4", settings, METADATA)
    assert list(tmp_path.iterdir()) == []


def test_missing_spandrel_names_the_setting_and_package(tmp_path, monkeypatch):
    weights = tmp_path / "RealESRGAN_x4plus.pth"
    weights.write_bytes(b"not really weights")
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import spandrel -> ImportError
    settings = PostSettings(upscaler=str(weights))
    with pytest.raises(PostError, match="^upscaler=.*'spandrel' package"):
        finish_clip(moving_square(), NATIVE_FPS, tmp_path / "sr.mp4", settings, METADATA)


def install_fake_spandrel(monkeypatch, torch, factor: int, calls: list) -> None:
    """A stand-in spandrel whose 'SR model' (declared 2x) upsamples by `factor`, nearest."""

    class ImageModelDescriptor:
        scale, supports_half = 2, True

        def to(self, device):
            return self

        def eval(self):
            return self

        def __call__(self, image):
            calls.append(tuple(image.shape))
            return torch.nn.functional.interpolate(image, scale_factor=factor, mode="nearest")

    class ModelLoader:
        def load_from_file(self, path):
            return ImageModelDescriptor()

    fake = types.SimpleNamespace(ModelLoader=ModelLoader, ImageModelDescriptor=ImageModelDescriptor)
    monkeypatch.setitem(sys.modules, "spandrel", fake)


def test_sr_model_frames_stream_into_the_encoder(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    calls: list = []
    install_fake_spandrel(monkeypatch, torch, 2, calls)
    weights = tmp_path / "x2.pth"
    weights.write_bytes(b"fake")
    settings = PostSettings(width=384, height=256, interpolation="none", upscaler=str(weights),
                            gif=False)
    clip = finish_clip(moving_square(), NATIVE_FPS, tmp_path / "sr.mp4", settings, METADATA)

    assert calls == [(1, 3, 64, 96)] * NATIVE_FRAMES  # every native frame, one at a time
    assert (clip.width, clip.height) == (384, 256)
    assert_duration(clip)
    assert "post_upscaler_load_s" in clip.timings
    xs = centroids(clip.video)
    assert xs[0] < xs[len(xs) // 2] < xs[-1]


def test_sr_model_with_wrong_output_size_is_a_clear_error(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    install_fake_spandrel(monkeypatch, torch, 3, [])  # claims 2x, delivers 3x
    weights = tmp_path / "x2.pth"
    weights.write_bytes(b"fake")
    settings = PostSettings(width=384, height=256, upscaler=str(weights), gif=False)
    with pytest.raises(PostError, match="returned 288x192 frames, expected 192x128"):
        finish_clip(moving_square(), NATIVE_FPS, tmp_path / "sr.mp4", settings, METADATA)
    assert [p.name for p in tmp_path.iterdir()] == ["x2.pth"]


def test_the_longest_prompts_a_request_may_send_fit_the_mp4_tag(tmp_path):
    """4,000 emoji in the prompt and the negative prompt (the request limits), each written twice in
    the record as the service writes it: the comment tag holds them (an emoji is one character)."""
    emoji = "\U0001F3A5" * 4000
    spec = {"prompt": emoji, "negative_prompt": emoji, "enhanced_prompt": emoji}
    metadata = {**METADATA, "prompt": emoji, "negative_prompt": emoji, "enhanced_prompt": emoji, "spec": spec}
    settings = PostSettings(width=96, height=64, interpolation="none", gif=False)
    clip = finish_clip(moving_square(), NATIVE_FPS, tmp_path / "long.mp4", settings, metadata)
    assert read_clip_metadata(clip.video)["spec"]["negative_prompt"] == emoji
