"""Style presets: small JSON data files under `prompt/presets/`, one per style.

A preset gives, for each slot the rule backend may have to fill, a list of phrases in
order of preference. The first phrase that does not clash with the user's text is used
(see `rules`); later entries are plainer alternatives, so a preset can always fill a
slot. The part of a phrase before its first comma must stand alone: it is the short
form used when the prompt has to shrink to fit the token limit.

Files whose name starts with "_" are internal (the neutral default) and not listed.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .schema import PromptError

FILL_SLOTS = ("camera", "lighting", "subject", "movement", "scene", "mood", "style")


def short_form(phrase: str) -> str:
    """The part of a phrase before its first comma: what is kept when space is short."""
    return phrase.split(",")[0].strip()


def _non_empty(options: list[str]) -> list[str]:
    if not options:
        raise ValueError("needs at least one phrase")
    for option in options:
        if len(short_form(option).split()) < 2:
            raise ValueError(f"the part before the first comma of {option!r} must stand alone (2+ words)")
    return options


class Preset(BaseModel):
    """One style: how it fills each missing formula slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str
    description: str
    aliases: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list, description="Words in a prompt that imply this style.")
    camera: list[str]
    lighting: list[str]
    subject: list[str] = Field(default_factory=list)
    movement: list[str]
    scene: list[str]
    mood: list[str]
    mood_tint: str | None = Field(None, description="How the style colours a mood the director chose from the "
                                  "content (\"hushed and intimate, with a storybook charm\").")
    style: list[str]
    detail: list[str] = Field(default_factory=list, description="Whole sentences used to reach the minimum length.")
    # Only in the neutral default: phrases for image-to-video, and phrases that are safe
    # for shapes-world prompts (no colour, shape, direction or background words).
    i2v: dict[str, list[str]] | None = None
    shapes: dict[str, list[str]] | None = None

    @field_validator("camera", "lighting", "movement", "scene", "mood", "style")
    @classmethod
    def _check_lists(cls, value: list[str]) -> list[str]:
        return _non_empty(value)

    @field_validator("i2v", "shapes")
    @classmethod
    def _check_sections(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is not None:
            for slot, options in value.items():
                if slot not in FILL_SLOTS:
                    raise ValueError(f"unknown slot {slot!r}")
                _non_empty(options)
        return value

    def options(self, slot: str) -> list[str]:
        return list(getattr(self, slot))


def _files():
    return resources.files("shotsmith.prompt") / "presets"


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


@lru_cache(maxsize=None)
def _load(stem: str) -> Preset:
    raw = (_files() / f"{stem}.json").read_text(encoding="utf-8")
    try:
        return Preset.model_validate(json.loads(raw))
    except (ValidationError, json.JSONDecodeError) as exc:  # a broken data file is a bug, say which
        raise RuntimeError(f"style preset file {stem}.json is invalid: {exc}") from exc


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in _files().iterdir()
                        if p.name.endswith(".json") and not p.name.startswith("_")))


def list_presets() -> list[str]:
    """Names of the style presets, sorted."""
    return list(_names())


def load_preset(name: str) -> Preset:
    """A preset by name or alias ("Pixar", "pixar_3d" and "pixar-3d" are the same)."""
    key = _normalise(name)
    for stem in _names():
        preset = _load(stem)
        if key == stem or key in (_normalise(a) for a in preset.aliases):
            return preset
    raise PromptError("style", f"unknown style preset {name!r}; choose one of: {', '.join(_names())}")


def default_preset() -> Preset:
    """The neutral default used where no style is chosen or implied."""
    return _load("_default")


@lru_cache(maxsize=1)
def _keyword_patterns() -> list[tuple[str, re.Pattern]]:
    out = []
    for stem in _names():
        for kw in _load(stem).keywords:
            out.append((stem, re.compile(r"(?<![\w-])" + re.escape(kw) + r"(?![\w-])", re.IGNORECASE)))
    return out


def infer_preset(text: str) -> tuple[str, str] | None:
    """The style a prompt names ("... in a fantasy anime style"), with the word that named it.

    When several styles are named, the one mentioned last wins: it is the one closest to
    "style" in phrases such as "fantasy anime style".
    """
    best: tuple[int, int, str, str] | None = None
    for stem, pattern in _keyword_patterns():
        for m in pattern.finditer(text):
            key = (m.end(), len(m.group()), stem, m.group())
            if best is None or key[:2] > best[:2]:
                best = key
    return (best[2], best[3]) if best else None
