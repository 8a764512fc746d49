"""The storyboard's limits, and the validators every surface calls before anything is stored.

Each validator returns the cleaned value or raises `FieldError` naming the field and the rule
(the HTTP layer turns it into a 4xx, the CLI into one line). Text follows the project's edge
rules (shotsmith.text): lone surrogates are refused, other control characters are dropped from
free text and refused in one-line names.
"""

from __future__ import annotations

import math
import unicodedata

from shotsmith.errors import FieldError
from shotsmith.spec import MAX_PROMPT_CHARS, MAX_SEED
from shotsmith.text import check_name as _check_line
from shotsmith.text import clean_prompt

MAX_SCRIPT_BYTES = 200_000  # a feature film's script is ~150 kB; a board is a short film
MAX_SHOTS = 60  # shots on one board (a breakdown that would exceed it is refused, not cut)
MAX_BOARDS_PER_OWNER = 200
MAX_NAME_CHARS = 120  # a board's name
MAX_TITLE_CHARS = 120  # a shot's short label
MAX_SHOT_TEXT_CHARS = 2000  # a shot's text: what the prompt agent reads (its own per-field limit)
MAX_SHOT_PROMPT_CHARS = MAX_PROMPT_CHARS  # the formula prompt is a request's prompt
MIN_CANDIDATES, MAX_CANDIDATES = 1, 4
MAX_SHOT_SECONDS = 60.0  # any model's own limit is lower; the render checks that one
MAX_CROSSFADE = 1.0  # seconds
SHOT_MODES = ("t2v", "i2v", "continue")
BREAKDOWN_BACKENDS = ("rules", "llm")


def _text(value, field: str) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"expected text, got {type(value).__name__}")
    return value


def check_script(script) -> str:
    """A script or idea to break down: not empty, at most MAX_SCRIPT_BYTES of UTF-8 (checked
    before any other work), line breaks normalised to \\n, control characters other than tabs
    and newlines dropped, NFC-normalised."""
    script = _text(script, "script")
    # a character is at most 4 bytes: count exactly only when the length alone cannot decide
    if len(script) * 4 > MAX_SCRIPT_BYTES:
        size = len(script.encode("utf-8", "surrogatepass"))
        if size > MAX_SCRIPT_BYTES:
            raise FieldError("script", f"is {size:,} bytes, over the {MAX_SCRIPT_BYTES:,}-byte limit for a "
                             "script; split it into several boards")
    script = unicodedata.normalize("NFC", clean_prompt(script.replace("\r\n", "\n").replace("\r", "\n"), "script"))
    if not any(ch.isalnum() for ch in script):
        raise FieldError("script", "is empty: paste a script or an idea (or give a .md/.txt file)", "missing")
    return script


def check_shot_count(count: int, field: str = "shots") -> int:
    """A board holds at most MAX_SHOTS shots (`count` is the total after the change)."""
    if count > MAX_SHOTS:
        raise FieldError(field, f"{count} shots is over the limit of {MAX_SHOTS} per board; "
                         "split the script into several boards")
    return count


def check_board_count(count: int, field: str = "name") -> int:
    """An owner keeps at most MAX_BOARDS_PER_OWNER boards (`count`: theirs after creating one)."""
    if count > MAX_BOARDS_PER_OWNER:
        raise FieldError(field, f"this key already has {MAX_BOARDS_PER_OWNER} boards, the limit; delete one first")
    return count


def check_board_name(name, field: str = "name") -> str:
    """A board's name: one line, 1 to MAX_NAME_CHARS characters after trimming."""
    name = _check_line(_text(name, field), field).strip()
    if not name:
        raise FieldError(field, "is empty: give the board a name", "missing")
    if len(name) > MAX_NAME_CHARS:
        raise FieldError(field, f"is {len(name)} characters, over the {MAX_NAME_CHARS}-character limit")
    return name


def check_title(title, field: str = "title") -> str:
    """A shot's label: one line (line breaks become spaces), at most MAX_TITLE_CHARS characters."""
    title = " ".join(clean_prompt(_text(title, field), field).split())
    if len(title) > MAX_TITLE_CHARS:
        raise FieldError(field, f"is {len(title)} characters, over the {MAX_TITLE_CHARS}-character limit")
    return title


def check_shot_text(text, field: str = "text") -> str:
    """A shot's text (scene + content, or an idea): not empty, at most MAX_SHOT_TEXT_CHARS."""
    text = clean_prompt(_text(text, field), field)
    if not text:
        raise FieldError(field, "is empty: say what the shot shows", "missing")
    if len(text) > MAX_SHOT_TEXT_CHARS:
        raise FieldError(field, f"is {len(text)} characters, over the {MAX_SHOT_TEXT_CHARS}-character limit "
                         "for one shot; split it into more shots")
    return text


def check_shot_prompt(prompt, field: str = "prompt") -> str:
    """A shot's formula prompt: at most MAX_SHOT_PROMPT_CHARS (empty: the render writes one)."""
    prompt = clean_prompt(_text(prompt, field), field)
    if len(prompt) > MAX_SHOT_PROMPT_CHARS:
        raise FieldError(field, f"is {len(prompt)} characters, over the {MAX_SHOT_PROMPT_CHARS}-character limit",
                         "prompt_too_long")
    return prompt


def check_mode(mode, field: str = "mode") -> str:
    key = mode.strip().lower() if isinstance(mode, str) else mode
    if key not in SHOT_MODES:
        raise FieldError(field, f"must be one of {', '.join(SHOT_MODES)} (got {mode!r})")
    return key


def check_backend(backend, field: str = "backend") -> str:
    key = backend.strip().lower() if isinstance(backend, str) else backend
    if key not in BREAKDOWN_BACKENDS:
        raise FieldError(field, f"must be one of {', '.join(BREAKDOWN_BACKENDS)} (got {backend!r})")
    return key


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(field, f"must be a number of seconds (got {value!r})")
    return float(value)


def check_duration(seconds, field: str = "duration") -> float:
    """A shot's length: more than 0 and at most MAX_SHOT_SECONDS (the model's own limit, and the
    frame counts it allows, are the render's to apply)."""
    seconds = _number(seconds, field)
    if not 0 < seconds <= MAX_SHOT_SECONDS:
        raise FieldError(field, f"must be more than 0 and at most {MAX_SHOT_SECONDS:g} seconds (got {seconds:g})")
    return seconds


def check_candidates(count, field: str = "candidates") -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not MIN_CANDIDATES <= count <= MAX_CANDIDATES:
        raise FieldError(field, f"must be a whole number from {MIN_CANDIDATES} to {MAX_CANDIDATES} (got {count!r})")
    return count


def check_seed(seed, field: str = "seed") -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise FieldError(field, f"must be a whole number from 0 to {MAX_SEED}, or null for a random one "
                         f"(got {seed!r})")
    return seed


def check_crossfade(seconds, field: str = "crossfade") -> float:
    """The cut's crossfade: 0 (hard cuts) to MAX_CROSSFADE seconds."""
    seconds = _number(seconds, field)
    if not 0 <= seconds <= MAX_CROSSFADE:
        raise FieldError(field, f"must be from 0 to {MAX_CROSSFADE:g} seconds (got {seconds:g})")
    return seconds
