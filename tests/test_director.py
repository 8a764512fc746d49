"""The rule backend as a director: camera, lighting and mood chosen from the content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shotsmith.prompt import director as dr
from shotsmith.prompt import enhance
from shotsmith.prompt import lexicon as lx
from shotsmith.prompt.parse import STOPWORDS
from shotsmith.prompt.presets import short_form

SEED_FILE = Path(__file__).resolve().parents[1].parent / "shared" / "prompts" / "seed_suite.jsonl"


def _seed() -> list[dict]:
    if not SEED_FILE.is_file():
        pytest.skip("seed suite not found")
    return [json.loads(line) for line in SEED_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _content_words(text: str) -> set[str]:
    return {w for w in lx.words(text) if w not in STOPWORDS and len(w) > 2}


def test_seed_suite_gets_six_slots_explicit_light_and_varied_camera_and_mood():
    rows = _seed()
    cameras, moods = set(), set()
    for row in rows:
        result = enhance(row["prompt"], mode=row["mode"])
        for slot, info in result.slots.items():
            assert info.source != "omitted" and info.text, (row["id"], slot)
        light = result.slots["lighting"]
        # a lighting phrase the prompt states: the user's own words naming the light, or the agent's
        if light.source == "user":
            assert dr.states_light(light.text), (row["id"], light)
        assert light.text.split(",")[0] in result.prompt or light.source == "user" or result.mode == "i2v"
        cameras.add(result.slots["camera"].text)
        moods.add(result.slots["mood"].text)
        # every fact the user gave is still there, word for word
        missing = _content_words(row["prompt"]) - set(lx.words(result.prompt))
        assert not missing, (row["id"], missing)
    assert len(rows) == 31
    assert len(cameras) >= 8 and len(moods) >= 8, (len(cameras), len(moods))


def test_the_agent_itself_varies_camera_and_mood_across_the_seed_suite():
    written_cameras, written_moods = set(), set()
    for row in _seed():
        result = enhance(row["prompt"], mode=row["mode"])
        if result.slots["camera"].source != "user":
            written_cameras.add(result.slots["camera"].text)
        if result.slots["mood"].source != "user":
            written_moods.add(result.slots["mood"].text)
    assert len(written_cameras) >= 8 and len(written_moods) >= 8, (written_cameras, written_moods)


def test_a_dropped_word_is_caught():
    """The facts check above is not vacuous: a prompt missing a word of the idea fails it."""
    idea = "An old fisherman mends a torn net on the pier."
    result = enhance(idea)
    assert not _content_words(idea) - set(lx.words(result.prompt))
    assert _content_words(idea) - set(lx.words(result.prompt.replace("torn ", "")))


def test_a_candle_a_ballerina_and_a_cook_get_different_shots_and_light():
    candle = enhance("a candle in a dark room")
    ballerina = enhance("a ballerina on a rooftop at night")
    cook = enhance("an elderly woman cooking")
    assert "candlelight" in candle.prompt and "low-key" in candle.slots["lighting"].text
    assert "low-key" in ballerina.slots["lighting"].text and "moonlight" in ballerina.prompt
    assert "close-up" in cook.slots["camera"].text and "window light" in cook.slots["lighting"].text
    assert "her face" in cook.prompt
    assert len({r.slots["camera"].text for r in (candle, ballerina, cook)}) == 3
    assert len({r.slots["mood"].text for r in (candle, ballerina, cook)}) == 3
    for r in (candle, ballerina, cook):
        assert r.slots["lighting"].source == "director" and r.slots["camera"].source == "director"


@pytest.mark.parametrize("idea, camera_word", [
    ("a close-up portrait: an old man smiles at the camera", None),  # the user's camera wins
    ("a lonely girl looks out of the window", "close-up"),
    ("a mountain valley covered in mist", "wide"),
    ("the skyline of a busy city", "aerial"),
    ("a horse gallops across a field", "tracking"),
    ("a bee lands on a flower", "macro"),
])
def test_camera_follows_the_content(idea, camera_word):
    result = enhance(idea)
    if camera_word is None:
        assert result.slots["camera"].source == "user"
    else:
        assert camera_word in result.slots["camera"].text, result.slots["camera"]


def test_implied_light_is_said_outright_and_agrees_with_the_words():
    night = enhance("Wide shot, a lighthouse on a cliff at night, waves below, a lonely atmosphere.")
    assert night.slots["lighting"].source == "director"
    assert "moonlight" in night.prompt and "sunlight" not in night.prompt
    dawn = enhance("Wide shot, fishing boats leave the harbour at dawn, a calm atmosphere.")
    assert "dawn" in dawn.slots["lighting"].text
    # words that already state the light are left alone
    lit = enhance("Close-up shot, soft candlelight on a sleeping baby's face, a tender atmosphere.")
    assert lit.slots["lighting"].source == "user"


def test_the_mood_agrees_with_the_feeling_and_the_style_tints_it():
    sad = enhance("a boy cries alone on a bench")
    assert sad.slots["mood"].text.startswith("wistful and melancholic")
    scared = enhance("a girl hides under the stairs, frightened")
    assert scared.slots["mood"].text.startswith("tense and uneasy")
    tinted = enhance("a candle in a dark room", style="pixar-3d")
    assert "hushed and intimate, with a storybook charm" in tinted.prompt
    assert "Pixar-style" in tinted.prompt


def test_detail_is_concrete_and_does_not_dress_a_dressed_subject():
    cook = enhance(scene="a kitchen with pots on the stove", content="An elderly woman cooks.")
    assert "casual home clothes" in cook.prompt and "utensils" in cook.prompt
    dressed = enhance(scene="a kitchen", content="An elderly woman in a red apron cooks, wearing a scarf.")
    assert "casual home clothes" not in dressed.prompt


def test_director_phrases_hold_no_colour_and_shrink_cleanly():
    for phrase in dr.all_phrases():
        assert not set(lx.words(phrase)) & lx.COLOUR_WORDS, phrase
        if not phrase.endswith("."):  # slot phrases, not the whole detail sentences
            assert len(short_form(phrase).split()) >= 2, phrase


def test_director_is_deterministic_and_fits_the_limit():
    ideas = ["a candle in a dark room", "一位老奶奶在厨房里做饭", "a horse gallops across a field at sunset"]
    for idea in ideas:
        first = enhance(idea)
        assert enhance(idea) == first
        assert first.tokens <= 226
        short = enhance(idea, token_limit=40)
        assert short.tokens <= 40 and idea in short.prompt
