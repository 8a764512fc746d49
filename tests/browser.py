"""Shared set-up for the Playwright tests: Debian's Chromium, the flags this machine needs, skip reasons."""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SHOTSMITH_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium floods a closed network with refused connections.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> None:
    """Skip the calling test module cleanly where playwright or Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the machine
        pytest.skip("the playwright package is not installed (pip install playwright)", allow_module_level=True)
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SHOTSMITH_CHROMIUM)",
                    allow_module_level=True)


@contextmanager
def launched_chromium(artifacts: Path):
    """Debian's Chromium under Playwright, with a folder ready for the test's screenshots."""
    from playwright.sync_api import sync_playwright

    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
