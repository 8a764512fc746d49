"""The eval report in a real browser: Playwright drives Debian's headless Chromium.

A small suite (a shapes caption and an image-to-video prompt without an image, two
candidates each) runs on the embedded model; the report folder is then moved elsewhere (as a zip
would be) and opened from file:// and from a local http.server. Checks: no page errors,
no request leaves the folder, videos load nothing until played and then play (readyState
and currentTime advance), frame sheets load, the summary lists every category, the
"only flagged" filter works, and the page fits a phone. Screenshots go to
test-artifacts/report/. Run with `pytest -m slow tests/test_report_browser.py`.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import launched_chromium, require_browser

from shotsmith.eval.suite import SuiteOptions, load_suite, run_suite

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "report"

require_browser()
from playwright.sync_api import expect  # noqa: E402

SUITE = [
    {"id": "ball", "category": "shapes", "mode": "t2v", "prompt": "a red ball rolls to the right on green grass"},
    {"id": "cat", "category": "animation", "mode": "i2v", "prompt": "A small cat wags its tail and walks away."},
]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """A report made on the embedded model, then moved: every link must be relative."""
    work = tmp_path_factory.mktemp("report-build")
    suite = work / "suite.jsonl"
    suite.write_text("".join(json.dumps(row) + "\n" for row in SUITE))
    run_suite(load_suite(suite), work / "report", SuiteOptions(steps=2, width=192, height=128, candidates=2,
                                                               suite="browser"))
    moved = tmp_path_factory.mktemp("somewhere-else") / "unzipped report"
    shutil.move(str(work / "report"), moved)
    return moved


@pytest.fixture(scope="module")
def browser():
    with launched_chromium(ARTIFACTS) as chromium:
        yield chromium


def open_report(browser, url: str, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    return page, errors, requests


def play(page, index: int) -> dict:
    """Play the index-th video from the start; return its state once a third of a second has played."""
    video = page.locator("video").nth(index)
    video.scroll_into_view_if_needed()
    handle = video.element_handle()
    page.evaluate("v => { v.muted = true; return v.play(); }", handle)
    page.wait_for_function("v => v.currentTime > 0.3 && v.readyState >= 2", arg=handle, timeout=20_000)
    state = page.evaluate("""v => ({readyState: v.readyState, currentTime: v.currentTime, paused: v.paused,
                                    error: v.error && v.error.code, width: v.videoWidth, height: v.videoHeight})""",
                          handle)
    page.evaluate("v => v.pause()", handle)
    return state


def test_report_from_file_plays_every_video_offline(browser, report_dir):
    page, errors, requests = open_report(browser, (report_dir / "report.html").as_uri(),
                                         viewport={"width": 1280, "height": 900})
    # 1. The summary: one line per category, then overall
    lines = page.locator("#summary tbody tr td:first-child").all_inner_texts()
    assert [t.strip() for t in lines] == ["shapes", "animation", "overall"]
    expect(page.locator("section.group")).to_have_count(2)
    expect(page.locator("#group-animation .first-frame")).to_contain_text("text-to-video model cogvideox-shapes")
    # 2. Lazy: nothing of any video is fetched before it is played
    videos = page.locator("video")
    expect(videos).to_have_count(4)  # two candidates of each prompt
    assert not [url for url in requests if url.endswith(".mp4")]
    assert page.evaluate("() => [...document.querySelectorAll('video')].every(v => v.readyState === 0)")
    page.screenshot(path=str(ARTIFACTS / "desktop.png"), full_page=True)
    # 3. Every video plays
    for i in range(4):
        state = play(page, i)
        assert state["error"] is None and state["readyState"] >= 2 and state["currentTime"] > 0.3
        assert (state["width"], state["height"]) == (192, 128)
    # 4. Frame sheets, contact sheets and first frames load (lazily, once scrolled to)
    for summary in page.locator("details.candidates > summary").all():
        summary.click()  # the studio's side-by-side sheet of the candidates
    images = page.locator("img.sheet, img.contact, .first-frame img")
    expect(images).to_have_count(4 + 2 + 1)
    for img in images.all():
        img.scroll_into_view_if_needed()
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    # 5. Nothing left the folder, and the page raised nothing
    assert all(url.startswith("file://") for url in requests), [u for u in requests if not u.startswith("file://")]
    assert errors == []


def test_only_flagged_filter_and_phone_layout(browser, report_dir):
    data = json.loads((report_dir / "results.json").read_text())
    flagged = sum(1 for row in data["rows"] for clip in row["clips"]
                  if any(f["severity"] in ("fail", "warn") for f in clip["flags"]))
    page, errors, _ = open_report(browser, (report_dir / "report.html").as_uri(),
                                  viewport={"width": 390, "height": 844}, is_mobile=True)
    page.check("#only-flagged")
    visible = page.evaluate("() => [...document.querySelectorAll('.clip')].filter(c => c.offsetParent).length")
    assert visible == flagged
    page.uncheck("#only-flagged")
    expect(page.locator(".clip").first).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    page.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=False)
    assert errors == []


def test_report_over_http_plays(browser, report_dir):
    handler = functools.partial(QuietHandler, directory=str(report_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/report.html"
        page, errors, requests = open_report(browser, url, viewport={"width": 1280, "height": 900})
        state = play(page, 3)
        assert state["readyState"] >= 2 and state["currentTime"] > 0.3
        assert all(u.startswith(f"http://127.0.0.1:{server.server_address[1]}/") for u in requests)
        assert errors == []
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass
