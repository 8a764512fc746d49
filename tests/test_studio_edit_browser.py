"""Extend, edit and first+last frames in the studio, in a real browser: Playwright drives
Debian's headless Chromium against a real `python -m shotsmith.api` server (embedded models)
with API keys on, as tests/test_studio_browser.py does.

Desktop: make a clip, extend it by 4 s (the extension plays, is 4 s longer, and the gallery
shows it with its source), a server error shown beside the Extend panel's control; edit the
clip with a prompt (strength from the keyboard), then an uploaded MP4 (a bad one is refused
beside the clip field); an image-to-video clip from a first and a last frame. Phone
(390x844): the same panels and both frames fit the screen.
Screenshots go to test-artifacts/studio/. Run with `pytest -m slow tests/test_studio_edit_browser.py`.
"""

from __future__ import annotations

import io
import json
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
from test_studio_browser import generate, open_advanced, open_page, settle_videos, shot, sign_in  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("studio-edit-home"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    with launched_chromium(ARTIFACTS) as chromium:
        yield chromium


def api_job(server, job_id: str) -> dict:
    with server.client(KEY_A) as http:
        return http.get(f"/api/v1/jobs/{job_id}").json()


def clip_bytes(server, page: Page) -> bytes:
    """The MP4 the result panel plays (by its signed link, no header)."""
    return httpx.get(server.url + page.locator("#clips video").first.get_attribute("src"), timeout=60).content


def wait_playing(page: Page, width: int = 480) -> float:
    """The result's first video has loaded; returns its duration in seconds."""
    page.wait_for_function(f"() => {{ const v = document.querySelector('#clips video');"
                           f" return v && v.readyState >= 2 && v.duration > 0 && v.videoWidth === {width}; }}",
                           timeout=60_000)
    return page.eval_on_selector("#clips video", "v => v.duration")


def finished(page: Page, timeout: float = 300.0) -> str:
    """Wait for the job on screen to end; returns its id (asserting it completed)."""
    page.wait_for_function("() => ['completed', 'failed', 'cancelled'].includes("
                           "document.getElementById('result-job').dataset.status)", timeout=timeout * 1000)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    return page.text_content("#result-id")


def overflowing(page: Page, width: int) -> list[str]:
    """Visible elements whose box reaches past the right edge of a `width` px screen."""
    return page.evaluate("""width => [...document.querySelectorAll('body *')].filter(el => {
        const box = el.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && box.right > width + 0.5 && getComputedStyle(el).position !== 'fixed';
    }).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className)""", width)


def make_clip(page: Page) -> str:
    page.fill("#idea", PROMPT)
    page.select_option("#size", "480x320")
    open_advanced(page)
    page.fill("#steps", "4")
    page.select_option("#interpolation", "none")
    return generate(page)


def test_extend_a_clip_and_see_it_with_its_source(server, browser):
    page, errors = open_page(browser, server.url, viewport={"width": 1360, "height": 900})
    sign_in(page)
    source_id = make_clip(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    source_seconds = wait_playing(page)

    # The panel: keyboard reachable, the prompt prefilled with the clip's, the lengths of the hosted API
    page.focus("#extend-open")
    page.keyboard.press("Enter")
    expect(page.locator("#extend-form")).to_be_visible()
    expect(page.locator("#extend-open")).to_have_attribute("aria-expanded", "true")
    assert page.input_value("#extend-prompt") == PROMPT
    labels = page.locator("#extend-seconds label").all_text_contents()
    assert labels == ["4 s", "8 s", "12 s", "16 s", "20 s"]
    expect(page.locator("#extend-note")).to_contain_text("6.3 s clip; you get one clip of about 10 s")  # 6.25 s + 4 s
    page.keyboard.press("Escape")  # closes, focus back on Extend
    expect(page.locator("#extend-form")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "extend-open"
    page.keyboard.press("Enter")
    expect(page.locator("#extend-form")).to_be_visible()

    # A refusal that names `seconds` stands beside the lengths (the body is altered on its way out,
    # since the page offers only valid lengths)
    def oversize(route, request):
        route.continue_(post_data=json.dumps({**request.post_data_json, "seconds": 500}))

    page.route("**/api/v1/jobs", oversize)
    page.click("#extend-submit")
    expect(page.locator("#extend-seconds-error")).to_contain_text("at most 120")
    page.unroute("**/api/v1/jobs")
    assert page.text_content("#result-id") == source_id  # nothing was queued in its place

    # The extension: its progress as for any job, then one clip 4 s longer that says what it extends
    page.fill("#extend-prompt", "the red ball bounces back to the left")
    page.click("#extend-seconds label:has-text('4 s')")
    expect(page.locator("#extend-seconds-error")).to_be_empty()
    page.click("#extend-submit")
    page.wait_for_function("src => document.getElementById('result-id').textContent !== src", arg=source_id)
    expect(page.locator("#extend-form")).to_be_hidden()
    extension_id = finished(page)
    extended_seconds = wait_playing(page)
    assert abs(extended_seconds - (source_seconds + 4)) <= 0.3, (source_seconds, extended_seconds)
    decoded = decode_video(clip_bytes(server, page))
    assert decoded["codec"] == "h264" and (decoded["width"], decoded["height"]) == (480, 320)
    job = api_job(server, extension_id)
    assert job["spec"]["seconds"] == 4 and job["operation"] == "extend" and job["source_job_id"] == source_id
    expect(page.locator("#job-source-text")).to_have_text(f"Extends “{PROMPT}”")
    settle_videos(page)
    shot(page, "desktop-extended")

    # Remix: new seed re-makes the extension from the same source, length and prompt
    expect(page.locator("#remix-edit")).to_be_hidden()  # the form has no extend mode: Extend again instead
    page.click("#remix-seed")
    page.wait_for_function("id => document.getElementById('result-id').textContent !== id", arg=extension_id)
    remix = api_job(server, finished(page))
    assert remix["operation"] == "extend" and remix["source_job_id"] == source_id
    assert remix["spec"]["seconds"] == 4 and remix["seeds"] != job["seeds"]
    assert remix["enhanced_prompt"] == job["enhanced_prompt"]
    page.click(f"#queue-list li[data-id='{extension_id}'] .open")
    expect(page.locator("#result-id")).to_have_text(extension_id)

    # The gallery: the extension names its source, and the name opens it
    card = page.locator(f"#gallery-grid .card[data-id='{extension_id}']")
    expect(card).to_have_attribute("data-operation", "extend")
    expect(card).to_have_attribute("data-source", source_id)
    expect(card.locator(".card-source")).to_have_text(re.compile(f"^extends “{PROMPT[:30]}.*”$"))  # shortened
    expect(card.locator(".chip.op")).to_have_text("extension")
    card.locator(".card-source button").click()
    expect(page.locator("#result-id")).to_have_text(source_id)
    assert not errors, errors


def test_edit_a_result_and_an_uploaded_clip_with_a_prompt(server, browser):
    page, errors = open_page(browser, server.url, viewport={"width": 1360, "height": 900})
    sign_in(page)
    source_id = make_clip(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    wait_playing(page)
    mp4 = clip_bytes(server, page)

    # Edit with a prompt on the result: the form switches to the clip, keeps its size
    page.click("#edit-open")
    expect(page.locator("input[name=mode][value=v2v]")).to_be_checked()
    expect(page.locator("#video-preview")).to_be_visible()
    expect(page.locator("#video-note")).to_contain_text("your clip")
    assert page.input_value("#idea") == PROMPT and page.input_value("#size") == "480x320"
    assert page.input_value("#strength") == "0.6"
    expect(page.locator("#strength-help")).to_contain_text("0 gives it back unchanged")
    page.focus("#strength")
    page.keyboard.press("ArrowRight")  # one 0.05 step, from the keyboard
    expect(page.locator("#strength-value")).to_have_text("0.65")
    page.fill("#idea", "a blue ball rolls to the right on green grass")
    edit_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    wait_playing(page)
    assert decode_video(clip_bytes(server, page))["frames"] > 10
    job = api_job(server, edit_id)
    assert job["operation"] == "edit" and job["source_job_id"] == source_id and job["spec"]["strength"] == 0.65
    expect(page.locator("#job-source-text")).to_have_text(f"Edited from “{PROMPT}”")
    notes = page.locator("#job-notes li")  # the server says what it changed: the source resampled
    expect(notes).not_to_have_count(0)
    assert notes.all_text_contents() == job["notes"]
    card = page.locator(f"#gallery-grid .card[data-id='{edit_id}']")
    expect(card.locator(".card-source")).to_have_text(re.compile(f"^edited from “{PROMPT[:30]}.*”$"))

    # Edit & remix loads the edit back: the same source clip, strength and words
    page.click("#video-clear")
    page.click("input[name=mode][value=t2v] + span")
    page.click("#remix-edit")
    expect(page.locator("input[name=mode][value=v2v]")).to_be_checked()
    expect(page.locator("#video-note")).to_contain_text("your clip")
    expect(page.locator("#strength-value")).to_have_text("0.65")
    assert page.input_value("#idea") == "a blue ball rolls to the right on green grass"

    # An uploaded clip: a file that is not an MP4 is refused at once; an unreadable MP4 by the server,
    # both beside the clip field; a real one is edited and named as an upload
    page.click("#video-clear")
    page.set_input_files("#video-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}])
    expect(page.locator("#video-error")).to_contain_text("not an MP4")
    page.set_input_files("#video-input", files=[{"name": "broken.mp4", "mimeType": "video/mp4",
                                                 "buffer": b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500}])
    page.click("#generate")
    expect(page.locator("#video-error")).to_contain_text("not a readable video")
    expect(page.locator("#result-id")).to_have_text(edit_id)  # nothing queued
    page.set_input_files("#video-input", files=[{"name": "my-clip.mp4", "mimeType": "video/mp4", "buffer": mp4}])
    expect(page.locator("#video-note")).to_contain_text("my-clip.mp4")
    expect(page.locator("#video-error")).to_be_empty()
    upload_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    expect(page.locator("#job-source-text")).to_have_text("Edited from an uploaded clip")
    assert api_job(server, upload_id)["source_job_id"] is None
    shot(page, "desktop-edited")
    assert not errors, errors


def shapes_png(x: int) -> bytes:
    """A shapes-world picture at the I2V model's native size: a red ball at `x` on green grass."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (96, 64), (70, 150, 60))
    ImageDraw.Draw(picture).ellipse((x - 10, 22, x + 10, 42), fill=(210, 30, 30))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_first_and_last_frame(server, browser):
    page, errors = open_page(browser, server.url, viewport={"width": 1360, "height": 900})
    sign_in(page)
    page.click("input[name=mode][value=i2v] + span")
    assert page.input_value("#model") == "cogvideox-shapes-i2v"
    expect(page.locator("#last-image-field")).to_be_visible()  # this model can end on a given frame
    page.set_input_files("#image-input", files=[{"name": "start.png", "mimeType": "image/png",
                                                 "buffer": shapes_png(20)}])
    page.set_input_files("#last-image-input", files=[{"name": "wrong.png", "mimeType": "image/png",
                                                      "buffer": shapes_png(50)}])
    expect(page.locator("#last-image-preview")).to_be_visible()
    page.click("#last-image-clear")  # Remove: the slot is empty again, focus back on its input
    expect(page.locator("#last-image-preview")).to_be_hidden()
    expect(page.locator("#last-image-note")).to_be_empty()
    assert page.evaluate("document.activeElement.id") == "last-image-input"
    page.set_input_files("#last-image-input", files=[{"name": "end.png", "mimeType": "image/png",
                                                      "buffer": shapes_png(76)}])
    expect(page.locator("#last-image-note")).to_contain_text("end.png · 96 × 64")
    page.fill("#idea", "a red ball rolls to the right on green grass")
    page.select_option("#size", "480x320")
    open_advanced(page)
    page.fill("#steps", "4")
    page.select_option("#interpolation", "none")
    job_id = generate(page)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    wait_playing(page)
    job = api_job(server, job_id)
    assert job["spec"]["image"] and job["spec"]["last_image"]  # both frames sent (by their stored names)
    page.click("#job-settings-box summary")
    expect(page.locator("#job-settings")).to_contain_text("Last frame")
    card = page.locator(f"#gallery-grid .card[data-id='{job_id}']")
    expect(card.locator(".chip", has_text="first + last frame")).to_have_count(1)

    # Edit & remix brings both frames back into the form
    page.click("#last-image-clear")
    page.click("#remix-edit")
    expect(page.locator("#last-image-preview")).to_be_visible()
    expect(page.locator("#last-image-note")).to_contain_text(f"last frame of {job_id}")
    expect(page.locator("#image-preview")).to_be_visible()
    shot(page, "desktop-keyframes")
    assert not errors, errors


def test_phone_panels_fit_the_screen(server, browser):
    page, errors = open_page(browser, server.url, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                             is_mobile=True, has_touch=True)
    sign_in(page)
    expect(page.locator("#gallery-grid .card").first).to_be_visible()
    page.locator("#gallery-grid .card[data-operation=extend] .thumb").first.click()
    expect(page.locator("#job-details")).to_be_visible()
    assert overflowing(page, 390) == []
    page.click("#extend-open")
    expect(page.locator("#extend-form")).to_be_visible()
    assert overflowing(page, 390) == []
    page.locator("#extend-form").scroll_into_view_if_needed()
    shot(page, "phone-extend", full_page=False)
    page.click("#edit-open")
    expect(page.locator("#video-field")).to_be_visible()
    assert overflowing(page, 390) == []
    page.locator("#create").scroll_into_view_if_needed()
    shot(page, "phone-edit", full_page=False)
    page.click("input[name=mode][value=i2v] + span")
    expect(page.locator("#frames")).to_be_visible()
    assert overflowing(page, 390) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not errors, errors
