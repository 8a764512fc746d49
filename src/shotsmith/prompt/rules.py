"""The rule backend: keep the user's text whole, add a sentence for each missing slot.

The user's words are never rewritten. The output is

    [camera + lighting lead] USER TEXT [lighting] [subject] [movement] [scene] [mood/style] [detail]

where each bracket appears only if the user left that slot empty. Filler comes from
the style preset (chosen, or named in the text), else from the neutral default, and a
filler phrase is skipped when it could contradict the user: it names a colour and the
user named one, a time of day and the user named one, a feeling and the user named
one (mood only), or, for a shapes-world prompt, any colour, shape, direction,
movement or background word. Image-to-video prompts describe motion from the first
frame and keep its lighting and surroundings.

If the result is over the token limit, filler is shortened (each phrase to the part
before its first comma), then left out, slot by slot; the user's text never is.

For a model with a short caption window (a token limit of at most
`VOCABULARY_TOKEN_LIMIT`: the embedded shapes-world models read 48 tokens), a
shapes-world prompt also gets one sentence that restates it in the model's own
training words (`lexicon.shapes_caption`: "A red circle moves right on green grass."),
right after the user's text. It is kept before any filler and left out only when the
user's text and it do not fit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import director as dr
from . import lexicon as lx
from .parse import Parsed
from .presets import Preset, default_preset, short_form
from .schema import SLOTS, SlotInfo
from .tokens import count_tokens

MIN_WORDS = 40  # a prompt shorter than this gets the preset's detail sentences
TARGET_MAX_WORDS = 130  # prefer the shorter filler past this many words
# The order filler is dropped in when even the short forms do not fit.
DROP_ORDER = ("mood", "scene", "lighting", "camera", "movement", "subject")
# Token limits up to this are the embedded models' (their folders' text_limit): the
# agent then adds the shapes-world restatement in the model's vocabulary.
VOCABULARY_TOKEN_LIMIT = 64

_SHAPES_GUARD = (lx.COLOUR_WORDS | lx.SHAPE_NOUNS | lx.MOTION_WORDS | lx.DIRECTION_WORDS
                 | lx.WORLD_BACKGROUND_WORDS | (set(lx.SCENE_NOUNS) - lx.GENERIC_SCENE))


@dataclass(frozen=True)
class Fill:
    text: str
    source: str  # "preset" | "default" | "director"


@dataclass
class Plan:
    """What goes around the user's text; rendered at different lengths by `render`."""

    mode: str
    user: str
    parsed: Parsed
    fills: dict[str, Fill] = field(default_factory=dict)
    style: Fill | None = None  # the look; part of the mood sentence, or its own sentence
    add_style_sentence: bool = False  # the user gave a mood but no look: the preset's or the default look
    details: list[str] = field(default_factory=list)
    canonical: str | None = None  # the prompt in the embedded models' words (shapes-world prompts)
    enrich: list[str] = field(default_factory=list)  # the director's concrete detail sentences


def conflicts(option: str, parsed: Parsed, slot: str) -> bool:
    """True when a filler phrase could contradict what the user wrote."""
    ws = set(lx.words(option))
    if parsed.shapes and ws & _SHAPES_GUARD:
        return True
    if parsed.colours and ws & lx.COLOUR_WORDS:
        return True
    if parsed.times and ws & lx.TIME_WORDS:
        return True
    return slot == "mood" and bool(parsed.affects) and bool(ws & lx.AFFECT_WORDS)


def _first_fit(candidates: list[tuple[list[str], str]], parsed: Parsed, slot: str) -> Fill | None:
    for options, source in candidates:
        for option in options:
            if not conflicts(option, parsed, slot):
                return Fill(option, source)
    return None


