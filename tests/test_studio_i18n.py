"""The studio's message catalogues: every string the page shows is a message in both
languages (en, zh-CN), with the same values filled in. Static checks, no browser."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "src" / "shotsmith" / "web" / "static"
PRESETS = STATIC.parent.parent / "prompt" / "presets"
CJK = re.compile(r"[\u3400-\u9fff]")
_ENTRY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"): ("(?:[^"\\]|\\.)*"),$')


def catalogue(name: str) -> dict[str, str]:
    """js/locale-<name>.js: `export default { "id": "text", ... };`, one entry a line."""
    out = {}
    for line in (STATIC / "js" / f"locale-{name}.js").read_text(encoding="utf-8").splitlines():
        m = _ENTRY.match(line)
        if m:
            key, value = json.loads(m.group(1)), json.loads(m.group(2))
            assert key not in out, f"{name}: {key!r} twice"
            out[key] = value
    return out


class _Marked(HTMLParser):
    """index.html's text marked data-i18n and attributes named by data-i18n-attr."""

    VOID = {"input", "img", "br", "meta", "link", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.unmarked: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in (a.get("data-i18n-attr") or "").split():
            self.ids.append(" ".join(a[name].split()))
        for name in ("placeholder", "aria-label", "title", "alt"):
            if a.get(name) and re.search(r"[A-Za-z]{3}", a[name]) and name not in (a.get("data-i18n-attr") or "") \
                    and a[name] not in ("sk-...", "WIDTHxHEIGHT") and tag != "select":
                self.unmarked.append(f"{tag} {name}={a[name]!r}")
        if tag not in self.VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        text = " ".join(data.split())
        if not text or not self.stack or self.stack[-1][0] in ("script", "style", "title"):
            return
        if "data-i18n" in self.stack[-1][1]:
            self.ids.append(text)
        elif re.search(r"[A-Za-z]{2}", text) and self.stack[-1][1].get("lang") != "en":
            self.unmarked.append(text)


def _template_id(body: str) -> str:
    """A tagged template's message id: its ${...} parts become {0}, {1} ..."""
    out, i, n = "", 0, 0
    while i < len(body):
        if body.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                j += 1
            out += "{%d}" % n
            n, i = n + 1, j
        else:
            out, i = out + body[i], i + 1
    return out


def used_ids() -> list[str]:
    marked = _Marked()
    marked.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    ids = marked.ids + ["shotsmith studio", "Language"]
    for js in sorted(STATIC.glob("js/*.js")):
        if js.name == "i18n.js":
            continue
        src = js.read_text(encoding="utf-8")
        ids += [m.group(1).replace("\\'", "'") for m in re.finditer(r"(?<![\w$])t\('((?:[^'\\]|\\.)*)'\)", src)]
        ids += [_template_id(m.group(1)) for m in re.finditer(r"(?<![\w$])t`((?:[^`\\]|\\.)*)`", src, re.S)]
    # names the server sends that the page shows: style titles, the prompt's formula slots
    ids += [json.loads(p.read_text())["title"] for p in sorted(PRESETS.glob("[!_]*.json"))]
    ids += ["camera", "lighting", "subject", "movement", "scene", "mood"]
    return list(dict.fromkeys(ids))


def test_every_message_the_page_uses_is_in_both_catalogues():
    en, zh = catalogue("en"), catalogue("zh-CN")
    ids = used_ids()
    assert len(ids) > 200
    assert [i for i in ids if i not in en] == []
    assert [i for i in ids if i not in zh] == []
    assert set(en) == set(zh) == set(ids)  # nothing stale either
    assert all(en[i] == i for i in en)  # a message id is its English text


def test_index_html_marks_all_its_visible_english():
    marked = _Marked()
    marked.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert marked.unmarked == []


@pytest.mark.parametrize("message", sorted(catalogue("zh-CN")))
def test_chinese_messages_keep_their_values_and_are_chinese(message):
    zh = catalogue("zh-CN")[message]
    assert sorted(re.findall(r"\{\d+\}", zh)) == sorted(re.findall(r"\{\d+\}", message)), (message, zh)
    words = re.sub(r"\{\d+\}", "", message)
    if re.search(r"[a-z]{3}", words) and message not in ("LoRA",):
        assert CJK.search(zh) or zh == "", (message, zh)
