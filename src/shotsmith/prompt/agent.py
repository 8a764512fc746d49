"""`enhance()`: the prompt agent's one entry point.

Reads like a script: 1. check the arguments, 2. clean and join the user's text,
3. read its slots, 4. pick the style, 5. run the backend (LLM with fallback, or
rules), 6. report.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import ValidationError

from . import lexicon as lx
from . import llm as llm_backend
from . import rules, zh
from .llm import LLMConfig, LLMUnavailable
from .parse import PREPOSITIONS, Parsed, parse
from .presets import Preset, infer_preset, load_preset
from .schema import SLOTS, EnhanceResult, PromptError, SlotInfo
from .tokens import count_tokens

MAX_CHARS = 2000  # per input field, after cleaning
MODES = ("t2v", "i2v")
BACKENDS = ("rules", "llm")
MIN_TOKEN_LIMIT = 16

_SPACE = re.compile(r"\s+")
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")  # terminal escapes
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}  # control, format, surrogate, private, unassigned


def clean_text(text: str) -> str:
    """NFC-normalise, turn line breaks and tabs into spaces, drop control/format characters."""
    text = unicodedata.normalize("NFC", _ANSI.sub("", text))
    kept = []
    for ch in text:
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in _DROP_CATEGORIES:
            kept.append(ch)
    return _SPACE.sub(" ", "".join(kept)).strip()


def _sentence(text: str) -> str:
    """End a piece of user text like a sentence, without touching its words."""
    text = text.rstrip(" ,;:-，；：")
    if text and text[-1] not in ".!?…。！？\"'”’)）":
        text += "。" if zh.is_chinese(text) else "."
    return text


def _scene_sentence(scene: str) -> str:
    """A scene given on its own ("a kitchen with ...") as a sentence of the prompt."""
    body = scene.rstrip(" .,;:")
    first = body.split(" ", 1)[0]
    if first in ("a", "an", "the", "some"):
        return f"The setting is {body}."
    if first in PREPOSITIONS:
        return f"The scene takes place {body}."
    return _sentence(body)


CHINESE_KEPT_NOTE = ("text: Chinese, kept as written: the model reads English and the rule backend translates only "
                     "the shapes world offline; camera, light and mood were added in English. Set an LLM backend "
                     "to translate the idea (SHOTSMITH_LLM_BASE_URL and SHOTSMITH_LLM_MODEL, then backend 'llm')")


def _translate_shapes(user: str, notes: list[str], short_window: bool) -> tuple[str, str | None, str | None]:
    """A Chinese shapes-world idea in English: (text for the model, translation, canonical caption).
    Words outside the shapes vocabulary stay in Chinese after the translation (a short-window model
    gets the canonical caption alone, without them), and a note says so."""
    reading = zh.read(user)
    if not reading.shapes:
        return user, None, None
    english = reading.english()
    if reading.untranslated:
        where = ("is left out of the prompt (this model reads only English; `original` keeps it; an LLM "
                 "backend can translate it)" if short_window else
                 "is kept in Chinese after it (the model reads English; set an LLM backend to translate it)")
        notes.append(f"text: translated the shapes-world words into English; {reading.untranslated!r} has no "
                     f"offline translation and {where}")
        return f"{english} {user}", english, reading.canonical()
    notes.append("text: Chinese; translated into English with the shapes-world vocabulary (the model reads English)")
    return english, english, reading.canonical()


def _field(name: str, value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PromptError(name, f"expected text, got {type(value).__name__}")
    cleaned = clean_text(value)
    if len(cleaned) > MAX_CHARS:
        raise PromptError(name, f"{len(cleaned)} characters is over the {MAX_CHARS}-character limit; shorten it")
    return cleaned


def _choice(name: str, value, allowed: tuple[str, ...]) -> str:
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in allowed:
        raise PromptError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
    return key


def _check_limit(token_limit) -> int:
    if isinstance(token_limit, bool) or not isinstance(token_limit, int) or token_limit < MIN_TOKEN_LIMIT:
        raise PromptError("token_limit", f"must be an integer of at least {MIN_TOKEN_LIMIT}; got {token_limit!r}")
    return token_limit


def _user_block(text: str, content: str, scene: str) -> str:
    pieces = [_sentence(t) for t in (text, content) if t]
    if scene:
        pieces.append(_scene_sentence(scene))
    return " ".join(pieces)


def _style(style: str | None, parsed: Parsed, notes: list[str]) -> tuple[Preset | None, bool]:
    """The preset to fill with: the one asked for, else one the text names, else none."""
    if style is not None and style.strip():
        return load_preset(style), True
    inferred = infer_preset(parsed.text)
    if inferred:
        name, word = inferred
        notes.append(f"style: filled in the '{name}' style named in the text ({word!r})")
        return load_preset(name), False
    return None, False


def _env_config() -> LLMConfig:
    try:
        return LLMConfig.from_env()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LLMUnavailable(f"invalid SHOTSMITH_LLM_* settings ({problems})") from None


def _llm_slots(parsed: Parsed, answer: str) -> dict[str, SlotInfo]:
    read = parse(answer)
    out = {}
    for slot in SLOTS:
        if slot in parsed.found:
            out[slot] = SlotInfo(text=parsed.found[slot], source="user")
        elif slot in read.found:
            out[slot] = SlotInfo(text=read.found[slot], source="llm")
        else:
            out[slot] = SlotInfo(text="", source="omitted")
    return out


def _short_window(user: str, mode: str, style, token_limit: int, user_tokens: int, tokenizer) -> EnhanceResult:
    """A text longer than a short-window model reads (the embedded models read 48 tokens): nothing is
    refused and nothing is cut; the model's own words for a shapes-world idea go first, where it
    reads them, and the notes say that the end of the text is not read."""
    parsed = parse(user)
    canonical = lx.shapes_caption(user) if parsed.shapes else None
    if canonical is None and zh.is_chinese(user):
        reading = zh.read(user)
        canonical = reading.canonical() if reading.shapes else None
    prompt = f"{canonical} {user}" if canonical else user
    notes = [f"token limit: this model reads the first {token_limit} tokens and the text is {user_tokens}; "
             "the end of it is kept in the prompt but not read" +
             ("; the model's own words for it come first" if canonical else "")]
    slots = {slot: SlotInfo(text=parsed.found[slot], source="user") if slot in parsed.found
             else SlotInfo(text="", source="omitted") for slot in SLOTS}
    return EnhanceResult(prompt=prompt, original=user, slots=slots, backend_used="rules",
                         tokens=count_tokens(prompt, tokenizer), token_limit=token_limit,
                         words=len(prompt.split()), style=style, mode=mode, notes=notes)


SHORT_WINDOW_AS_WRITTEN_NOTE = (
    "short caption window: the idea goes to the model as written (a Chinese one in the model's own English "
    "words); "
    "for the embedded models, added camera, light and mood sentences and a restatement in their training "
    "words both lowered adherence (docs/prompt-agent.md)")


def _in_own_words(text: str) -> tuple[str | None, str | None]:
    """(text for the model, note) when `text` uses words the embedded models were never trained on
    and the agent knows theirs for them (the lexicon's synonyms, then the WordNet-built dictionary),
    else (None, None): the text goes as written. Every slot read: the restatement alone; some: those
    phrases swapped in place. Both tasks: with the dictionary, the 60 held-out captions gained 4-6
    points on the T2V and ~1 on the I2V (three seeds each); a text already in the training words goes
    as written, since restating it only cost (~1.5 points on fresh captions; docs/prompt-agent.md)."""
    from shotsmith.train.world import training_vocabulary

    vocabulary = training_vocabulary()
    if not set(lx.words(text)) - vocabulary:
        return None, None
    restated = lx.complete_shapes_caption(text)
    if restated is not None:
        return restated, RESTATED_NOTE
    swapped = lx.in_training_words(text, vocabulary)
    return (swapped, SWAPPED_NOTE) if swapped != text else (None, None)


RESTATED_NOTE = ("text: has words the model was not trained on, and every object's colour, shape and motion "
                 "and the background were read: the model gets them in its own training words (your text is kept "
                 "as the original)")
SWAPPED_NOTE = ("text: colour, shape, motion or background words the model was not trained on were swapped for "
                "its own (your text is kept as the original)")


def _as_written(prompt: str, parsed: Parsed, mode: str, token_limit: int, prompt_tokens: int,
                chosen: Preset | None, *, original: str | None = None, notes: list[str] | None = None,
                translation: str | None = None, note: str = SHORT_WINDOW_AS_WRITTEN_NOTE) -> EnhanceResult:
    """An English idea for a short-window model (the embedded ones), passed on unchanged; a Chinese
    one as its translation into the model's training words (`original` keeps the user's words)."""
    slots = {slot: SlotInfo(text=parsed.found[slot], source="user") if slot in parsed.found
             else SlotInfo(text="", source="omitted") for slot in SLOTS}
    notes = [*(notes or []), note]
    if chosen is not None:
        notes.append(f"style: '{chosen.name}' is not added for this model (it draws one look)")
    return EnhanceResult(prompt=prompt, original=original if original is not None else prompt, slots=slots,
                         backend_used="rules", tokens=prompt_tokens, token_limit=token_limit,
                         words=len(prompt.split()), style=None, mode=mode, notes=notes,
                         language="zh" if translation is not None else "en", translation=translation)


def enhance(text: str | None = None, *, scene: str | None = None, content: str | None = None,
            style: str | None = None, mode: str = "t2v", backend: str = "rules",
            llm: LLMConfig | None = None, token_limit: int = 226, tokenizer=None) -> EnhanceResult:
    """Turn an idea (or scene + content) into a formula prompt that fits `token_limit`.

    Keeps the user's text whole and fills only the formula slots it leaves empty; see
    docs/prompt-agent.md. Raises PromptError (a ValueError naming the field) for input
    that cannot become a prompt.
    """
    # 1. Check the arguments.
    mode = _choice("mode", mode, MODES)
    backend = _choice("backend", backend, BACKENDS)
    token_limit = _check_limit(token_limit)
    text_c, content_c, scene_c = _field("text", text), _field("content", content), _field("scene", scene)
    if style is not None and not isinstance(style, str):
        raise PromptError("style", f"expected a preset name, got {type(style).__name__}")

    # 2. Clean and join the user's text.
    user = _user_block(text_c, content_c, scene_c)
    if not user and mode == "t2v":
        raise PromptError("text", "a text-to-video prompt cannot be empty; describe the video "
                                  "(or give scene and content)")
    user_tokens = count_tokens(user, tokenizer) if user else 0
    if user_tokens > token_limit and token_limit <= rules.VOCABULARY_TOKEN_LIMIT:
        return _short_window(user, mode, style, token_limit, user_tokens, tokenizer)
    if user_tokens > token_limit:
        raise PromptError("text", f"the prompt is {user_tokens} tokens, over the model's {token_limit}-token "
                                  "limit; shorten it (nothing was cut)")

    # 3. Read the slots the user filled (a Chinese shapes-world idea: in its English translation).
    notes: list[str] = []
    language = "zh" if zh.is_chinese(user) else "en"
    model_text, translation, canonical = user, None, None
    if language == "zh":
        model_text, translation, canonical = _translate_shapes(
            user, notes, short_window=token_limit <= rules.VOCABULARY_TOKEN_LIMIT)
    parsed = parse(model_text)
    if language == "en" and not parsed.english and user:
        language = "other"
    if scene_c and translation is None:
        parsed.found["scene"] = scene_c
    if language == "zh" and translation is None:
        for slot in ("subject", "movement", "scene"):
            parsed.found.setdefault(slot, user.rstrip(" .。"))
        notes.append(CHINESE_KEPT_NOTE)
    elif not parsed.english and user and translation is None:
        # The slot words are English; do not guess at subject, motion or place in another
        # language (a filler setting could contradict it). Frame it, light it, style it.
        for slot in ("subject", "movement", "scene"):
            parsed.found.setdefault(slot, user.rstrip(" ."))
        notes.append("text: not English; kept as the subject, movement and scene and added only camera, "
                     "lighting and style (CogVideoX's text encoder understands English best)")

    # 4. Pick the style.
    preset, explicit = _style(style, parsed, notes)

    # 5. A short-window (embedded) model reads an English idea best as written, and a Chinese one in
    # its training words alone, in both modes: measured on its 60 held-out captions (T2V and I2V), on
    # 60 fresh training-style ones and on 45 Chinese ideas (docs/prompt-agent.md). An empty
    # image-to-video text still gets the generic continue-the-first-frame prompt.
    if (backend == "rules" and user and token_limit <= rules.VOCABULARY_TOKEN_LIMIT
            and (language == "en" or translation is not None)):
        if translation is not None:
            # the model's own words for the idea: as good as the plain translation (88.7 against 89.2 %,
            # two seeds) and the eval reads back every slot of it
            words = canonical or translation
            return _as_written(words, parsed, mode, token_limit, count_tokens(words, tokenizer),
                               preset if explicit else None, original=user, notes=notes, translation=translation)
        # a single text exactly as typed (cleaned): no sentence stop added, as the no-enhance path sends it
        written = text_c if text_c and not (content_c or scene_c) else user
        own_words, note = _in_own_words(written)
        if own_words is not None:
            return _as_written(own_words, parsed, mode, token_limit, count_tokens(own_words, tokenizer),
                               preset if explicit else None, original=written, note=note)
        return _as_written(written, parsed, mode, token_limit, count_tokens(written, tokenizer),
                           preset if explicit else None)

    # 6. Run the backend.
    fallback_reason = None
    if backend == "llm":
        if not user:
            fallback_reason = "empty image-to-video text: nothing for the LLM to enhance, used the motion prompt"
        else:
            try:
                config = llm or _env_config()
                # the LLM gets the user's own words (a Chinese idea in Chinese): it translates and
                # enhances in one call, and its answer is checked against the facts of those words
                answer = llm_backend.enhance_llm(user, parse(user), mode=mode, preset=preset, config=config,
                                                 token_limit=token_limit, tokenizer=tokenizer, clean=clean_text)
            except LLMUnavailable as exc:
                fallback_reason = str(exc)
            else:
                llm_notes = [n for n in notes if n is not CHINESE_KEPT_NOTE and not n.startswith("text: translated")]
                if language == "zh":
                    llm_notes.append("text: Chinese; the LLM translated it into the English prompt the model reads")
                # a Chinese idea's slots are all in the LLM's English; an English idea keeps the user's
                basis = Parsed(text=user) if language == "zh" else parsed
                return EnhanceResult(prompt=answer, original=user, slots=_llm_slots(basis, answer),
                                     backend_used="llm", tokens=count_tokens(answer, tokenizer),
                                     token_limit=token_limit, words=len(answer.split()),
                                     style=preset.name if preset else None, mode=mode, notes=llm_notes,
                                     language=language)

    plan = rules.plan(model_text, parsed, preset, mode, explicit_style=explicit, canonical=canonical,
                      cue_text=user)
    fitted = rules.fit(plan, token_limit=token_limit, tokenizer=tokenizer)

    # 7. Report.
    if fitted.omitted:
        notes.append(f"token limit: left out filler for {', '.join(fitted.omitted)} to stay within "
                     f"{token_limit} tokens")
    if plan.add_style_sentence and preset is not None and explicit:
        notes.append(f"style: added the look of '{preset.name}' to the mood the user gave")
    return EnhanceResult(prompt=fitted.prompt, original=user, slots=fitted.slots, backend_used="rules",
                         fallback_reason=fallback_reason, tokens=fitted.tokens, token_limit=token_limit,
                         words=len(fitted.prompt.split()), style=preset.name if preset else None,
                         mode=mode, notes=notes, language=language, translation=translation)
