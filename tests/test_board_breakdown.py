"""Storyboard breakdown (script -> shots) and the board limits: what a user pastes, what shots come out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_prompt_llm import ChatServer, server  # noqa: F401  (server is a fixture: a real OpenAI-compatible chat server)

from shotsmith.board import limits
from shotsmith.board.breakdown import breakdown, describe_subjects, find_subjects, split_script
from shotsmith.errors import FieldError
from shotsmith.prompt import LLMConfig

SCRIPT = Path(__file__).parent / "data" / "board_script.md"
PIP = "a small red ball"


def test_the_test_script_breaks_into_five_shots_with_one_continued():
    shots = split_script(SCRIPT.read_text())
    assert [s.title for s in shots] == ["Meadow", "Beach", "Beach, a moment later", "Open sky", "Night"]
    assert [s.mode for s in shots] == ["t2v", "t2v", "continue", "t2v", "t2v"]
    # "(2 s)" is snapped to what the embedded model renders: 9 frames at 4 fps
    assert [s.duration for s in shots] == [2.25] * 5
    # the text stays as written (marks removed); the description follows Pip into every prompt
    assert shots[1].text == "Pip rolls to the left along the sand."
    for shot in shots:
        if "Pip" in shot.text:  # Pip's look reaches the model, in its own words where it has them
            assert f"Pip, {PIP}," in shot.prompt or "red circle" in shot.prompt, shot.prompt
    assert "blue square" in shots[3].prompt and PIP not in shots[3].prompt
    # the embedded models read 48 tokens: the agent gives the text-to-video model a shot in words it
    # was not trained on ("Pip", "along") in its training words (docs/prompt-agent.md), and so does the
    # image-to-video model for a continued shot (it starts from the previous shot's last frame)
    assert shots[1].prompt == "A red circle moves left on sand."
    assert shots[2].prompt == "A red circle moves left on sand."


def test_screenplay_sluglines_dialogue_and_continuous():
    script = """INT. KITCHEN - NIGHT

Mara, a tall woman in a yellow raincoat, opens the fridge.

MARA
(whispering)
Nothing again.

She closes the door and sighs. (3 s)

EXT. STREET - CONTINUOUS

