"""Sound kept through edits and extensions: a clip with a sound track (as an LTX-2 clip has: AAC in
the MP4) stays a clip with sound. An edit re-renders the picture and keeps the source's sound for
its length; an extension keeps the source's sound under the source's part and then the model's
sound, or silence where the model made none. Checked on the written MP4s with PyAV: AAC, as long
as the picture (within 0.1 s), the source's 440 Hz tone where it should be, silence where it
should be, and the sidecar saying what the track holds."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from clips import moving_box

from shotsmith.post import PostSettings, finish_clip, probe_video
from shotsmith.post.source import read_audio
from shotsmith.service import Studio
from shotsmith.spec import build_spec

RATE = 16000  # the tiny LTX-2 vocoder's rate
SOURCE_SECONDS = 6.25  # 25 frames at 4 fps: the embedded models' native clip, so an edit keeps its length
EDIT = dict(width=192, height=128, fps=4, interpolation="none", steps=2, enhance=False)


def tone(freq: float, seconds: float, rate: int = RATE, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * freq * t))[None], channels, axis=0).astype(np.float32)


def loudest_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.mean(axis=0) * np.hanning(samples.shape[1])))
    return float(np.fft.rfftfreq(samples.shape[1], 1 / rate)[spectrum.argmax()])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def track(path) -> dict:
    """What a player sees: the audio stream's codec and duration beside the picture's, and the samples."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, seconds = stream.codec_context.name, float(stream.duration * stream.time_base)
    samples, rate = read_audio(path)
    return {"codec": codec, "seconds": seconds, "decoded": samples.shape[1] / rate, "samples": samples, "rate": rate,
            "video": probe_video(path)["duration"]}


@pytest.fixture(scope="module")
def studio():
    return Studio()


@pytest.fixture(scope="module")
def drum(tmp_path_factory):
    """A 6.25 s clip whose sound is a 440 Hz tone (made by finish_clip, as an LTX-2 render is)."""
    out = tmp_path_factory.mktemp("sound") / "drum.mp4"
    finish_clip(moving_box(25, 96, 64), 4, out, PostSettings(width=192, height=128, fps=4, interpolation="none"),
                {"prompt": "a red box moves right", "seed": 1}, audio=tone(440, SOURCE_SECONDS), sample_rate=RATE)
    return out


def test_an_edit_keeps_the_sources_sound_for_its_length(studio, drum, tmp_path):
    out = studio.generate(build_spec(prompt="a blue box moves right", video=str(drum), strength=0.5, seed=5,
                                     **EDIT), tmp_path / "edit.mp4")
    clip = out.clips[0]
    sound = track(clip.video)
    assert sound["codec"] == "aac" and sound["rate"] == RATE
    assert abs(sound["seconds"] - sound["video"]) <= 0.1 and abs(sound["decoded"] - sound["video"]) <= 0.1
    assert abs(sound["video"] - SOURCE_SECONDS) <= 0.1
    assert abs(loudest_hz(sound["samples"], RATE) - 440) < 5 and rms(sound["samples"]) > 0.2
    sidecar = json.loads(clip.sidecar.read_text())
    assert sidecar["audio"] == {"codec": "aac", "sample_rate": RATE, "channels": 2, "seconds": 6.25, "in": ["video"],
                                "from": [{"sound": "source", "file": "drum.mp4", "seconds": 6.25}]}
    with av.open(str(clip.gif)) as gif:
        assert not gif.streams.audio

    silent = studio.generate(build_spec(prompt="a blue box moves right", video=str(drum), strength=0.5, seed=5,
                                        audio=False, **EDIT), tmp_path / "silent.mp4")
    assert read_audio(silent.clips[0].video) is None
    assert json.loads(silent.clips[0].sidecar.read_text())["audio"] is None


def test_an_edit_of_a_silent_clip_stays_silent(studio, tmp_path):
    source = tmp_path / "quiet.mp4"
    finish_clip(moving_box(25, 96, 64), 4, source, PostSettings(width=192, height=128, fps=4, interpolation="none"),
                {"prompt": "a red box"})
    out = studio.generate(build_spec(prompt="a blue box", video=str(source), strength=0.5, seed=5, **EDIT),
                          tmp_path / "edit.mp4")
    assert read_audio(out.clips[0].video) is None
    assert json.loads(out.clips[0].sidecar.read_text())["audio"] is None


def test_an_extension_by_a_silent_model_keeps_the_sources_sound_then_silence(studio, drum, tmp_path):
    spec = build_spec(prompt="a red box moves right", extend_from=str(drum), seconds=2, frames=9, seed=4,
                      **EDIT).check_inputs()  # cogvideox-shapes-i2v: no sound of its own
    clip = studio.generate(spec, tmp_path / "longer.mp4").clips[0]
    sound = track(clip.video)
    assert sound["codec"] == "aac" and abs(sound["video"] - (SOURCE_SECONDS + 2)) <= 0.1
    assert abs(sound["seconds"] - sound["video"]) <= 0.1 and abs(sound["decoded"] - sound["video"]) <= 0.1
    split = round(SOURCE_SECONDS * RATE)
    before, after = sound["samples"][:, :split - 800], sound["samples"][:, split + 800:]
    assert abs(loudest_hz(before, RATE) - 440) < 5 and rms(before) > 0.2  # the source's tone under its part
    assert rms(after) < 0.01  # the new part is silent
    audio = json.loads(clip.sidecar.read_text())["audio"]
    assert audio["seconds"] == 8.25 and audio["from"] == [{"sound": "source", "file": "drum.mp4", "seconds": 6.25},
                                                          {"sound": "silence", "seconds": 2.0}]