def _direct(slot: str, parsed: Parsed, preset: Preset | None, mode: str, cues: dr.Cues) -> Fill | None:
    """The director's choice for a slot from the content cues, or None (then preset or default)."""
    if slot == "camera":
        return next((Fill(c, "director") for c in dr.cameras(cues, mode) if not conflicts(c, parsed, slot)), None)
    if slot == "lighting":
        for phrase, strong, from_time in dr.lightings(cues):
            if preset is not None and not strong or mode == "i2v" and not strong:
                continue  # a weak cue (a person, a room) leaves the light to the style, or the first frame
            # a phrase made from the user's own time of day names it; only colours could clash
            clash = bool(set(lx.words(phrase)) & lx.COLOUR_WORDS) if from_time else conflicts(phrase, parsed, slot)
            if not clash:
                return Fill(phrase, "director")
        return None
    if slot == "movement":
        return next((Fill(m, "director") for m in dr.movements(cues) if not conflicts(m, parsed, slot)), None)
    if slot == "scene" and mode == "t2v":
        return next((Fill(m, "director") for m in dr.scenes(cues) if not conflicts(m, parsed, slot)), None)
    if slot == "mood":
        for phrase, from_feeling in dr.moods(cues):
            if from_feeling or not conflicts(phrase, parsed, slot):
                if mode == "i2v":
                    return Fill(f"{phrase}, true to the first frame, with smooth, coherent motion", "director")
                tint = preset.mood_tint if preset is not None else None
                if tint and not conflicts(tint, parsed, slot):
                    phrase = f"{phrase}, {tint}"
                return Fill(phrase, "director")
    return None


def _choose(slot: str, parsed: Parsed, preset: Preset | None, mode: str, cues: dr.Cues | None = None) -> Fill | None:
    """The filler for one slot, from the most specific source that does not clash: the director
    (content cues), the style preset, the neutral default."""
    if cues is not None and not parsed.shapes:
        directed = _direct(slot, parsed, preset, mode, cues)
        if directed is not None:
            return directed
    base = default_preset()
    i2v, shapes = base.i2v or {}, base.shapes or {}
    if mode == "i2v" and slot in ("lighting", "scene", "subject"):
        # the first frame already decides these; the preset does not repaint it
        return _first_fit([(i2v[slot], "default")], parsed, slot)
    candidates: list[tuple[list[str], str]] = []
    if preset is not None and slot in ("camera", "lighting", "movement", "scene", "mood", "style"):
        candidates.append((preset.options(slot), "preset"))
    if mode == "i2v" and slot in i2v:
        candidates.append((i2v[slot], "default"))
    if parsed.shapes:
        candidates.append((shapes.get(slot, []), "default"))
    elif mode == "t2v" or slot not in i2v:
        candidates.append((base.options(slot), "default"))
    candidates.append((shapes.get(slot, []), "default"))  # always safe: the last resort
    return _first_fit(candidates, parsed, slot)


