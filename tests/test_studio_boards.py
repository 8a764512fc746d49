"""The studio's Storyboard view, server side: the page carries the view, its scripts are
served, every message it shows is in English and Chinese. No browser and no model:
tests/test_studio_boards_browser.py drives the view in Chromium against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotsmith.api.app import create_app
from shotsmith.settings import Settings
from shotsmith.web.pages import static_dir

from test_studio_i18n import _template_id, catalogue

KEY = "sk-studio-boards"
CJK = re.compile(r"[\u3400-\u9fff]")
VIEW_SCRIPTS = ("boards.js", "strip.js")


@pytest.fixture()
def client(tmp_path):
    app = create_app(Settings(home=tmp_path / "home", worker=False, preload="", api_keys=(KEY,)))
    with TestClient(app) as http:
        yield http


def view_message_ids() -> list[str]:
    """The message ids the Storyboard's scripts show (t('...') and t`...`)."""
    ids = []
    for name in VIEW_SCRIPTS:
        src = (static_dir() / "js" / name).read_text(encoding="utf-8")
        ids += [m.group(1).replace("\\'", "'") for m in re.finditer(r"(?<![\w$])t\('((?:[^'\\]|\\.)*)'\)", src)]
        ids += [_template_id(m.group(1)) for m in re.finditer(r"(?<![\w$])t`((?:[^`\\]|\\.)*)`", src, re.S)]
    return list(dict.fromkeys(ids))


def test_the_page_has_a_storyboard_tab_and_view(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'<a href="#/boards" id="tab-boards"[^>]*>Storyboard</a>', html)
    view = html[html.index('<main id="boards-view"'):]
    view = view[:view.index("</main>")]
    for part in ('id="board-new"', 'id="board-script"', 'id="board-size"', 'id="board-fps"', 'id="board-style"',
                 'id="shot-strip"', 'id="takes-grid"', 'id="board-render"', 'id="board-progress"',
                 'id="export-run"', 'id="export-links"', 'id="board-error"', 'id="board-script-error"'):
        assert part in view, part
    script_file = re.search(r'<input type="file" id="board-script-file"[^>]*accept="([^"]+)"', view)
    assert script_file and ".md" in script_file.group(1) and ".txt" in script_file.group(1)
    assert " style=" not in view and "<script" not in view  # the page's strict CSP still holds


def test_the_view_scripts_are_served_and_loaded_by_the_studio(client):
    studio = client.get("/studio/static/js/studio.js")
    assert studio.status_code == 200 and "from './boards.js'" in studio.text
    for name in VIEW_SCRIPTS:
        response = client.get(f"/studio/static/js/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["content-type"]
        assert "innerHTML" not in response.text  # text goes in as text: a shot's words never become markup
    api = client.get("/studio/static/js/api.js").text
    for call in ("'/api/v1/boards'", "/order`", "/render`", "/pick`", "/export`", "/shots`"):
        assert call in api, call


def test_every_storyboard_message_is_in_both_languages():
    en, zh = catalogue("en"), catalogue("zh-CN")
    ids = view_message_ids()
    assert len(ids) > 60
    for message in ids:
        assert en.get(message) == message, message
        assert message in zh, message
        if re.search(r"[a-z]{3}", re.sub(r"\{\d+\}", "", message)):
            assert CJK.search(zh[message]), (message, zh[message])
    assert zh["Storyboard"] == "分镜" and zh["Render all"] == "全部生成"


def test_the_storyboard_styles_the_strip_for_a_phone():
    css = (static_dir() / "studio.css").read_text(encoding="utf-8")
    assert re.search(r"\.strip \{[^}]*overflow-x: auto", css)  # the strip scrolls, not the page
    phone = css[css.index("@media (max-width: 480px)"):]
    assert ".shot { flex-basis:" in phone and ".takes-grid" in phone
    assert "touch-action: none" in css  # a drag on the handle is not a page scroll on a touch screen
