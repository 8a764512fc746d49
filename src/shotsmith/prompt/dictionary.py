"""The agent's dictionary: English words outside the embedded models' vocabulary that name one of
the shapes world's colours, shapes, motions or backgrounds ("crate" -> square, "cerulean" -> blue,
"wanes" -> shrinks, "sod" -> grass).

Built from WordNet 3.0's definitions by `build_dictionary` (general rules, no word listed by hand)
and shipped as prompt/data/world_dictionary.json. The lexicon's hand-written synonyms are read
first; this fills in only the words they do not know.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

DICTIONARY_PATH = Path(__file__).parent / "data" / "world_dictionary.json"
_WORD = re.compile(r"(?<![\w-])[a-z]+(?:-[a-z]+)?(?![\w-])")


@functools.lru_cache(maxsize=1)
def _entries() -> dict[str, tuple[str, str, str]]:
    if not DICTIONARY_PATH.is_file():
        return {}  # a source checkout before the first build: the lexicon alone
    data = json.loads(DICTIONARY_PATH.read_text(encoding="utf-8"))
    return {form: tuple(entry) for form, entry in data["words"].items()}


def lookup(word: str) -> tuple[str, str] | None:
    """(kind, value) the dictionary gives `word` (lower case), or None."""
    entry = _entries().get(word.lower())
    return (entry[0], entry[1]) if entry else None


def is_plural_noun(word: str) -> bool:
    """A shape or background noun in a plural form ("crates")."""
    entry = _entries().get(word.lower())
    return bool(entry) and entry[0] in ("shape", "background") and word.lower() != entry[2]


def word_spans(text: str, taken: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, value) of each dictionary word in `text` outside the `taken` spans."""
    low = text.lower().replace("’", "'")
    out = []
    for m in _WORD.finditer(low):
        s, e = m.span()
        if any(s < te and ts < e for ts, te, _, _ in taken):
            continue
        hit = lookup(m.group())
        if hit is not None:
            out.append((s, e, hit[0], hit[1]))
    return out


def known_words() -> set[str]:
    """The words the embedded models were trained on and the single words the lexicon reads:
    the dictionary leaves them to those."""
    from shotsmith.train.world import training_vocabulary

    from .lexicon import CANON_COLOURS, CANON_SHAPES

    known = set(training_vocabulary())
    for table in (CANON_COLOURS, CANON_SHAPES):
        known |= {p for phrases in table.values() for p in phrases if " " not in p}
    return known