def plan(user: str, parsed: Parsed, preset: Preset | None, mode: str, *, explicit_style: bool,
         canonical: str | None = None, cue_text: str | None = None) -> Plan:
    """Decide the filler for every slot the user left empty. `canonical`: the restatement in the
    embedded models' words when the caller already knows it (a Chinese shapes idea); `cue_text`:
    the text the director reads content cues from (the user's own, when `user` is a translation)."""
    p = Plan(mode=mode, user=user, parsed=parsed)
    cues = None if parsed.shapes else dr.read_cues(cue_text or user)
    for slot in SLOTS:
        if slot in parsed.found:
            if slot == "lighting" and cues is not None and not dr.states_light(parsed.found[slot]):
                # the words only imply the light ("at night", "a dark room"): say it outright
                light = _direct("lighting", parsed, None, mode, cues)
                if light is not None:
                    p.fills["lighting"] = light
            continue
        if slot == "mood":
            if mode == "i2v":
                p.fills["mood"] = _choose("mood", parsed, None, "i2v", cues)
            else:
                mood = _choose("mood", parsed, preset, mode, cues)
                if mood is not None:
                    p.fills["mood"] = mood
            p.style = _choose("style", parsed, preset, mode) if (preset is not None or mode == "t2v") else None
            continue
        chosen = _choose(slot, parsed, preset, mode, cues)
        if chosen is not None:
            p.fills[slot] = chosen
    if "mood" in parsed.found and not parsed.has_style and not parsed.shapes and (
            (explicit_style and preset is not None) or (preset is None and mode == "t2v")):
        # the user gave a feeling but no look: the chosen style's look, else the default one
        # ("... creating a warm atmosphere." + "The whole scene has a cinematic true-to-life look, ...")
        p.style = _choose("style", parsed, preset, mode)
        p.add_style_sentence = p.style is not None
    if parsed.shapes:
        canonical = canonical or lx.shapes_caption(user)
        if canonical and canonical.rstrip(".").lower() != user.strip().rstrip(".").lower():
            p.canonical = canonical
    if cues is not None:
        subject_detail, place_detail = dr.details(cues)
        # image-to-video: the first frame decides the place; only the subject's detail is added
        wanted = [subject_detail] if mode == "i2v" else [subject_detail, place_detail]
        p.enrich = [d for d in wanted if d and not conflicts(d, parsed, "detail")]
    if not parsed.shapes:
        pool = (preset.detail if preset else []) + default_preset().detail
        p.details = [d for d in pool if not conflicts(d, parsed, "detail")]
    return p


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join_user(lead: str, user: str, mode: str) -> str:
    """Lead sentence + the user's text, without changing the user's first letter."""
    if not user:
        return lead + "."
    if user[:1].islower():
        return f"{lead}: {user}"
    return f"{lead}. {user}"


def _mood_sentence(p: Plan, phrase) -> str | None:
    mood = p.fills.get("mood")
    style = phrase(p.style.text) if p.style else None
    if p.mode == "i2v":
        if mood is None:
            return None
        base = phrase(mood.text)
        if p.style is not None and p.style.source == "preset":
            return f"The mood stays {short_form(mood.text)}, in {style}."
        return f"The mood stays {base}."
    if mood is not None and style:
        return f"The mood is {phrase(mood.text)}, in {style}."
    if mood is not None:
        return f"The mood is {phrase(mood.text)}."
    if style and "mood" not in p.parsed.found:
        return f"The whole scene has {style}."
    return None


def render(p: Plan, *, short: bool = False, omit: frozenset[str] = frozenset(), pad: bool = True,
           canonical: bool = False) -> str:
    """The prompt for a plan: full phrases, or short forms, with some slots left out;
    `canonical` adds the restatement in the embedded models' words after the user's text."""
    restated = [p.canonical] if canonical and p.canonical else []
    if omit >= set(SLOTS):
        return " ".join([p.user] + restated) if p.user else " ".join(restated)
    phrase = short_form if short else (lambda s: s)
    fills = {k: v for k, v in p.fills.items() if k not in omit}
    cam, light = fills.get("camera"), fills.get("lighting")
    parts: list[str] = []
    if p.mode == "i2v":
        lead = "The scene from the first frame continues"
        if cam:
            lead += f" in {phrase(cam.text)}"
        parts.append(_join_user(lead, p.user, "i2v"))
        parts += restated
        if "subject" in fills:
            parts.append(f"The focus stays on {phrase(fills['subject'].text)}.")
        if "movement" in fills:
            parts.append(f"The motion is {phrase(fills['movement'].text)}.")
        if light and light.source == "director":  # the light the words name, as the first frame has it
            parts.append(f"The light is {phrase(light.text)}, as in the first frame.")
            light = None
        if light and "scene" in fills:  # one sentence for both: the first frame decides them
            parts.append(f"The lighting and the surroundings stay {short_form(fills['scene'].text)}"
                         + ("." if short else ", with no sudden changes and nothing new added."))
        elif light:
            parts.append(f"The lighting stays {phrase(light.text)}.")
        elif "scene" in fills:
            parts.append(f"The surroundings stay {phrase(fills['scene'].text)}.")
    else:
        if cam and light:
            lead = f"{_cap(phrase(cam.text))}, lit by {phrase(light.text)}"
        elif cam:
            lead = _cap(phrase(cam.text))
        else:
            lead = ""
        parts.append(_join_user(lead, p.user, "t2v") if lead else p.user)
        parts += restated
        if light and not cam:
            parts.append(f"The scene is lit by {phrase(light.text)}.")
        if "subject" in fills:
            parts.append(f"The focus is on {phrase(fills['subject'].text)}.")
        if "movement" in fills:
            parts.append(f"The motion is {phrase(fills['movement'].text)}.")
        if "scene" in fills:
            parts.append(f"The setting is {phrase(fills['scene'].text)}.")
    if "mood" not in omit:
        sentence = _mood_sentence(p, phrase)
        if sentence:
            parts.append(sentence)
    if p.add_style_sentence and p.style and "mood" not in omit:
        parts.append(f"The whole scene has {phrase(p.style.text)}.")
    text = " ".join(x for x in parts if x)
    if pad:
        for detail in p.enrich:
            text = f"{text} {detail}"
        for detail in p.details:
            if len(text.split()) >= MIN_WORDS:
                break
            text = f"{text} {detail}"
    return text


