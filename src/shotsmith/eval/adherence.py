"""Prompt adherence for the shapes world: compare what a caption states with what
the detector (`shotsmith.eval.detector`) reads from the frames.

The slots are colour, shape, motion, background and count (shared/docs/SHAPES_WORLD.md).
Expected slots look like `Scene.slots()` / the ``expected`` field of
``eval/data/heldout_captions.jsonl``::

    {"background": "sky", "count": 1,
     "objects": [{"colour": "orange", "shape": "circle", "motion": "still"}]}

Any value may be None (or missing): that slot is then not scored.

Scoring choice for the object slots (colour, shape, motion): each expected object
counts for an equal share, so with two objects a slot scores 0, 0.5 or 1 (half credit
per object). Expected objects are matched to detected ones by colour first (equal
colour names), then the rest by the assignment that agrees on the most of
shape/motion (ties: detector order). An expected object with no detected partner
scores 0 on its slots. Background and count score 0 or 1. A clip's ``overall`` is the
mean over its scored slots; ``aggregate`` averages per slot and overall, in percent.

`slots_from_caption(text)` reads the expected slots from a plain shapes-world caption
(world.py's training vocabulary plus common synonyms), for prompt files that carry no
expected answers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from shotsmith.prompt.lexicon import phrase_tokens
from shotsmith.train.world import (
    BACKGROUND_WORDS,
    COLOUR_WORDS,
    MOTION_WORDS,
    NOVEL_COLOUR_WORDS,
    NOVEL_SHAPE_WORDS,
    SHAPE_WORDS,
)

__all__ = ["AdherenceResult", "SLOTS", "score", "aggregate", "slots_from_caption"]

SLOTS = ("colour", "shape", "motion", "background", "count")
OBJECT_SLOTS = ("colour", "shape", "motion")


@dataclass
class AdherenceResult:
    slots: dict[str, float | None]  # per slot: 1.0/0.0 (0.5 for one of two objects), None = not scored
    overall: float  # mean of the scored slots, 0..1
    matches: list[dict] = field(default_factory=list)  # expected object -> detected object, per slot flags

    @property
    def correct(self) -> dict[str, bool | None]:
        """Per slot: fully right (True), not fully right (False), not scored (None)."""
        return {k: (None if v is None else v >= 0.999) for k, v in self.slots.items()}

    @property
    def all_correct(self) -> bool:
        return all(v is None or v >= 0.999 for v in self.slots.values())

    def to_dict(self) -> dict:
        return {"slots": dict(self.slots), "correct": self.correct, "overall": self.overall,
                "all_correct": self.all_correct, "matches": self.matches}


def _as_dict(detection) -> dict:
    if detection is None:
        return {"background": None, "count": 0, "objects": []}
    if isinstance(detection, dict):
        return detection
    return detection.to_dict()


def _match(expected: list[dict], detected: list[dict]) -> list[int | None]:
    """For each expected object, the index of its detected partner (or None)."""
    pairs: list[int | None] = [None] * len(expected)
    used: set[int] = set()
    # 1. equal colours
    for i, e in enumerate(expected):
        if e.get("colour") is None:
            continue
        for j, d in enumerate(detected):
            if j not in used and d.get("colour") == e.get("colour"):
                pairs[i] = j
                used.add(j)
                break
    # 2. best assignment of the rest by agreement on shape/motion
    rest_e = [i for i in range(len(expected)) if pairs[i] is None]
    rest_d = [j for j in range(len(detected)) if j not in used]
    if rest_e and rest_d:
        best, best_score = None, -1
        k = min(len(rest_e), len(rest_d))
        for es in itertools.combinations(rest_e, k):
            for ds in itertools.permutations(rest_d, k):
                s = sum(int(expected[i].get(key) is not None and expected[i].get(key) == detected[j].get(key))
                        for i, j in zip(es, ds) for key in ("shape", "motion"))
                if s > best_score:
                    best, best_score = list(zip(es, ds)), s
        for i, j in best or []:
            pairs[i] = j
    return pairs


def score(expected_slots: dict, detection) -> AdherenceResult:
    """Score a detection (``Detection`` or its ``to_dict()``) against expected slots."""
    det = _as_dict(detection)
    exp_objects = list(expected_slots.get("objects") or [])
    det_objects = list(det.get("objects") or [])
    slots: dict[str, float | None] = {}

    bg = expected_slots.get("background")
    slots["background"] = None if bg is None else float(det.get("background") == bg)
    count = expected_slots.get("count")
    if count is None and exp_objects:
        count = len(exp_objects)
    slots["count"] = None if count is None else float(int(det.get("count", len(det_objects))) == int(count))

    pairs = _match(exp_objects, det_objects)
    matches = []
    per_slot: dict[str, list[float]] = {k: [] for k in OBJECT_SLOTS}
    for e, j in zip(exp_objects, pairs):
        d = det_objects[j] if j is not None else {}
        m = {"expected": {k: e.get(k) for k in OBJECT_SLOTS}, "detected": (
            {k: d.get(k) for k in OBJECT_SLOTS} if j is not None else None)}
        for k in OBJECT_SLOTS:
            if e.get(k) is None:
                continue
            ok = j is not None and d.get(k) == e.get(k)
            m[k] = ok
            per_slot[k].append(float(ok))
        matches.append(m)
    for k in OBJECT_SLOTS:
        slots[k] = sum(per_slot[k]) / len(per_slot[k]) if per_slot[k] else None

    slots = {k: slots[k] for k in SLOTS}
    scored = [v for v in slots.values() if v is not None]
    overall = sum(scored) / len(scored) if scored else 0.0
    return AdherenceResult(slots=slots, overall=overall, matches=matches)


def aggregate(results) -> dict:
    """Per-slot and overall adherence in percent over many `AdherenceResult`s."""
    results = list(results)
    out: dict = {"n": len(results), "per_slot": {}}
    for k in SLOTS:
        vals = [r.slots[k] for r in results if r.slots.get(k) is not None]
        out["per_slot"][k] = round(100.0 * sum(vals) / len(vals), 2) if vals else None
    out["overall"] = round(100.0 * sum(r.overall for r in results) / len(results), 2) if results else None
    out["all_correct"] = round(100.0 * sum(r.all_correct for r in results) / len(results), 2) if results else None
    return out


# ---------------------------------------------------------------- caption parsing

_EXTRA_COLOURS = {
    "red": ["scarlet", "crimson", "ruby", "cherry", "vermilion", "vermillion", "brick red", "blood red"],
    "orange": ["amber", "tangerine", "apricot", "pumpkin", "orange-coloured", "orange-colored"],
    "yellow": ["canary", "lemon", "golden", "gold", "mustard", "sunflower"],
    "green": ["emerald", "lime", "jade", "leaf green", "olive", "forest green", "mint"],
    "blue": ["sapphire", "cobalt", "navy", "azure", "cerulean", "royal blue", "ultramarine"],
    "purple": ["violet", "plum", "lavender", "lilac", "magenta", "mauve", "amethyst", "indigo"],
    "white": ["ivory", "snow", "snowy", "pearl", "chalk", "milky", "pure white"],
    "black": ["jet", "ebony", "inky", "coal", "charcoal", "onyx", "pitch-black", "jet-black"],
    # novel LoRA vocabulary; "magenta" stays purple as before, bare "rose" could be a verb
    "pink": ["rose pink", "fuchsia", "flamingo pink", "salmon pink", "candy pink", "blush pink", "rosy",
             "pinkish", "baby pink"],
}
_EXTRA_SHAPES = {
    "circle": ["orb", "sphere", "disk", "dot", "round shape", "round object", "circular shape", "bubble",
               "circles", "balls", "spheres", "orbs", "discs", "disks"],
    "square": ["crate", "tile", "square tile", "squared shape", "cube", "rectangle", "squares", "boxes",
               "blocks", "cubes", "crates"],
    "triangle": ["pyramid", "three-sided shape", "triangular", "triangles", "wedges", "pyramids"],
    "star": ["stars", "five pointed star", "star-shaped", "star-shaped object", "starburst", "pentagram",
             "five-point star"],
}
_EXTRA_MOTIONS = {
    "grows": [r"grow(?:s|ing)?(?: larger| bigger| in size)?", r"gets? (?:bigger|larger)(?: and (?:bigger|larger))?",
              r"getting (?:bigger|larger)", r"expand(?:s|ing)?", r"enlarg(?:es|ing|e)", r"swell(?:s|ing)?(?: up)?",
              r"inflat(?:es|ing|e)", r"balloon(?:s|ing)?", r"becomes? (?:huge|bigger|larger|enormous|giant|big)",
              r"increases? in size", r"scales? up", r"zooms? (?:in|larger)"],
    "shrinks": [r"shrink(?:s|ing)?(?: away| down)?", r"gets? smaller(?: and smaller)?", r"getting smaller",
                r"contract(?:s|ing)?", r"dwindl(?:es|ing|e)", r"becomes? (?:tiny|smaller|small|little)",
                r"decreases? in size", r"scales? down", r"deflat(?:es|ing|e)", r"shrivels?"],
    "still": [r"stays? (?:still|put|in place|motionless|stationary|where it is)", r"sits? (?:still|motionless|quietly)",
              r"(?:does not|doesn't|does n't) move", r"not moving", r"motionless", r"stationary", r"unmoving",
              r"holds? (?:its|still|position|steady)(?: position| place)?", r"remains? (?:still|stationary|in place|motionless|put)",
              r"rests?(?: in place| still)?", r"resting", r"(?:stands?|keeps?|holds?|sits?|stays?|remains?|is) (?:perfectly |completely )?still",
              r"immobile", r"at rest", r"(?:stays|remains|is) fixed in place"],
    "left": [r"(?:to the |toward(?:s)? the )?left(?:wards?)?", r"westwards?"],
    "right": [r"(?:to the |toward(?:s)? the )?right(?:wards?)?", r"eastwards?"],
    "up": [r"(?<!-)up(?:wards?)?", r"rises?", r"rising", r"ascend(?:s|ing)?", r"climb(?:s|ing)?(?: up)?",
           r"soar(?:s|ing)?(?: up(?:wards?)?)?", r"lifts?(?: off| up(?:wards?)?)?", r"lifting", r"floats? up(?:wards?)?",
           r"goes up", r"moves? up(?:wards?)?"],
    "down": [r"(?<!-)down(?:wards?)?", r"falls?", r"falling", r"descend(?:s|ing)?", r"sinks?(?: down(?:wards?)?)?", r"sinking",
             r"drops?(?: down)?", r"dropping", r"plung(?:es|ing|e)(?: down)?", r"dives?", r"diving", r"moves? down(?:wards?)?"],
}
_BG_PATTERNS = {
    "night": [r"(?:(?:a|the) )?(?:(?:dark|pitch[- ]dark|pitch[- ]black|starless|starry|black|moonless|deep|inky|quiet)[ ,]+)*"
              r"night(?:[- ]?time)?(?:[ -](?:sky|background|backdrop|scene))?",
              r"darkness(?: at night)?", r"midnight(?: sky)?", r"night sky"],
    "sky": [r"(?:(?:clear|blue|azure|bright|daytime|daylight|open|cloudless|pale blue|sunny|light blue|summer)[ ,]+)*"
            r"(?:daytime )?sky(?:[ -](?:backdrop|background))?", r"skies", r"daytime backdrop"],
    "grass": [r"(?:(?:green|lush|grassy|short|fresh)[ ,]+)*(?:grass|lawn|meadow|turf|pasture|grassland|field of grass)",
              r"grassy (?:field|lawn|ground)"],
    "sand": [r"(?:(?:golden|sandy|desert|warm|beige|pale)[ ,]+)*(?:sand|beach|desert|dunes?)(?: of sand)?",
             r"sandy (?:beach|ground|floor)"],
    "gray studio": [r"(?:(?:plain|neutral|light|mid|medium|soft|flat|empty|simple)[ ,-]+)*(?:gray|grey)"
                    r"(?:[ -](?:studio|backdrop|background|set|wall|room|void|surface|backdrop))+",
                    r"(?:gray|grey) studio", r"studio (?:backdrop|background|set|void)", r"neutral (?:gray|grey)"],
}
_ARTICLES = re.compile(r"^(?:the|a|an) ")


def _word_re(phrase: str) -> str:
    """A literal phrase as regex: spaces/hyphens interchangeable."""
    parts = re.split(r"[\s-]+", phrase.strip())
    return r"[\s-]+".join(re.escape(p) for p in parts)


def _build() -> list[tuple[str, str, re.Pattern]]:
    table: list[tuple[str, str, str]] = []
    for name, pats in _BG_PATTERNS.items():
        table += [("background", name, p) for p in pats]
    for name, words in BACKGROUND_WORDS.items():
        table += [("background", name, _word_re(_ARTICLES.sub("", w))) for w in words]
    for name, words in {**COLOUR_WORDS, **NOVEL_COLOUR_WORDS}.items():
        table += [("colour", name, _word_re(w)) for w in set(words) | set(_EXTRA_COLOURS.get(name, []))]
    for name, words in {**SHAPE_WORDS, **NOVEL_SHAPE_WORDS}.items():
        table += [("shape", name, _word_re(w)) for w in set(words) | set(_EXTRA_SHAPES.get(name, []))]
    for name, words in MOTION_WORDS.items():
        table += [("motion", name, _word_re(w)) for w in set(words)]
    for name, pats in _EXTRA_MOTIONS.items():
        table += [("motion", name, p) for p in pats]
    return [(kind, name, re.compile(r"(?<!\w)" + p + r"(?!\w)")) for kind, name, p in table]


_TABLE = _build()
# When two phrases of the same length overlap, prefer (lower first):
_KIND_RANK = {"background": 0, "motion": 1, "shape": 2, "colour": 3}


def _tokens(text: str) -> list[tuple[int, str, str]]:
    """Non-overlapping (start, kind, value) phrases, longest first, in text order."""
    return phrase_tokens(text, _TABLE, _KIND_RANK)


def slots_from_caption(text: str) -> dict | None:
    """Expected slots stated by a plain shapes-world caption, or None if the text names
    no shapes-world object. Unstated values are None (not scored)."""
    if not text or not isinstance(text, str):
        return None
    toks = _tokens(text)
    bg_votes: dict[str, int] = {}
    for _, kind, name in toks:
        if kind == "background":
            bg_votes[name] = bg_votes.get(name, 0) + 1
    background = None
    if bg_votes:
        first = {name: i for i, (_, kind, name) in reversed(list(enumerate(toks))) if kind == "background"}
        background = max(bg_votes, key=lambda n: (bg_votes[n], -first[n]))

    objects: list[dict] = []
    pending_colour = None
    pending_motion = None  # a motion stated before any object
    current = None
    for _, kind, name in toks:
        if kind == "colour":
            pending_colour = name
        elif kind == "shape":
            obj = {"colour": pending_colour, "shape": name, "motion": None}
            pending_colour = None
            same = None
            for o in objects:  # a repeat mention ("... a red ball. The ball rolls left")
                if o["shape"] == name and (obj["colour"] is None or obj["colour"] == o["colour"]):
                    same = o
                    break
            if same is not None:
                current = same
                continue
            if pending_motion is not None and not objects:
                obj["motion"] = pending_motion
            objects.append(obj)
            current = obj
        elif kind == "motion":
            if current is None:
                pending_motion = pending_motion or name
            elif current["motion"] is None:
                current["motion"] = name
    if not objects:
        return None
    # "a red ball and a blue box both move left"
    if len(objects) == 2 and re.search(r"\bboth\b|\btogether\b", text.lower()):
        known = [o["motion"] for o in objects if o["motion"] is not None]
        if len(known) == 1:
            for o in objects:
                o["motion"] = known[0]
    return {"background": background, "count": len(objects), "objects": objects}
