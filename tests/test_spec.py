"""The one request type: every model rule is checked, with the field named."""

import pytest
from PIL import Image

from shotsmith.spec import SpecError, build_spec, parse_size


def error_of(**kw) -> SpecError:
    with pytest.raises(SpecError) as info:
        build_spec(**kw)
    return info.value


def test_defaults_follow_the_embedded_model():
    spec = build_spec(prompt="a red ball rolls to the right on green grass")
    entry = spec.entry()
    assert entry.name == "cogvideox-shapes"
    assert spec.native_size() == (96, 64)
    assert spec.native_frames() == 25
    assert (spec.width, spec.height, spec.fps) == (1440, 960, 24)


@pytest.mark.parametrize("kw, field, words", [
    (dict(prompt="x", width=1000), "width", "multiple of 16"),
    (dict(prompt="x", height=970), "height", "multiple of 16"),
    (dict(prompt="x", frames=24), "frames", "8k+1"),
    (dict(prompt="x", model="cogvideox1.5-5b", frames=49 + 8), "frames", "16k+1"),
    (dict(prompt="x", model="no-such-model"), "model", "unknown model"),
    (dict(prompt="x", model="cogvideox-5b-i2v"), "image", "needs a first-frame image"),
    (dict(prompt="x", seconds=-1), "seconds", "more than 0"),
    (dict(prompt=""), "prompt", "needs a prompt"),
    (dict(prompt="x", seed=-1), "seed", "greater than or equal to 0"),
    (dict(prompt="x", candidates=5), "candidates", "less than or equal to 4"),
    (dict(prompt="x", interpolation="magic"), "interpolation", "minterpolate"),
    (dict(prompt="x" * 5000), "prompt", "at most 4000"),
])
def test_bad_values_name_the_field_and_rule(kw, field, words):
    exc = error_of(**kw)
    assert exc.field == field
    assert words in str(exc)
    assert str(exc).startswith(field)


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")
    assert "not a readable image" in str(error_of(prompt="", model="cogvideox-shapes-i2v", image=str(bad)))
    assert "does not exist" in str(error_of(prompt="", model="cogvideox-shapes-i2v", image=str(tmp_path / "x.png")))


def test_fixed_size_i2v_model(tmp_path):
    img = tmp_path / "f.png"
    Image.new("RGB", (720, 480)).save(img)
    exc = error_of(prompt="x", model="cogvideox-5b-i2v", image=str(img), native_width=640)
    assert "720x480" in str(exc)


def test_seconds_pick_the_nearest_allowed_frame_count():
    assert build_spec(prompt="x", seconds=6).native_frames() == 25  # 6.25 s at 4 fps
    assert build_spec(prompt="x", seconds=4).native_frames() == 17
    assert build_spec(prompt="x", model="cogvideox-5b", seconds=6).native_frames() == 49
    assert build_spec(prompt="x", model="cogvideox1.5-5b", seconds=10).native_frames() == 161


def test_control_characters_are_dropped():
    assert build_spec(prompt="a red\x00 ball\x1b").prompt == "a red ball"


@pytest.mark.parametrize("text, ok", [("1440x960", (1440, 960)), ("720X480", (720, 480)), ("1440*960", (1440, 960))])
def test_parse_size(text, ok):
    assert parse_size(text) == ok


@pytest.mark.parametrize("text", ["1440", "axb", "1440x960x3", "-16x16", ""])
def test_parse_size_rejects(text):
    with pytest.raises(SpecError, match="size"):
        parse_size(text)


def test_spec_round_trips_through_json():
    spec = build_spec(prompt="a blue box falls", seed=7, candidates=2, style="documentary")
    again = type(spec).model_validate_json(spec.model_dump_json())
    assert again == spec
