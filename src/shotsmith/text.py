"""Clean text at the edge: what every surface checks before a string is stored.

A request may carry anything JSON can spell, including lone UTF-16 surrogates
("\\ud800"), which Python decodes but cannot encode as UTF-8, and control characters
that reach command lines and file tags. Neither may be stored: a record that cannot
be encoded breaks every list it appears in. `check_tree` walks a decoded request body
once (keys and values, with a depth limit); `clean_prompt` and `check_name` are the
per-field rules the request type applies.
"""

from __future__ import annotations

import unicodedata

from shotsmith.errors import FieldError

MAX_DEPTH = 32  # no request of any contract nests deeper than a few levels
MAX_DIGITS = 4300  # Python's own limit for turning digits into an int


class OversizedNumber:
    """Stands in for an integer literal too long to read (json.loads' parse_int), so the body
    walk below can name the field it was sent in."""

    def __init__(self, digits: int):
        self.digits = digits


def parse_int(text: str):
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_DIGITS else OversizedNumber(digits)


def _bad_char(text: str, allow: str) -> tuple[int, str] | None:
    """The first character that may not be stored (or sent to ffmpeg), with its position."""
    for index, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            return index, "a lone UTF-16 surrogate"
        if ch in allow:
            continue
        if unicodedata.category(ch) == "Cc":
            return index, "a control character"
    return None


def _describe(text: str, found: tuple[int, str]) -> str:
    index, what = found
    return f"contains {what} (U+{ord(text[index]):04X}) at position {index}; send plain Unicode text"


def check_name(value: str, field: str) -> str:
    """A one-line value (a model, size, LoRA or id): no surrogates, no control characters."""
    found = _bad_char(value, "")
    if found:
        raise FieldError(field, _describe(value, found))
    return value


def clean_prompt(value: str, field: str) -> str:
    """Free text: lone surrogates are refused; other control characters are dropped
    (tabs and newlines stay), as a text box would; the ends are trimmed."""
    found = _bad_char(value, "\n\t\r")
    if found and found[1] == "a lone UTF-16 surrogate":
        raise FieldError(field, _describe(value, found))
    if found:
        value = "".join(ch for ch in value if ch in "\n\t\r" or unicodedata.category(ch) != "Cc")
    return value.strip()


def check_tree(data, path: str = "", depth: int = 0) -> None:
    """Every key and string in a decoded body is encodable text; nesting stays shallow."""
    if depth > MAX_DEPTH:
        raise FieldError(path or "body", f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(data, OversizedNumber):
        raise FieldError(path or "body", f"is a number of {data.digits} digits (at most {MAX_DIGITS})")
    if isinstance(data, str):
        found = _bad_char(data, "\n\t\r")
        if found and found[1] == "a lone UTF-16 surrogate":
            raise FieldError(path or "body", _describe(data, found))
    elif isinstance(data, dict):
        for key, value in data.items():
            key_text = str(key)
            if _bad_char(key_text, ""):
                raise FieldError(path or "body", "has a field name with a control character or a lone surrogate")
            check_tree(value, f"{path}.{key_text}" if path else key_text, depth + 1)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            check_tree(value, f"{path}[{index}]" if path else f"[{index}]", depth + 1)


def readable(data):
    """A stored value with any lone surrogate replaced by U+FFFD, so a record written before the
    edge checks (or by other software) still renders: one bad record must never break a list."""
    if isinstance(data, str):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in data) if _has_surrogate(data) else data
    if isinstance(data, dict):
        return {readable(k): readable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [readable(v) for v in data]
    return data


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)