def test_an_extension_with_the_models_sound_joins_it_after_the_sources(drum, tmp_path):
    """The post step an extension by a model with sound ends in: the source's tone, then the new
    part's own sound (here an 880 Hz tone standing in for the model's); `sound=False` drops both."""
    from shotsmith.post.stitch import stitch_clip

    new = moving_box(8, 96, 64)
    settings = PostSettings(width=192, height=128, fps=4, interpolation="none", gif=False)
    native = {"frames": 8, "width": 96, "height": 64, "fps": 4.0}
    clip = stitch_clip(drum, new, new[0], 4, tmp_path / "more.mp4", settings, {"prompt": "more"}, native, [],
                       new_audio=tone(880, 2.0, channels=1), sample_rate=RATE)
    sound = track(clip.video)
    assert sound["samples"].shape[0] == 1  # joined at the model's rate and channels
    assert abs(sound["seconds"] - sound["video"]) <= 0.1 and abs(sound["video"] - 8.25) <= 0.1
    split = round(SOURCE_SECONDS * RATE)
    assert abs(loudest_hz(sound["samples"][:, :split - 800], RATE) - 440) < 5
    assert abs(loudest_hz(sound["samples"][:, split + 800:], RATE) - 880) < 5
    audio = json.loads(clip.sidecar.read_text())["audio"]
    assert (audio["channels"], audio["from"][1]) == (1, {"sound": "model", "seconds": 2.0})

    quiet = stitch_clip(drum, new, new[0], 4, tmp_path / "quiet.mp4", settings, {"prompt": "more"}, native, [],
                        new_audio=tone(880, 2.0), sample_rate=RATE, sound=False)
    assert read_audio(quiet.video) is None and json.loads(quiet.sidecar.read_text())["audio"] is None


def test_an_extension_segment_keeps_the_sound_of_the_frames_it_keeps():
    from shotsmith.engine.extend import kept_sound

    fps, rate = 4, 100
    ramp = np.arange(9 * rate // fps, dtype=np.float32)[None] / 1000  # 9 frames of sound, each sample its index
    kept = kept_sound(ramp, rate, fps, keep=6)
    # frame 0 (the start frame again) is dropped with its 25 samples; frames 1..6 keep theirs
    assert kept.shape == (1, 150) and kept[0, 0] == pytest.approx(25 / 1000) and kept[0, -1] == pytest.approx(174 / 1000)


@pytest.mark.slow
def test_an_ltx2_clip_extended_by_ltx2_keeps_its_sound_then_the_models(tiny_ltx2_dirs, tmp_path):
    """End to end on the tiny LTX-2 folders: a 9-frame clip with sound, extended by half a second
    in two image-to-video segments of LTX-2 (the same modules, its index naming LTX-2's I2V
    pipeline): the source's sound, then the sound the model made for the kept frames."""
    import shutil

    from shotsmith.engine import Engine

    i2v = tmp_path / "tiny-ltx2-i2v"
    shutil.copytree(tiny_ltx2_dirs["t2v"], i2v)
    index = json.loads((i2v / "model_index.json").read_text())
    (i2v / "model_index.json").write_text(json.dumps({**index, "_class_name": "LTX2ImageToVideoPipeline"}))
    studio = Studio(Engine(device="cpu"))
    out = dict(width=192, height=128, fps=24, interpolation="none", enhance=False, steps=2, guidance=1.0)
    source = tmp_path / "drum.mp4"
    studio.generate(build_spec(prompt="a drum is struck", model=str(tiny_ltx2_dirs["t2v"]), seed=3, **out), source)
    heard, _ = read_audio(source)

    spec = build_spec(prompt="the drum is struck again", model=str(i2v), extend_from=str(source), seconds=0.5,
                      frames=9, seed=4, **out).check_inputs()
    clip = studio.generate(spec, tmp_path / "longer.mp4").clips[0]
    sound = track(clip.video)
    assert sound["codec"] == "aac" and abs(sound["video"] - (9 + 12) / 24) <= 0.1
    assert abs(sound["seconds"] - sound["video"]) <= 0.1 and abs(sound["decoded"] - sound["video"]) <= 0.1
    split = round(9 / 24 * RATE)
    assert abs(rms(sound["samples"][:, :split]) - rms(heard[:, :split])) <= 0.25 * rms(heard)  # the source's
    assert rms(sound["samples"][:, split:]) > 0.005  # the model's sound, not silence
    audio = json.loads(clip.sidecar.read_text())["audio"]
    assert audio["from"] == [{"sound": "source", "file": "drum.mp4", "seconds": 0.375},
                             {"sound": "model", "seconds": 0.5}]
    assert [r["kept"] for r in json.loads(clip.sidecar.read_text())["metadata"]["segments"][-1]["renders"]] == [8, 4]