Mara walks out into the rain.
"""
    result = breakdown(script, model="cogvideox-2b")
    shots = result.shots
    assert [s.title for s in shots] == ["INT. KITCHEN - NIGHT", "INT. KITCHEN - NIGHT (2)", "EXT. STREET - CONTINUOUS"]
    assert all("Nothing again" not in s.text for s in shots)  # dialogue is not a shot
    assert [s.mode for s in shots] == ["t2v", "t2v", "continue"]
    assert "inside the kitchen at night" in shots[0].prompt
    assert result.subjects == {"Mara": "a tall woman in a yellow raincoat"}
    assert "Mara, a tall woman in a yellow raincoat, walks out into the rain" in shots[2].prompt
    # 3 s on CogVideoX-2B (8 fps, 8k+1 frames) is 25 frames; no mark: the model's own length
    assert shots[1].duration == 3.125 and shots[0].duration == 49 / 8


def test_plain_text_splits_by_paragraphs_then_lines_then_sentences():
    assert len(split_script("A red ball rolls right.\n\nA blue square falls down.\n\nA triangle rests.")) == 3
    assert len(split_script("- A red ball rolls right\n- A blue square falls down")) == 2
    sentences = split_script("A red ball rolls right. Then a blue square falls down! A green triangle rests.")
    assert [s.text for s in sentences] == ["A red ball rolls right.", "Then a blue square falls down!",
                                           "A green triangle rests."]
    assert [s.title for s in sentences] == ["Shot 1", "Shot 2", "Shot 3"]
    one = split_script("a red ball rolls to the right on green grass")
    assert len(one) == 1 and one[0].mode == "t2v" and one[0].duration == 6.25


def test_scene_lines_markdown_title_and_marks():
    script = ("# My film\n\n## Scene 1: A red ball rolls right\n\n## Scene 2\nCONTINUE: the red ball keeps "
              "rolling right [4 sec]\n\nScene 3 - a white square grows on the sand\n")
    shots = split_script(script)
    assert [(s.title, s.text, s.mode) for s in shots] == [
        ("Scene 1", "A red ball rolls right", "t2v"),
        ("Scene 2", "the red ball keeps rolling right", "continue"),
        ("Scene 3", "a white square grows on the sand", "t2v")]
    assert shots[1].duration == 4.25  # 17 frames of the image-to-video model at 4 fps
    # list items under a heading are beats of their own
    listed = split_script("## Beach\n- a red ball rolls left\n- a blue square falls down\n  onto the sand")
    assert [(s.title, s.text) for s in listed] == [("Beach", "a red ball rolls left"),
                                                   ("Beach (2)", "a blue square falls down onto the sand")]


def test_first_shot_cannot_continue_and_chinese_scene_headings():
    shots = split_script("第1场（继续）\n一个红色的圆向右移动\n\n第2场\n（继续）红色的圆继续向右移动")
    assert [s.mode for s in shots] == ["t2v", "continue"]
    assert any("first shot" in n for n in shots[0].notes)
    assert [s.title for s in shots] == ["第1场", "第2场"]


def test_subjects_need_a_description_and_a_second_mention():
    texts = ["Later, a blue square rises.", "Later the square falls.", "Bo, an old gray cube, waits.",
             "Zed, a green triangle, spins."]
    assert find_subjects(texts) == {}  # "Later" is no name; Bo and Zed are named once
    subjects = find_subjects(texts + ["Bo falls down.", "The triangle follows Bo's trail."])
    assert subjects == {"Bo": "an old gray cube"}
    assert describe_subjects("Bo falls down.", subjects) == "Bo, an old gray cube, falls down."
    assert describe_subjects("It follows Bo.", subjects) == "It follows Bo, an old gray cube."
    assert describe_subjects("Bo's trail glows.", subjects) == "Bo (an old gray cube)'s trail glows."
    assert describe_subjects("Bobby falls.", subjects) == "Bobby falls."  # whole names only


def test_style_is_applied_and_checked():
    shots = split_script("A girl waves at the sea.", style="anime-2d", model="cogvideox-2b")
    assert shots[0].style == "anime-2d" and "anime" in shots[0].prompt.lower()
    with pytest.raises(FieldError) as err:
        split_script("A girl waves.", style="no-such-style")
    assert err.value.field == "style"
    with pytest.raises(FieldError) as err:
        split_script("A girl waves.", model="no-such-model")
    assert err.value.field == "model"


@pytest.mark.parametrize("script, kind, words", [
    ("", "missing", "empty"),
    ("   \n\n\t  ", "missing", "empty"),
    ("\x00\x01\x02", "missing", "empty"),
    ("<!-- only a note -->", "missing", "no shot"),
    ("x" * (limits.MAX_SCRIPT_BYTES + 1), "invalid", "bytes"),
    ("é" * (limits.MAX_SCRIPT_BYTES // 2 + 1), "invalid", "bytes"),  # counted in UTF-8 bytes
    ("a red ball \ud800 rolls", "invalid", "surrogate"),
    (42, "invalid", "expected text"),
])
def test_bad_scripts_are_refused_naming_script(script, kind, words):
    with pytest.raises(FieldError) as err:
        split_script(script)
    assert err.value.field == "script" and err.value.kind == kind and words in err.value.message


def test_two_megabyte_script_is_refused_before_any_work():
    big = "A red ball rolls right.\n" * 90_000  # ~2 MB
    with pytest.raises(FieldError) as err:
        split_script(big)
    assert err.value.field == "script" and "2,160,000 bytes" in err.value.message


def test_too_many_shots_and_too_long_a_shot_are_refused():
    with pytest.raises(FieldError) as err:
        split_script("\n".join(f"A red ball rolls right, take {i}." for i in range(200)))
    assert err.value.field == "script" and "200 shots" in err.value.message
    with pytest.raises(FieldError) as err:
        split_script("## One\n" + "a red ball rolls " * 200)
    assert err.value.field == "script" and "shot 1" in err.value.message
    assert len(split_script("\n".join(f"A red ball rolls right, take {i}." for i in range(limits.MAX_SHOTS)))) \
        == limits.MAX_SHOTS


def test_control_characters_are_dropped_and_line_endings_normalised():
    shots = split_script("A red ball\x07 rolls right.\r\n\r\nA blue square\x1b falls down.")
    assert [s.text for s in shots] == ["A red ball rolls right.", "A blue square falls down."]


def test_limits_validators_name_the_field():
    assert limits.check_board_name("  My film  ") == "My film"
    cases = [
        (lambda: limits.check_board_name(""), "name"), (lambda: limits.check_board_name("a\nb"), "name"),
        (lambda: limits.check_board_name("x" * 121), "name"), (lambda: limits.check_shot_count(200), "shots"),
        (lambda: limits.check_board_count(limits.MAX_BOARDS_PER_OWNER + 1), "name"),
        (lambda: limits.check_duration(0), "duration"), (lambda: limits.check_duration(float("nan")), "duration"),
        (lambda: limits.check_duration(True), "duration"), (lambda: limits.check_candidates(5), "candidates"),
        (lambda: limits.check_candidates(2.0), "candidates"), (lambda: limits.check_seed(-1), "seed"),
        (lambda: limits.check_mode("v2v"), "mode"), (lambda: limits.check_crossfade(1.5), "crossfade"),
        (lambda: limits.check_shot_text("  "), "text"), (lambda: limits.check_shot_prompt("x" * 5000), "prompt"),
        (lambda: limits.check_backend("gpt"), "backend"), (lambda: split_script("a", backend="gpt"), "backend"),
        (lambda: split_script("a", default_duration=-1), "default_duration"),
    ]
    for call, field in cases:
        with pytest.raises(FieldError) as err:
            call()
        assert err.value.field == field
    assert limits.check_shot_count(limits.MAX_SHOTS) == limits.MAX_SHOTS
    assert limits.check_mode(" Continue ") == "continue" and limits.check_seed(None) is None
    assert limits.check_title("Scene\n3") == "Scene 3"


# --- the LLM backend, against a real OpenAI-compatible HTTP server ---------------------------

def _config(srv: ChatServer) -> LLMConfig:
    return LLMConfig(base_url=srv.base_url, model="test-model", timeout=5)


GOOD_BREAKDOWN = {"shots": [
    {"title": "Meadow", "text": "Pip rolls right across the grass.", "mode": "t2v", "duration": 2,
     "prompt": "Static wide shot. Pip, a small red ball, rolls right across the green grass."},
    {"title": "Beach", "text": "Pip rolls left on the sand.", "mode": "t2v", "duration": 2,
     "prompt": "Static wide shot. Pip rolls to the left along the sand."},
    {"title": "Later", "text": "Pip keeps rolling left.", "mode": "continue", "duration": 4,
     "prompt": "The scene from the first frame continues as Pip keeps rolling to the left."},
]}


def test_llm_breakdown_is_used_when_good(server):
    server.script = [{"content": "```json\n" + json.dumps(GOOD_BREAKDOWN) + "\n```"}]
    result = breakdown(SCRIPT.read_text(), backend="llm", settings=_config(server))
    assert result.backend_used == "llm" and result.fallback_reason is None
    assert [s.title for s in result.shots] == ["Meadow", "Beach", "Later"]
    assert [s.mode for s in result.shots] == ["t2v", "t2v", "continue"]
    assert [s.duration for s in result.shots] == [2.25, 2.25, 4.25]
    # the LLM forgot Pip's description in shot 2: the rule puts it back
    assert "Pip, a small red ball, rolls to the left" in result.shots[1].prompt
    sent = server.requests[0]["body"]["messages"]
    assert "<script>" in sent[1]["content"] and "Pip, a small red ball" in sent[1]["content"]


@pytest.mark.parametrize("step, reason", [
    ({"content": "Here are your shots: 1. a ball"}, "not JSON"),
    ({"content": json.dumps({"shots": []})}, "shape"),
    ({"content": json.dumps({"shots": [{"title": "A", "text": "b", "prompt": "c", "mode": "v2v"}]})}, "mode"),
    ({"status": 500, "content": "boom"}, "HTTP 500"),
    ({"content": json.dumps(GOOD_BREAKDOWN), "finish_reason": "length"}, "cut off"),
])
def test_llm_failures_fall_back_to_the_rules_backend(server, step, reason):
    server.script = [step]
    result = breakdown(SCRIPT.read_text(), backend="llm", settings=_config(server))
    assert result.backend_used == "rules" and reason in result.fallback_reason
    assert [s.title for s in result.shots] == [s.title for s in split_script(SCRIPT.read_text())]
    assert result.shots[0].notes[0].startswith("breakdown: used the rules backend")


def test_llm_without_an_endpoint_falls_back(monkeypatch):
    monkeypatch.delenv("SHOTSMITH_LLM_BASE_URL", raising=False)
    result = breakdown("A red ball rolls right.", backend="llm", settings=LLMConfig())
    assert result.backend_used == "rules" and "no LLM endpoint configured" in result.fallback_reason
