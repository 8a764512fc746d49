"""The Storyboard view in a real browser: Playwright drives Debian's headless Chromium against a
real `python -m shotsmith.api` server (tests/api_server.py, API keys on, the embedded models).

The whole flow, on a desktop (1280x800) and on a phone (390x844, touch): errors beside their
fields, a new board from the five-shot script file (tests/data/board_script.md), K=2 per shot,
Render all with progress (on the desktop, the server is restarted mid-render: the page says so,
keeps polling, the finished takes stay and the rest renders), export refused while a shot has
no pick (the shot is named on its
card), a take picked per shot (the continued shot renders once the one before it has a pick),
two shots reordered (dragged on the desktop, arrow buttons on the phone), export, the cut
downloaded (an MP4 with a chapter per shot, in the new order), the shot list opened. Screenshots
go to test-artifacts/storyboard/. Run with `pytest -m slow tests/test_studio_boards_browser.py`.
"""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from browser import launched_chromium, require_browser

from api_server import KEY_A, REPO, start_server

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "storyboard"
SCRIPT = REPO / "tests" / "data" / "board_script.md"
WIDTH, HEIGHT, FPS = 192, 128, 8
SHOTS = 5
K = 2
RENDER_TIMEOUT_MS = 900_000  # ten takes on a busy 2-core CPU

require_browser()
from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The server, in a holder: the desktop test restarts it mid-render, the phone test uses the new one."""
    holder = {"server": start_server(tmp_path_factory.mktemp("boards-home"))}
    yield holder
    holder["server"].stop()


@pytest.fixture(scope="module")
def browser():
    with launched_chromium(ARTIFACTS) as chromium:
        yield chromium


def open_studio(browser, server, **context_options) -> tuple[Page, list[str]]:
    """The studio's Storyboard tab, signed in with key A."""
    context = browser.new_context(accept_downloads=True, **context_options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url)
    expect(page.locator("#key-dialog")).to_be_visible()
    page.fill("#api-key", KEY_A)
    page.click("#key-form button[type=submit]")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.click("#tab-boards")
    expect(page.locator("#board-index")).to_be_visible()
    expect(page.locator("#boards-list[data-loaded=true]")).to_be_attached()
    assert page.evaluate("location.hash") == "#/boards"
    return page, errors


