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


def input_error_of(**kw) -> SpecError:
    spec = build_spec(**kw)  # a pure data check: no file is read here
    with pytest.raises(SpecError) as info:
        spec.check_inputs()  # the one explicit step that reads files
    return info.value


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"this is text, not a PNG")
    exc = input_error_of(prompt="", model="cogvideox-shapes-i2v", image=str(bad))
    assert exc.field == "image" and "not a readable image" in str(exc)
    assert "does not exist" in str(input_error_of(prompt="", model="cogvideox-shapes-i2v",
                                                  image=str(tmp_path / "x.png")))


def test_the_model_entry_is_resolved_once(monkeypatch):
    import shotsmith.spec as spec_module

    calls = []
    real = spec_module.resolve
    monkeypatch.setattr(spec_module, "resolve", lambda *a: calls.append(a) or real(*a))
    spec = build_spec(prompt="x", seconds=4)
    spec.entry(), spec.native_frames(), spec.native_size(), spec.cache_choice(), spec.cost()
    assert spec.model_copy(update={"enhanced_prompt": "y"}).entry().name == "cogvideox-shapes"
    assert len(calls) == 1


@pytest.mark.parametrize("kw, field, kind", [
    (dict(prompt="x" * 5000), "prompt", "prompt_too_long"),
    (dict(prompt="x", enhanced_prompt="y" * 4001), "enhanced_prompt", "prompt_too_long"),
    (dict(prompt=""), "prompt", "missing"),
    (dict(prompt="x", model="no-such-model"), "model", "unknown_model"),
    (dict(prompt="x", cache="warp"), "cache", "invalid"),
    (dict(prompt="x", seconds=float("inf")), "seconds", "invalid"),
    (dict(prompt="x", guidance=float("nan")), "guidance", "invalid"),
    (dict(prompt="x", model="cogvideox-shapes\ud800"), "model", "invalid"),
    (dict(prompt="a ball \ud800"), "prompt", "invalid"),
    (dict(prompt="x", size_typo=1), "size_typo", "invalid"),
])
def test_errors_carry_their_field_and_kind(kw, field, kind):
    exc = error_of(**kw)
    assert (exc.field, exc.kind) == (field, kind)


def test_enhanced_prompt_drops_control_characters_like_the_prompt():
    spec = build_spec(prompt="x", enhanced_prompt="a red\x00 ball")
    assert spec.enhanced_prompt == "a red ball"


def test_cost_counts_output_pixels_frames_steps_and_candidates():
    spec = build_spec(prompt="x", candidates=2, steps=10, width=1440, height=960)
    assert spec.cost() == pytest.approx(1440 * 960 * 25 * 10 * 2 / 1e9)


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


# --- edit / extend / keyframe inputs (issue 21): which go together, named by field ---

@pytest.mark.parametrize("values, field", [
    ({"prompt": "x", "strength": 0.5}, "strength"),  # a strength without a clip to edit
    ({"prompt": "x", "video": "a.mp4", "extend_from": "b.mp4"}, "video"),
    ({"prompt": "x", "video": "a.mp4", "image": "a.png"}, "image"),
    ({"prompt": "x", "extend_from": "a.mp4", "image": "a.png"}, "image"),
    ({"prompt": "x", "last_image": "b.png"}, "last_image"),  # a last frame needs a first frame
    ({"prompt": "x", "video": "a.mp4", "model": "cogvideox-shapes-i2v"}, "model"),
    ({"prompt": "x", "extend_from": "a.mp4", "model": "cogvideox-shapes"}, "model"),
    ({"prompt": "x", "extend_from": "a.mp4", "seconds": 121}, "seconds"),
    ({"prompt": "x", "video": "a.mp4", "strength": 1.01}, "strength"),
])
def test_edit_extend_keyframe_rules_name_the_field(values, field):
    with pytest.raises(SpecError) as err:
        build_spec(**values)
    assert err.value.field == field


def test_operation_and_task_follow_the_inputs():
    assert build_spec(prompt="x").operation == "generate"
    edit = build_spec(prompt="x", video="a.mp4", strength=0.3)
    assert (edit.operation, edit.entry().task) == ("edit", "t2v")
    ext = build_spec(prompt="x", extend_from="a.mp4", seconds=8)
    assert (ext.operation, ext.entry().task) == ("extend", "i2v")


def test_unreadable_source_clip_is_refused_with_its_field(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but not really a video")
    for field in ("video", "extend_from"):
        spec = build_spec(prompt="x", **{field: str(bad)})
        with pytest.raises(SpecError) as err:
            spec.check_inputs()
        assert err.value.field == field and "not a readable video" in err.value.message
