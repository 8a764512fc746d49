"""Read a prompt into the six formula slots, without changing it.

`parse(text)` reports which of camera, lighting, subject, movement, scene and mood the
user already gave, with the user's own phrase for each, plus the facts the filler must
not contradict (colours, times of day, feelings) and whether the prompt belongs to
the shapes world of the embedded model. It is lexicon-based, deterministic and fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import lexicon as lx

SLOTS = ("camera", "lighting", "subject", "movement", "scene", "mood")

PREPOSITIONS = {
    "under", "at", "on", "in", "over", "across", "through", "inside", "near", "beside", "against",
    "among", "amid", "above", "below", "along", "by", "behind", "beneath", "around", "within", "with",
    "from", "into", "onto", "during", "before", "after", "between", "beyond", "toward", "towards",
    "outside", "upon", "atop", "while", "creating", "giving", "exuding", "set",
}
DETERMINERS = {
    "a", "an", "the", "this", "that", "these", "those", "some", "its", "his", "her", "their", "our", "my",
    "your", "one", "two", "three", "four", "five", "several", "many", "few", "each", "every", "with",
    "of", "and", "no", "any",
}
STOPWORDS = DETERMINERS | PREPOSITIONS | {
    "is", "are", "was", "were", "be", "to", "as", "it", "they", "she", "he", "we", "you", "i", "very",
    "so", "too", "also", "just", "s", "there", "here", "then", "than", "but", "or", "nor", "for",
    "all", "full", "fully", "visible",
}
# Adjectives and nouns that only describe how a shot looks; a clause made of these and
# slot cues names no subject ("warm golden sunlight", "Realistic depiction").
DESCRIPTOR_WORDS = lx.COLOUR_WORDS | {
    "warm", "cold", "cool", "soft", "harsh", "hard", "bright", "dim", "dark", "deep", "gentle", "natural",
    "ambient", "high", "low", "wide", "extreme", "medium", "slow", "fast", "steady", "static", "beautiful",
    "vivid", "vibrant", "rich", "detailed", "detail", "details", "ultra", "quality", "view", "angle",
    "scene", "upward", "downward", "movement", "slowly", "quickly", "lifting", "head", "colors",
    "colours", "color", "colour", "tones", "hues", "up", "down", "dramatic", "cinematic", "realistic",
    "definition", "lighting", "light", "lights", "attention", "style", "depiction", "animation",
    "look", "shot", "shots", "frame", "overall", "subtle", "strong", "faint", "diffuse", "diffused",
    "flat", "even", "golden", "neon", "moody", "cozy", "dreamy", "tense", "daily", "life", "movie",
    "film", "mood", "atmosphere", "vibe", "tone", "feel", "image", "picture", "clip", "video",
} | lx.GENERIC_SCENE
PRONOUNS = {"she", "he", "they", "it", "we", "i", "you"}  # "she laughs": a subject, if a short one
LEAD_WORDS = {"showing", "featuring", "depicting", "there", "is", "are", "we", "see", "see:", "of"}


@dataclass(frozen=True)
class Parsed:
    """What the rule backend read from the user's text."""

    text: str
    found: dict[str, str] = field(default_factory=dict)  # slot -> the user's phrase
    has_style: bool = False  # names a look ("anime style", "4K"), not only a feeling
    shapes: bool = False  # a shapes-world prompt: coloured shapes over a background
    colours: frozenset[str] = frozenset()
    times: frozenset[str] = frozenset()
    affects: frozenset[str] = frozenset()
    english: bool = True

    @property
    def missing(self) -> list[str]:
        return [s for s in SLOTS if s not in self.found]