def shot(page: Page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def api_board(server, board_id: str) -> dict:
    with server.client(KEY_A) as http:
        answer = http.get(f"/api/v1/boards/{board_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()


def cards(page: Page):
    return page.locator("#shot-strip li.shot")


def titles(page: Page) -> list[str]:
    return page.eval_on_selector_all("#shot-strip li.shot .shot-title",
                                     "els => els.map(el => el.textContent.replace(/^\\d+\\. /, ''))")


def new_board(page: Page, name: str) -> str:
    """Make a board from the script file through the form; returns its id."""
    # Nothing filled in: the API's refusal stands beside the field it names
    page.click("#board-create")
    expect(page.locator("#board-name-error")).not_to_be_empty()
    assert "invalid" in page.get_attribute("#board-name-error >> xpath=..", "class")
    page.fill("#board-size", "192 by 128")
    page.click("#board-create")
    expect(page.locator("#board-size-error")).to_contain_text("WIDTHxHEIGHT")
    page.fill("#board-size", "")
    page.fill("#board-name", "a script too long")
    page.fill("#board-script", "Pip rolls to the right across the grass. " * 50_000)  # 2 MB
    with page.expect_response(lambda r: r.url.endswith("/api/v1/boards")) as answer:
        page.click("#board-create")
    assert answer.value.status == 400
    expect(page.locator("#board-script-error")).to_contain_text("limit")
    page.fill("#board-name", "")

    page.set_input_files("#board-script-file", str(SCRIPT))
    expect(page.locator("#board-script-note")).to_contain_text("board_script.md")  # read in the browser
    assert "Pip, a small red ball" in page.input_value("#board-script")
    page.fill("#board-name", name)
    page.fill("#board-size", f"{WIDTH}x{HEIGHT}")
    page.select_option("#board-fps", str(FPS))
    page.click("#board-advanced summary")
    page.fill("#board-steps", "8")
    page.select_option("#board-interpolation", "none")
    page.click("#board-create")
    page.wait_for_function("() => location.hash.startsWith('#/boards/board_')")
    expect(cards(page)).to_have_count(SHOTS)
    expect(page.locator("#board-title")).to_have_text(name)
    return page.evaluate("decodeURIComponent(location.hash.split('/')[2])")


def set_candidates(page: Page, k: int) -> None:
    for i in range(SHOTS):
        with page.expect_response(lambda r: "/shots/" in r.url and r.request.method == "PATCH") as answer:
            cards(page).nth(i).locator(".shot-candidates").select_option(str(k))
        assert answer.value.status == 200
    expect(page.locator("#shot-strip .shot-candidates >> nth=4")).to_have_value(str(k))


def finished_takes(server, board_id: str) -> dict[str, str]:
    return {take["id"]: take["video_url"] for shot in api_board(server, board_id)["shots"] for take in shot["takes"]
            if take["status"] == "completed"}


def restart_mid_render(page: Page, live: dict, board_id: str) -> None:
    """Once a take is done, stop the server and start it again (same home and port): the page says
    it lost the server and keeps polling; the finished takes are still there and the rest renders."""
    page.wait_for_function("() => document.querySelector('#shot-strip .shot-thumb img:not([hidden])')",
                           timeout=RENDER_TIMEOUT_MS)
    server = live["server"]
    done_before = finished_takes(server, board_id)
    assert done_before
    server.stop()
    expect(page.locator("#board-error")).to_contain_text("Cannot reach", timeout=20_000)
    live["server"] = server = start_server(server.home, port=server.port)
    expect(page.locator("#board-error")).to_be_empty(timeout=30_000)
    after = finished_takes(server, board_id)
    assert {take: after.get(take) for take in done_before} == done_before


def render_all(page: Page, restart: tuple[dict, str] | None = None) -> None:
    page.evaluate("""() => {  // note every percent the board's bar shows while it renders
        window.__percents = [];
        const board = document.getElementById('board');
        new MutationObserver(() => window.__percents.push(Number(board.dataset.progress)))
          .observe(board, {attributes: true, attributeFilter: ['data-progress']});
    }""")
    with page.expect_response(lambda r: r.url.endswith("/render")) as answer:
        page.click("#board-render")
    assert answer.value.status == 202
    expect(page.locator("#board-render")).to_be_disabled()
    if restart:
        restart_mid_render(page, *restart)
    page.wait_for_function("() => [...document.querySelectorAll('#shot-strip li.shot')].every("
                           "li => ['done', 'waiting'].includes(li.dataset.status))", timeout=RENDER_TIMEOUT_MS)
    percents = page.evaluate("window.__percents")
    assert any(0 < p < 100 for p in percents), percents  # progress was shown on the way, not only at the end
    statuses = page.eval_on_selector_all("#shot-strip li.shot", "els => els.map(el => el.dataset.status)")
    assert statuses == ["done", "done", "waiting", "done", "done"], statuses  # shot 3 continues shot 2
    takes = page.eval_on_selector_all("#shot-strip li.shot", "els => els.map(el => el.dataset.takes)")
    assert takes == [str(K), str(K), "0", str(K), str(K)], takes  # K each; nothing rendered twice


def export_refused_without_picks(page: Page) -> None:
    page.click("#board-export-open")
    with page.expect_response(lambda r: r.url.endswith("/export")) as answer:
        page.click("#export-run")
    assert answer.value.status == 409
    expect(page.locator("#export-error")).to_contain_text("no picked take")
    expect(cards(page).first).to_have_class(re.compile(r"\binvalid\b"))  # the shot the API named
    expect(cards(page).first.locator(".error")).to_contain_text("no picked take")


def pick_every_shot(page: Page, server, board_id: str, which: int) -> dict[str, str]:
    """Select each shot, wait for its K takes to play, pick take `which`. Returns shot -> take id."""
    picked = {}
    for i in range(SHOTS):
        card = cards(page).nth(i)
        card.locator(".shot-thumb").click()  # shows this shot's takes
        expect(card).to_have_attribute("data-status", "done", timeout=RENDER_TIMEOUT_MS)  # shot 3: after 2's pick
        shot_id = card.get_attribute("data-id")
        expect(page.locator("#takes")).to_have_attribute("data-shot", shot_id)
        takes = page.locator("#takes-grid .take")
        expect(takes).to_have_count(K)
        page.wait_for_function(f"() => {{ const v = [...document.querySelectorAll('#takes-grid video')];"
                               f" return v.length === {K} && v.every(x => x.readyState >= 1 && x.videoWidth === {WIDTH}); }}",
                               timeout=RENDER_TIMEOUT_MS)  # the worker may be rendering the next shot meanwhile
        seeds = [int(takes.nth(j).get_attribute("data-seed")) for j in range(K)]
        assert seeds[1] == seeds[0] + 1  # the shot's seed, then the next: a re-make gives the same takes
        take = takes.nth(which)
        with page.expect_response(lambda r: r.url.endswith("/pick")) as answer:
            take.locator(".pick").click()
        assert answer.value.status == 200
        expect(take).to_have_attribute("data-picked", "true")
        expect(take.locator(".pick")).to_be_disabled()
        expect(card.locator(".shot-thumb")).to_have_attribute("data-picked", "true")
        expect(card.locator(".shot-thumb img")).to_be_visible()  # the picked take's cover on the card
        picked[shot_id] = take.get_attribute("data-id")
    board = api_board(server, board_id)
    assert {s["id"]: s["picked_take_id"] for s in board["shots"]} == picked
    assert board["status"] == "ready"
    expect(page.locator("#board-status")).to_have_text("Ready to export")
    expect(page.locator("#board-progress-text")).to_contain_text(f"{SHOTS} of {SHOTS} shots rendered · {SHOTS} picked")
    return picked


def drag_card(page: Page, source: int, past: int) -> None:
    """Drag card `source` by its handle to the right of card `past` with the mouse (pointer events)."""
    page.locator("#shot-strip").scroll_into_view_if_needed()
    page.eval_on_selector("#shot-strip", "el => { el.scrollLeft = el.scrollWidth; }")
    handle = cards(page).nth(source).locator(".drag-handle").bounding_box()
    target = cards(page).nth(past).bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    with page.expect_response(lambda r: r.url.endswith("/order")) as answer:
        page.mouse.move(target["x"] + target["width"] * 0.8, target["y"] + 20, steps=15)
        page.mouse.up()
    assert answer.value.status == 200


def export_and_download(page: Page, server, board_id: str, name: str, order: list[str]) -> None:
    page.click("#board-export-open")
    page.fill("#export-crossfade", "0")
    with page.expect_response(lambda r: r.url.endswith("/export"), timeout=300_000) as answer:
        page.click("#export-run")
    assert answer.value.status == 200
    expect(page.locator("#export-cut")).to_be_visible()
    expect(page.locator("#board-status")).to_have_text("Exported")
    board = api_board(server, board_id)
    total = sum(s["duration"] for s in board["shots"])

    with page.expect_download() as download:
        page.click("#export-cut")
    cut = ARTIFACTS / f"{name}-cut.mp4"
    download.value.save_as(cut)
    import av

    with av.open(str(cut)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (WIDTH, HEIGHT)
        chapters = container.chapters()
    assert abs(frames / FPS - total) <= 0.1, (frames, total)
    assert [c["metadata"].get("title") for c in chapters] == order  # a chapter per shot, in the new order
    expect(page.locator("#export-note")).to_contain_text(f"{SHOTS} chapters")

    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == SHOTS + 1 and any(order[0] in cell for cell in rows[1])

    with page.expect_popup() as popup:
        page.click("#export-html")
    sheet = popup.value
    sheet.wait_for_load_state()
    text = sheet.locator("body").inner_text()
    assert all(title in text for title in order), text[:400]
    sheet.wait_for_timeout(800)
    sheet.screenshot(path=str(ARTIFACTS / f"{name}-shotlist.png"), full_page=True)
    sheet.close()
    # the signed link works without a header: what the <a> fetched, a client can too
    href = page.get_attribute("#export-cut", "href")
    assert httpx.get(server.url + href, timeout=60).content == cut.read_bytes()


def test_desktop_storyboard(live, browser):
    page, errors = open_studio(browser, live["server"], viewport={"width": 1280, "height": 800})
    board_id = new_board(page, "Pip's day out")
    first = api_board(live["server"], board_id)
    assert [s["mode"] for s in first["shots"]] == ["t2v", "t2v", "continue", "t2v", "t2v"]
    set_candidates(page, K)
    shot(page, "desktop-draft", full_page=False)

    render_all(page, restart=(live, board_id))
    server = live["server"]
    export_refused_without_picks(page)
    shot(page, "desktop-rendered")
    pick_every_shot(page, server, board_id, which=1)

    before = titles(page)
    drag_card(page, 3, 4)
    after = titles(page)
    assert after == before[:3] + [before[4], before[3]]
    assert [s["title"] for s in api_board(server, board_id)["shots"]] == after  # the server has the new order
    page.eval_on_selector("#shot-strip", "el => { el.scrollLeft = 0; }")
    cards(page).first.locator(".shot-thumb").click()
    page.wait_for_function("() => [...document.querySelectorAll('#takes-grid video')].every(v => v.readyState >= 2)")
    shot(page, "desktop-picked", full_page=False)

    export_and_download(page, server, board_id, "desktop", after)
    page.locator("#board-export").scroll_into_view_if_needed()
    shot(page, "desktop-exported")
    assert not errors, errors


def test_phone_storyboard(live, browser):
    server = live["server"]
    page, errors = open_studio(browser, server, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                               is_mobile=True, has_touch=True)
    boards_before = page.locator("#boards-list .board-item").count()
    board_id = new_board(page, "Pip on a phone")
    set_candidates(page, K)
    # the strip scrolls sideways inside the page; the page itself is no wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.eval_on_selector("#shot-strip", "el => el.scrollWidth > el.clientWidth + 100")
    shot(page, "phone-draft", full_page=False)

    render_all(page)
    pick_every_shot(page, server, board_id, which=0)
    before = titles(page)
    with page.expect_response(lambda r: r.url.endswith("/order")):
        cards(page).nth(3).locator(".move-right").click()  # the keyboard / touch alternative to dragging
    after = titles(page)
    assert after == before[:3] + [before[4], before[3]]
    expect(cards(page).nth(4).locator(".move-left")).to_be_focused()  # focus stays on the moved card
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    cards(page).nth(4).locator(".shot-thumb").click()
    page.wait_for_function("() => [...document.querySelectorAll('#takes-grid video')].every(v => v.readyState >= 2)")
    page.locator("#takes").scroll_into_view_if_needed()
    shot(page, "phone-takes", full_page=False)

    export_and_download(page, server, board_id, "phone", after)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-exported")

    # a shot added by hand, made image to video: its first frame is asked for, sent, and shown
    page.click("#board-add-open")
    page.fill("#shot-add-text", "a yellow triangle slides down the sand")
    with page.expect_response(lambda r: r.url.endswith("/shots") and r.request.method == "POST") as answer:
        page.click("#shot-add button[type=submit]")
    assert answer.value.status == 201
    expect(cards(page)).to_have_count(SHOTS + 1)
    added = cards(page).nth(SHOTS)
    added.locator(".shot-mode").select_option("i2v")
    expect(added.locator(".error")).to_contain_text("first frame")
    frame = ARTIFACTS / "first-frame.png"
    from PIL import Image

    Image.new("RGB", (WIDTH, HEIGHT), (230, 200, 60)).save(frame)
    with page.expect_response(lambda r: "/shots/" in r.url and r.request.method == "PATCH") as answer:
        added.locator("input[type=file]").set_input_files(str(frame))
    assert answer.value.status == 200
    expect(added.locator(".shot-mode")).to_have_value("i2v")
    page.wait_for_function("() => { const img = document.querySelectorAll('#shot-strip li.shot')[5]"
                           ".querySelector('.shot-image'); return img && !img.hidden && img.naturalWidth === "
                           f"{WIDTH}; }}")  # loaded by the board's signed link, no header
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: "/shots/" in r.url and r.request.method == "DELETE"):
        added.locator(".shot-delete").click()
    expect(cards(page)).to_have_count(SHOTS)

    # deleting the board removes it from the list (and its files from the server)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#board-delete")
    page.wait_for_function("() => location.hash === '#/boards'")
    expect(page.locator("#boards-list .board-item")).to_have_count(boards_before)
    with server.client(KEY_A) as http:
        assert http.get(f"/api/v1/boards/{board_id}").status_code == 404
    assert not (server.home / "boards" / board_id).exists()
    assert not errors, errors