def slot_report(p: Plan, omit: frozenset[str] = frozenset()) -> dict[str, SlotInfo]:
    out: dict[str, SlotInfo] = {}
    for slot in SLOTS:
        if slot in p.parsed.found and (slot not in p.fills or slot in omit):
            out[slot] = SlotInfo(text=p.parsed.found[slot], source="user")
        elif slot in omit or slot not in p.fills:
            out[slot] = SlotInfo(text="", source="omitted")
        else:
            fill = p.fills[slot]
            text = fill.text
            if slot == "mood" and p.style is not None and p.mode == "t2v":
                text = f"{fill.text}, in {p.style.text}"
            out[slot] = SlotInfo(text=text, source=fill.source)  # type: ignore[arg-type]
    if "mood" not in p.parsed.found and "mood" not in p.fills and p.style is not None and "mood" not in omit:
        out["mood"] = SlotInfo(text=p.style.text, source=p.style.source)  # type: ignore[arg-type]
    return out


@dataclass(frozen=True)
class Fitted:
    prompt: str
    tokens: int
    slots: dict[str, SlotInfo]
    omitted: tuple[str, ...]


def fit(p: Plan, *, token_limit: int, tokenizer=None) -> Fitted:
    """The richest rendering of a plan that fits the token limit (the user's text always stays)."""
    tries: list[tuple[bool, frozenset[str]]] = [(False, frozenset()), (True, frozenset())]
    dropped: list[str] = []
    for slot in DROP_ORDER:
        if slot in p.fills or (slot == "mood" and p.style is not None):
            dropped.append(slot)
            tries.append((True, frozenset(dropped)))
    if p.canonical and token_limit <= VOCABULARY_TOKEN_LIMIT:
        # the restatement first; without it only when even the bare user text and it do not fit
        tries = [(short, omit, True) for short, omit in tries + [(True, frozenset(SLOTS))]] + [
            (short, omit, False) for short, omit in tries]
    else:
        tries = [(short, omit, False) for short, omit in tries]
    fallback: Fitted | None = None
    for short, omit, canonical in tries:
        for pad in ((True, False) if not omit else (False,)):
            text = render(p, short=short, omit=omit, pad=pad, canonical=canonical)
            tokens = count_tokens(text, tokenizer)
            if tokens > token_limit:
                continue
            result = Fitted(text, tokens, slot_report(p, omit), tuple(sorted(omit)))
            if len(text.split()) <= TARGET_MAX_WORDS or omit:
                return result
            fallback = fallback or result
    if fallback is not None:
        return fallback
    text = render(p, short=True, omit=frozenset(SLOTS), pad=False)
    return Fitted(text, count_tokens(text, tokenizer), slot_report(p, frozenset(SLOTS)), tuple(SLOTS))