def _compile(patterns: list[str]) -> re.Pattern:
    return re.compile(r"(?<![\w'])(?:" + "|".join(patterns) + r")(?![\w'])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _regexes() -> dict[str, re.Pattern]:
    return {
        "camera": _compile(lx.CAMERA_PATTERNS),
        "lighting": _compile(lx.LIGHTING_PATTERNS),
        "style": _compile(lx.STYLE_PATTERNS),
        "style_phrase": _compile([r"[\w-]+(?: [\w-]+)? style"]),
        "mood_noun": _compile(lx.MOOD_NOUN_PATTERNS),
        "mood": _compile(lx.MOOD_NOUN_PATTERNS + lx.MOOD_PATTERNS),
        "motion_phrase": _compile(lx.MOTION_PHRASES),
        "scene": _compile(sorted(set(lx.SCENE_NOUNS), key=len, reverse=True)),
        "shapes_scene": _compile(sorted(set(lx.SCENE_NOUNS) - {"square"} | {
            "sky", "grass", "lawn", "meadow", "night", "sand", "beach", "desert", "dunes", "studio"},
            key=len, reverse=True)),
    }


_TOKEN = re.compile(r"[\w'’-]+")
_CLAUSE = re.compile(r"[^,.;:!?\n()]+")


def _clauses(text: str) -> list[tuple[int, str]]:
    """Comma/sentence-separated pieces with their start offsets."""
    out = []
    for m in _CLAUSE.finditer(text):
        piece = m.group()
        stripped = piece.strip()
        if stripped:
            out.append((m.start() + piece.index(stripped), stripped))
    return out


def _phrase(text: str, start: int, end: int, clauses: list[tuple[int, str]]) -> str:
    """The user's phrase around a match: its clause, or a window of it if the clause is long."""
    for c_start, clause in clauses:
        if c_start <= start < c_start + len(clause):
            tokens = list(_TOKEN.finditer(clause))
            if len(tokens) <= 10:
                return clause
            rel = start - c_start
            idx = next((i for i, t in enumerate(tokens) if t.end() > rel), 0)
            lo, hi = max(0, idx - 3), min(len(tokens), idx + 6)
            return clause[tokens[lo].start():tokens[hi - 1].end()]
    return text[start:end]


def _is_verb_at(tokens: list[str], i: int) -> bool:
    """A movement verb used as a verb, not as an adjective ("a bustling street")."""
    word = tokens[i].lower()
    if word not in lx.MOTION_WORDS:
        return False
    if word.endswith(("ing", "ed")) and i > 0 and tokens[i - 1].lower() in DETERMINERS:
        return False
    return True


def _subject_in(clause: str) -> tuple[str, bool]:
    """The noun phrase that opens a clause, and whether a movement verb follows it."""
    tokens = [t.group() for t in _TOKEN.finditer(clause)]
    low = [t.lower() for t in tokens]
    if not tokens or low[0] in PREPOSITIONS:
        return "", False
    # Skip a leading shot/light description: "close-up of a cat", "harsh light on a man's face".
    start = 0
    for i, w in enumerate(low[:-1]):
        if w in ("of", "on", "showing", "featuring", "following", "depicting") and i > 0:
            head = " ".join(tokens[:i])
            if _regexes()["camera"].search(head) or _regexes()["lighting"].search(head) \
                    or _regexes()["style"].search(head):
                start = i + 1
                break
    while start < len(low) and low[start] in LEAD_WORDS:
        start += 1
    phrase: list[str] = []
    has_verb = False
    phrase_re = _regexes()["motion_phrase"]
    end = len(tokens)
    for i in range(start, len(tokens)):
        w = low[i]
        if (_is_verb_at(tokens, i) or (w in lx.VERB_STOPS and i > start)
                or phrase_re.match(" ".join(low[i:i + 4]))):
            end = i
            break
        if w in PREPOSITIONS - {"with", "in", "of"} and i > start:
            end = i
            break
        if w.endswith("ed") and i + 1 < len(low) and low[i + 1] in ("with", "in", "by", "into") and i > start:
            end = i
            break
        phrase.append(tokens[i])
    phrase = phrase[:16]
    # a real action follows the phrase (not only "is", "filled with")
    has_verb = any(_is_verb_at(tokens, j) for j in range(end, len(tokens))) or bool(
        phrase_re.search(" ".join(low[end:])))
    while phrase and phrase[-1].lower() not in PRONOUNS and (
            phrase[-1].lower() in STOPWORDS or phrase[-1].lower().endswith("ly")):
        phrase.pop()
    content = [w for w in phrase if w.lower() in PRONOUNS
               or (w.lower() not in STOPWORDS and w.lower() not in DESCRIPTOR_WORDS)]
    if not content:
        return "", has_verb
    return " ".join(phrase), has_verb


def _is_descriptor(clause: str) -> bool:
    """True when a clause only says how the shot looks (no thing in it)."""
    rx = _regexes()
    stripped = clause
    for key in ("camera", "lighting", "style", "mood"):
        stripped = rx[key].sub(" ", stripped)
    rest = [w for w in lx.words(stripped) if w not in STOPWORDS and w not in DESCRIPTOR_WORDS]
    return not rest


def _subject(clauses: list[tuple[int, str]]) -> str:
    first = ""
    for _, clause in clauses:
        if _is_descriptor(clause):
            continue
        phrase, has_verb = _subject_in(clause)
        if phrase and has_verb:
            return phrase
        first = first or phrase
    return first


def _english(text: str) -> bool:
    """Mostly ASCII letters, and (past two words) a fifth of the words known to the lexicon."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) / len(letters) < 0.7:
        return False
    tokens = lx.words(text)
    if len(tokens) <= 2:
        return True
    known = sum(t in _known_words() for t in tokens)
    return known / len(tokens) >= 0.2


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    return frozenset(lx.ENGLISH_HINTS | lx.MOTION_WORDS | lx.VERB_STOPS | set(lx.SCENE_NOUNS) | lx.COLOUR_WORDS
                     | lx.SHAPE_NOUNS | lx.AFFECT_WORDS | lx.TIME_WORDS | lx.DIRECTION_WORDS | STOPWORDS
                     | DESCRIPTOR_WORDS)


def parse(text: str) -> Parsed:
    """Find the formula slots the user already filled, with the user's phrase for each."""
    rx = _regexes()
    clauses = _clauses(text)
    tokens = lx.words(text)
    token_set = set(tokens)
    colours = frozenset(token_set & lx.COLOUR_WORDS)
    shapes = bool(colours) and bool(token_set & (lx.SHAPE_NOUNS - {"star", "stars", "diamond"}))
    found: dict[str, str] = {}

    def note(slot: str, m: re.Match | None) -> None:
        if m and slot not in found:
            found[slot] = _phrase(text, m.start(), m.end(), clauses)

    def note_from(slot: str, m: re.Match | None) -> None:
        """The phrase from the match to the end of its clause (at most 8 words)."""
        if m and slot not in found:
            end = next((c + len(cl) for c, cl in clauses if c <= m.start() < c + len(cl)), m.end())
            found[slot] = " ".join(text[m.start():end].split()[:8])

    note("camera", rx["camera"].search(text))
    note("lighting", rx["lighting"].search(text))
    subject = _subject(clauses)
    if subject:
        found["subject"] = subject
    raw = [t.group() for t in _TOKEN.finditer(text)]
    verb_at = next((i for i in range(len(raw)) if _is_verb_at(raw, i)), None)
    phrase_m = rx["motion_phrase"].search(text)
    if verb_at is not None:
        m = list(_TOKEN.finditer(text))[verb_at]
        if phrase_m and phrase_m.start() < m.start():
            m = phrase_m
        note_from("movement", m)
    elif phrase_m:
        note_from("movement", phrase_m)
    else:
        # an adjectival movement word still states motion ("a bustling street")
        any_motion = next((t for t in _TOKEN.finditer(text) if t.group().lower() in lx.MOTION_WORDS), None)
        note_from("movement", any_motion)
    note("scene", (rx["shapes_scene"] if shapes else rx["scene"]).search(text))
    style_m = rx["style"].search(text)
    for key in ("style_phrase", "mood_noun", "style", "mood"):
        note("mood", rx[key].search(text))
    return Parsed(
        text=text,
        found=found,
        has_style=bool(style_m),
        shapes=shapes,
        colours=colours,
        times=frozenset(token_set & lx.TIME_WORDS),
        affects=frozenset(token_set & lx.AFFECT_WORDS),
        english=_english(text),
    )
