"""The studio in a real browser: Playwright drives Debian's headless Chromium against a
real `python -m shotsmith.api` server (tests/api_server.py) with API keys on.

Desktop: key prompt, enhance, generate two candidates, watch the progress advance, play
and decode the clips, reuse a seed, see API errors beside their fields, cancel a job,
use a frame as the first frame of an image-to-video clip, reload, filter the gallery,
restart the server. Phone (390x844): the main path again. Screenshots go to
test-artifacts/studio/. Run with `pytest -m slow tests/test_studio_browser.py`.
"""

from __future__ import annotations

import re

import httpx
import pytest
from browser import launched_chromium, require_browser

from api_server import KEY_A, REPO, decode_video, start_server

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "studio"
PROMPT = "a red ball rolls to the right on green grass"

require_browser()
from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The server, in a holder: the desktop test restarts it and the phone test uses the new one."""
    home = tmp_path_factory.mktemp("studio-home")
    holder = {"server": start_server(home)}
    yield holder
    holder["server"].stop()


@pytest.fixture(scope="module")
def browser():
    with launched_chromium(ARTIFACTS) as chromium:
        yield chromium


def open_page(browser, url: str, **context_options) -> tuple[Page, list[str]]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))  # an exception in the page's own code
    page.goto(url)
    return page, errors


def shot(page: Page, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def sign_in(page: Page, key: str = KEY_A) -> None:
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    page.fill("#api-key", "sk-not-a-real-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#api-key-error")).to_contain_text("invalid API key")
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(dialog).to_be_hidden()


def record_progress(page: Page) -> None:
    """Note every state the result panel shows (status, percent, step) as it changes."""
    page.evaluate("""() => {
        window.__progress = [];
        const box = document.getElementById('result-job');
        new MutationObserver(() => window.__progress.push(
            [box.dataset.status, Number(box.dataset.progress), Number(box.dataset.step)]
        )).observe(box, {attributes: true, attributeFilter: ['data-status', 'data-progress', 'data-step']});
    }""")


def generate(page: Page, timeout: float = 240.0) -> str:
    """Press Generate; wait until the new job is on screen and finished. Returns its id."""
    before = page.text_content("#result-id")
    page.click("#generate")
    page.wait_for_function("before => { const t = document.getElementById('result-id').textContent;"
                           " return t && t !== before; }", arg=before)
    job_id = page.text_content("#result-id")
    page.wait_for_function("() => ['completed', 'failed', 'cancelled'].includes("
                           "document.getElementById('result-job').dataset.status)", timeout=timeout * 1000)
    return job_id


def open_advanced(page: Page) -> None:
    if not page.eval_on_selector("#advanced", "el => el.open"):
        page.click("#advanced summary")


def check_videos_play(page: Page, server, count: int, size=(480, 320)) -> list[str]:
    """Each <video> has loaded its data and has a duration; its file decodes with PyAV."""
    videos = page.locator("#clips video")
    expect(videos).to_have_count(count)
    page.wait_for_function(f"() => [...document.querySelectorAll('#clips video')]"
                           f".every(v => v.readyState >= 2 && v.duration > 0 && v.videoWidth === {size[0]})",
                           timeout=60_000)
    sources = [videos.nth(i).get_attribute("src") for i in range(count)]
    for src in sources:
        decoded = decode_video(httpx.get(server.url + src, timeout=60).content)  # no header: the link is signed
        assert decoded["codec"] == "h264" and decoded["frames"] > 10
        assert (decoded["width"], decoded["height"]) == size
    return sources


def settle_videos(page: Page, at: float = 2.5) -> None:
    """Pause every clip on a frame from its middle, so a screenshot shows the picture."""
    ready = "() => [...document.querySelectorAll('#clips video')].every(v => v.readyState >= 3 && !v.seeking)"
    page.wait_for_function(ready)
    page.evaluate("""at => Promise.all([...document.querySelectorAll('#clips video')].map(v => new Promise(ok => {
        v.pause(); v.addEventListener('seeked', ok, {once: true}); v.currentTime = at; })))""", at)
    page.wait_for_function(ready)
    page.wait_for_timeout(1000)  # let the player's controls settle (no loading spinner in the shot)


def api_job(server, job_id: str) -> dict:
    with server.client(KEY_A) as http:
        return http.get(f"/api/v1/jobs/{job_id}").json()


def test_desktop_studio(live, browser):
    server = live["server"]
    page, errors = open_page(browser, server.url, viewport={"width": 1360, "height": 900})
    sign_in(page)

    # 1. An idea, enhanced into the formula prompt for a CogVideoX checkpoint (its weights need not
    # be here: the prompt only depends on its 226-token window), slots shown with where each came from
    page.fill("#idea", PROMPT)
    page.select_option("#model", "cogvideox-2b")
    page.click("#enhance")
    expect(page.locator("#enhanced")).to_be_visible()
    formula = page.input_value("#prompt")
    assert PROMPT in formula and len(formula) > 2 * len(PROMPT)
    slots = page.locator("#slots li")
    expect(slots).to_have_count(6)
    sources = {slots.nth(i).get_attribute("data-source") for i in range(6)}
    assert "user" in sources and sources & {"default", "preset"}
    expect(page.locator("#prompt-meta")).to_contain_text("/ 226 tokens")
    # another model: that prompt is not sent to it; the embedded one (48 tokens) gets the idea as typed
    page.select_option("#model", "cogvideox-shapes")
    expect(page.locator("#enhanced")).to_be_hidden()
    expect(page.locator("#enhance-note")).to_contain_text("Model changed: press Enhance again")
    page.click("#enhance")
    expect(page.locator("#enhanced")).to_be_visible()
    assert page.input_value("#prompt") == PROMPT
    expect(page.locator("#prompt-meta")).to_contain_text("/ 48 tokens")
    expect(page.locator("#prompt-meta")).to_contain_text("as written")

    # 2. Two candidates at a small size; the progress bar advances through the steps
    page.select_option("#size", "480x320")
    page.click("#candidates label:has-text('2')")
    record_progress(page)
    job_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    seen = page.evaluate("window.__progress")
    running = [p for status, p, step in seen if status == "in_progress"]
    assert any(0 < p < 100 for p in running), seen
    assert len({step for status, p, step in seen if status == "in_progress" and step > 0}) >= 3, seen
    assert running == sorted(running), "the bar went backwards"

    # 3. Both clips side by side, playable, decodable, with the seeds the job used
    check_videos_play(page, server, 2)
    job = api_job(server, job_id)
    shown = [int(s) for s in page.locator("#clips .seed b").all_text_contents()]
    assert shown == job["seeds"] and len(set(shown)) == 2
    for label in ("MP4", "GIF", "Cover"):
        link = page.locator(f"#clips figure >> nth=0 >> a:has-text('{label}')")
        assert link.get_attribute("download") and "download=1" in link.get_attribute("href")
    settle_videos(page)
    shot(page, "desktop-finished")

    # 4. Reuse a seed in one click
    page.locator("#clips .reuse-seed").nth(1).click()
    assert page.input_value("#seed") == str(job["seeds"][1])
    page.click("#seed-random")
    assert page.input_value("#seed") == ""

    # 5. API errors stand beside their field, in words
    page.select_option("#size", "custom")
    page.fill("#size-custom", "1000x333")
    page.click("#generate")
    expect(page.locator("#size-error")).to_contain_text("multiple of 16")
    page.fill("#seconds", "99")
    page.fill("#size-custom", "480x320")
    page.click("#generate")
    expect(page.locator("#seconds-error")).to_contain_text("longer than")
    page.fill("#seconds", "")
    assert "Traceback" not in page.inner_text("body")

    # 6. Cancel a long job
    open_advanced(page)
    page.fill("#steps", "150")
    page.click("#candidates label:has-text('1')")
    before = page.text_content("#result-id")
    page.click("#generate")
    page.wait_for_function("before => document.getElementById('result-id').textContent !== before", arg=before)
    cancelled_id = page.text_content("#result-id")
    page.wait_for_function("() => document.getElementById('result-job').dataset.step > 0")
    page.click("#job-cancel")
    page.wait_for_function("() => document.getElementById('result-job').dataset.status === 'cancelled'",
                           timeout=60_000)
    expect(page.locator("#job-stage")).to_have_text("Cancelled")
    assert api_job(server, cancelled_id)["status"] == "cancelled"
    page.fill("#steps", "")

    # 7. Image to video: a bad file is refused beside the image field; a frame of the clip is used
    page.click(f"#queue-list li[data-id='{job_id}'] .open")
    expect(page.locator("#clips video")).to_have_count(2)
    page.eval_on_selector("#clips video", "v => { v.pause(); v.currentTime = 2; }")
    page.wait_for_function("() => { const v = document.querySelector('#clips video'); return !v.seeking; }")
    page.click("input[name=mode][value=i2v] + span")
    expect(page.locator("#enhanced")).to_be_hidden()  # the t2v formula is not sent with an image
    expect(page.locator("#enhance-note")).to_contain_text("press Enhance again")
    page.set_input_files("#image-input", files=[{"name": "broken.png", "mimeType": "image/png",
                                                 "buffer": b"this is not a picture"}])
    page.fill("#idea", "")
    page.click("#generate")
    expect(page.locator("#image-error")).to_contain_text(re.compile("not an image", re.IGNORECASE))
    page.locator("#clips .use-frame").first.click()
    expect(page.locator("#image-preview")).to_be_visible()
    expect(page.locator("#image-note")).to_contain_text("frame 49")  # 2 s at 24 fps
    assert page.input_value("#model") == "cogvideox-shapes-i2v"
    page.wait_for_function("() => document.getElementById('image-preview').naturalWidth === 480")
    open_advanced(page)
    page.fill("#steps", "4")
    page.click("#candidates label:has-text('1')")
    i2v_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    check_videos_play(page, server, 1)
    assert api_job(server, i2v_id)["spec"]["model"] == "cogvideox-shapes-i2v"

    # 8. Reload: the result, the queue and the gallery are still there; search and filter
    page.reload()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#result-id")).to_have_text(i2v_id)
    expect(page.locator(f"#queue-list li[data-id='{cancelled_id}'] .chip")).to_have_text("Cancelled")
    cards = page.locator("#gallery-grid .card")
    expect(cards).to_have_count(2)
    page.fill("#gallery-search", "green grass")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-id", job_id)
    page.fill("#gallery-search", str(job["seeds"][0]))
    expect(cards).to_have_count(1)
    page.fill("#gallery-search", "zebra")
    expect(page.locator("#gallery-empty")).to_have_text("No clips match.")
    page.fill("#gallery-search", "")
    page.select_option("#gallery-style", "anime-2d")
    expect(cards).to_have_count(0)
    page.select_option("#gallery-style", "none")
    expect(cards).to_have_count(2)
    page.select_option("#gallery-style", "")
    shot(page, "desktop-after-reload")

    # 9. A server restart: same data, the page picks up where it was after a reload
    server.stop()
    live["server"] = server = start_server(server.home, port=server.port)
    page.reload()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#gallery-grid .card")).to_have_count(2)
    check_videos_play(page, server, 1)
    assert not errors, errors


def test_phone_studio(live, browser):
    server = live["server"]
    page, errors = open_page(browser, server.url, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                             is_mobile=True, has_touch=True)
    sign_in(page)
    expect(page.locator("#gallery-grid .card")).to_have_count(2)  # the same key's work, after the restart

    page.click("input[name=input][value=scene] + span")
    page.fill("#scene", "a sandy beach")
    page.fill("#content", "a yellow triangle moves up")
    page.click("#enhance")
    expect(page.locator("#enhanced")).to_be_visible()
    assert "yellow triangle" in page.input_value("#prompt")
    expect(page.locator("#slots li[data-source=user]")).not_to_have_count(0)
    page.select_option("#size", "480x320")
    page.click("#advanced summary")
    page.fill("#steps", "6")
    record_progress(page)
    shot(page, "phone-form")
    job_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    assert any(0 < p < 100 for status, p, _ in page.evaluate("window.__progress") if status == "in_progress")
    check_videos_play(page, server, 1)
    download = page.locator("#clips a:has-text('MP4')")
    assert download.get_attribute("download")
    assert decode_video(httpx.get(server.url + download.get_attribute("href"), timeout=60).content)["frames"] > 10

    # one column, nothing wider than the screen, the video as wide as the panel
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#clips video").bounding_box()
    assert box["width"] > 300
    settle_videos(page)
    page.locator("#result").scroll_into_view_if_needed()
    shot(page, "phone-finished", full_page=False)
    shot(page, "phone-full")
    expect(page.locator("#gallery-grid .card")).to_have_count(3)
    first = api_job(server, job_id)
    assert first["status"] == "completed" and "yellow triangle" in first["enhanced_prompt"]

    # Edit & remix loads the settings (seed kept); Remix: new seed makes the same clip with another seed
    page.click("#remix-edit")
    assert page.input_value("#seed") == str(first["seeds"][0])
    assert page.input_value("#prompt") == first["enhanced_prompt"]
    assert page.input_value("#steps") == "6" and page.input_value("#size") == "480x320"
    before = page.text_content("#result-id")
    page.click("#remix-seed")
    page.wait_for_function("before => document.getElementById('result-id').textContent !== before", arg=before)
    page.wait_for_function("() => document.getElementById('result-job').dataset.status === 'completed'",
                           timeout=240_000)
    remix = api_job(server, page.text_content("#result-id"))
    assert remix["enhanced_prompt"] == first["enhanced_prompt"] and remix["seeds"] != first["seeds"]
    assert remix["spec"]["steps"] == 6 and remix["spec"]["width"] == 480
    check_videos_play(page, server, 1)
    assert not errors, errors
