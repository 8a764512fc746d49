"""The studio in Chinese, in Debian's Chromium (Playwright) against a real server.

A browser that asks for zh-CN gets the page in Chinese: a walk over the DOM finds no
visible English message (text, placeholder, aria-label, title) that the catalogue
translates, at 1360x900 and at 390x844, with nothing wider than the phone's screen. A
Chinese idea is enhanced (the English prompt beside it) and made into a clip that plays.
The header's switch turns the page English and the choice survives a reload.
Screenshots go to test-artifacts/studio-i18n/ (Chinese glyphs need a CJK font on the machine,
e.g. Debian's fonts-wqy-microhei; the checks pass without one). Run with `pytest -m slow`.
"""

from __future__ import annotations

import pytest
from api_server import KEY_A, REPO, start_server
from browser import launched_chromium, require_browser
from test_studio_i18n import catalogue

pytestmark = pytest.mark.slow

ARTIFACTS = REPO / "test-artifacts" / "studio-i18n"
IDEA = "一个红色的球在草地上向右滚动"

require_browser()
from playwright.sync_api import Page, expect  # noqa: E402

# Every visible text node and every translated attribute of a visible element.
VISIBLE_TEXT = """() => {
  const seen = [];
  const visible = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (e.hidden || getComputedStyle(e).display === 'none') return false;
      if (e.tagName === 'DETAILS' && !e.open && e !== el.closest('summary')?.parentElement) {
        if (!el.closest('summary')) return false;
      }
    }
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (text && node.parentElement && visible(node.parentElement)) seen.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title], option')) {
    if (el.tagName !== 'OPTION' && !visible(el)) continue;
    for (const name of ['placeholder', 'aria-label', 'title']) {
      if (el.getAttribute(name)) seen.push(el.getAttribute(name).replace(/\\s+/g, ' ').trim());
    }
    if (el.tagName === 'OPTION') seen.push(el.textContent.trim());
  }
  return seen;
}"""


def untranslated(page: Page) -> list[str]:
    """Visible strings that are English messages the Chinese catalogue translates."""
    zh = catalogue("zh-CN")
    english = {m for m, z in zh.items() if z and z != m}
    return sorted({s for s in page.evaluate(VISIBLE_TEXT) if s in english})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("studio-zh-home"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with launched_chromium(ARTIFACTS) as chromium:
        yield chromium


def open_zh(browser, url: str, **options):
    context = browser.new_context(locale="zh-CN", **options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return context, page, errors


def sign_in(page: Page) -> None:
    expect(page.locator("#key-dialog")).to_be_visible()
    expect(page.locator("#key-form button[type=submit]")).to_have_text("使用此密钥")
    page.screenshot(path=str(ARTIFACTS / "zh-key-dialog.png"))
    page.fill("#api-key", KEY_A)
    page.click("#key-form button[type=submit]")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def test_the_studio_in_chinese_makes_a_clip_from_a_chinese_idea(server, browser):
    context, page, errors = open_zh(browser, server.url, viewport={"width": 1360, "height": 900})
    sign_in(page)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.locator("#generate")).to_have_text("生成")
    expect(page.locator("#create-title")).to_have_text("创作")
    page.click("#advanced summary")  # its fields are visible labels too
    assert untranslated(page) == []

    # a Chinese idea: the agent writes the English prompt the model reads, and says so; for the
    # embedded model (the default) that is the idea in its own training words, the translation beside it
    page.fill("#idea", IDEA)
    page.click("#enhance")
    expect(page.locator("#enhanced")).to_be_visible()
    assert page.input_value("#prompt") == "A red circle moves right on green grass."
    expect(page.locator("#prompt-meta")).to_contain_text("英文：A red ball rolls to the right on green grass.")
    expect(page.locator("#slots li b").first).to_have_text("镜头")
    page.select_option("#size", "480x320")
    page.click("#generate")
    page.wait_for_function("() => ['completed', 'failed', 'cancelled'].includes("
                           "document.getElementById('result-job').dataset.status)", timeout=240_000)
    assert page.get_attribute("#result-job", "data-status") == "completed", page.text_content("#job-error")
    page.wait_for_function("() => [...document.querySelectorAll('#clips video')]"
                           ".every(v => v.readyState >= 2 && v.duration > 0)", timeout=60_000)
    page.click("#job-settings-box summary")
    settings = page.text_content("#job-settings")
    assert "你的原话" in settings and IDEA in settings
    assert "年" in settings  # the date in Chinese (2026年12月1日 ...)
    expect(page.locator("#gallery-grid .card")).to_have_count(1)
    assert untranslated(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1360
    page.screenshot(path=str(ARTIFACTS / "zh-desktop.png"), full_page=True)

    # the switch in the header: English, and it stays English after a reload
    page.select_option("#language", "en")
    expect(page.locator("#generate")).to_have_text("Generate")
    page.reload()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("#generate")).to_have_text("Generate")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.screenshot(path=str(ARTIFACTS / "en-desktop.png"), full_page=True)
    page.select_option("#language", "zh-CN")
    expect(page.locator("#generate")).to_have_text("生成")
    assert not errors, errors
    context.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_phone_layout_holds_in_both_languages(server, browser, language):
    context, page, errors = open_zh(browser, server.url, viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True, has_touch=True)
    if language == "en":
        page.evaluate("localStorage.setItem('shotsmith.language', 'en')")
        page.reload()
    sign_in(page) if language == "zh-CN" else _sign_in_en(page)
    page.click("#advanced summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # no control wider than the screen or cut by it
    too_wide = page.evaluate("""() => [...document.querySelectorAll('button, label, select, input, textarea, h1, h2')]
        .filter(el => el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().right > 391)
        .map(el => el.id || el.textContent.trim().slice(0, 30))""")
    assert too_wide == []
    if language == "zh-CN":
        assert untranslated(page) == []
    else:  # the walk does see the page's messages: in English they are all "untranslated"
        assert len(untranslated(page)) > 40
    page.screenshot(path=str(ARTIFACTS / f"{language}-phone.png"), full_page=True)
    assert not errors, errors
    context.close()


def _sign_in_en(page: Page) -> None:
    expect(page.locator("#key-dialog")).to_be_visible()
    expect(page.locator("#key-form button[type=submit]")).to_have_text("Use this key")
    page.fill("#api-key", KEY_A)
    page.click("#key-form button[type=submit]")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
