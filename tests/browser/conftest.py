"""Real-browser tests: JupyterLab + Debian's Chromium driven by Playwright.

Set up with ``tests/browser/install_browser_deps.sh``; select with ``-m browser``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from _browser_lab import CHROMIUM, CHROMIUM_ARGS


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real (headless) Chromium")


@pytest.fixture(scope="session")
def chromium_browser():
    """A headless Chromium (Debian's, via Playwright); skips when either is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (run tests/browser/install_browser_deps.sh)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (run tests/browser/install_browser_deps.sh)"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
