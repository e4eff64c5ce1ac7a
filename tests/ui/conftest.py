"""Fixtures of the UI tests: one UI process and one browser per module (see ui_browser.py)."""

from __future__ import annotations

import pytest
from ui_browser import CHROMIUM, CHROMIUM_FLAGS, VIEWPORT, UiProcess, browser_problem, require_browser

if browser_problem() is None:
    from playwright.sync_api import expect

    # A busy 2-core machine answers slowly; what a test waits for still has to happen.
    expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def chromium():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def ui(chromium, tmp_path_factory):
    """`sdkit ui` on a free loopback port, for the whole module."""
    process = UiProcess(tmp_path_factory.mktemp("ui"))
    process.start("ui")
    yield process
    process.stop()


@pytest.fixture
def page(chromium, ui):
    context = chromium.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()
