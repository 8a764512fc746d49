"""The studio's Storyboard view, server side: the page carries the view, its scripts are
served, every message it shows is in English and Chinese. No browser and no model:
tests/test_studio_boards_browser.py drives the view in Chromium against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shotsmith.api.app import create_app
from shotsmith.jobs import owner_of
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


# Signed links to a board's files -------------------------------------------------------------


KEY_B = "sk-studio-boards-other"


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture()
def two_keys(tmp_path):
    app = create_app(Settings(home=tmp_path / "home", worker=False, preload="", api_keys=(KEY, KEY_B)))
    with TestClient(app) as http:
        yield http


def png_data_url(colour=(200, 30, 30)) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def board_with_image(http: TestClient) -> tuple[dict, str]:
    """A board with one image-to-video shot: its image is a file of the board's folder."""
    made = http.post("/api/v1/boards", json={"name": "links"}, headers=auth(KEY))
    assert made.status_code == 201, made.text
    board = made.json()
    added = http.post(f"/api/v1/boards/{board['id']}/shots", headers=auth(KEY),
                      json={"text": "a red ball rolls to the right", "mode": "i2v", "image": png_data_url()})
    assert added.status_code == 201, added.text
    board = added.json()
    return board, board["shots"][0]["image_url"].split("/files/", 1)[1]


def test_a_board_file_opens_by_its_signed_folder_link_without_a_header(two_keys):
    board, name = board_with_image(two_keys)
    links = two_keys.get(f"/api/v1/studio/boards/{board['id']}/links", headers=auth(KEY))
    assert links.status_code == 200
    folder = links.json()["files"]
    assert folder.startswith("/studio/board-files/") and folder.endswith(f"/{board['id']}/")
    served = two_keys.get(folder + name)  # no Authorization header: what an <img> or <a> sends
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == two_keys.get(board["shots"][0]["image_url"], headers=auth(KEY)).content
    assert "sandbox" in served.headers["content-security-policy"]
    download = two_keys.get(folder + name, params={"download": 1})
    assert download.headers["content-disposition"].startswith("attachment")


def test_the_shot_list_page_runs_sandboxed_away_from_the_studios_key(two_keys):
    board, _ = board_with_image(two_keys)
    page = two_keys.app.state.services.settings.home / "boards" / board["id"] / "shotlist.html"
    page.write_text("<!doctype html><title>shots</title><p>Shot 1</p>")  # as the export leaves it
    folder = two_keys.get(f"/api/v1/studio/boards/{board['id']}/links", headers=auth(KEY)).json()["files"]
    served = two_keys.get(folder + "shotlist.html")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    policy = served.headers["content-security-policy"]
    assert policy.startswith("sandbox") and "allow-same-origin" not in policy  # an origin of its own


def test_board_links_are_per_key_and_cannot_be_forged(two_keys):
    board, name = board_with_image(two_keys)
    other = two_keys.get(f"/api/v1/studio/boards/{board['id']}/links", headers=auth(KEY_B))
    assert other.status_code == 404 and other.json()["error"]["param"] == "board_id"
    assert two_keys.get(f"/api/v1/studio/boards/{board['id']}/links").status_code == 401
    folder = two_keys.get(f"/api/v1/studio/boards/{board['id']}/links", headers=auth(KEY)).json()["files"]
    owner_id, expires, sig, board_id = folder.strip("/").split("/")[2:]
    base = "/studio/board-files"
    forged = two_keys.get(f"{base}/{owner_id}/{expires}/{sig[:-2]}xx/{board_id}/{name}")
    assert forged.status_code == 401 and "invalid or has expired" in forged.json()["error"]["message"]
    stretched = two_keys.get(f"{base}/{owner_id}/{int(expires) + 3600}/{sig}/{board_id}/{name}")
    assert stretched.status_code == 401
    signer = two_keys.app.state.studio_signer
    b_owner = signer.owner_id(owner_of(KEY_B))
    assert two_keys.get(f"{base}/{b_owner}/{expires}/{sig}/{board_id}/{name}").status_code == 401
    missing = two_keys.get(folder + "nope.png")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "name"
    assert two_keys.get(folder + ".%2e/.%2e/studio.key").status_code == 404  # nothing outside the folder


def test_the_access_log_drops_board_link_signatures():
    import logging

    from shotsmith.web.links import RedactLinkSignatures

    path = "/studio/board-files/OwNeR/1700000000/SiG-9_z/board_ab12/shotlist.html"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", path, "1.1", 200), None)
    assert RedactLinkSignatures().filter(record)
    line = record.getMessage()
    assert "SiG-9_z" not in line and "/OwNeR/1700000000/.../board_ab12/shotlist.html" in line
