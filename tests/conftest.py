import os
import shutil

import pytest

from .world import build_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture(params=["small-file path", "large-file path"])
def both_paths(request, monkeypatch):
    """Run an import test through the ordinary path and through the staged path for
    large files (forced with a zero size threshold and tiny chunks)."""
    from exchange import bulk

    if request.param == "large-file path":
        monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
        monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_CHUNK", 2)
        monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_STATEMENT", 2)
    return request.param


@pytest.fixture
def login(client):
    """Sign a user in on the test client and return the client."""

    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture(autouse=True)
def english_messages():
    """Service and validator messages in English, so tests read the same whatever
    language the catalogue holds; pages choose their language per request."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Login throttling counts live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def browser_page(monkeypatch):
    """A page of headless Chromium (Debian's package) driven by Playwright, phone-sized, in Vietnamese.

    Outside CI the test skips when Chromium is missing; under CI=true it fails instead.
    """
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed; CI must run the browser tests")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes between page actions are ordinary synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 412, "height": 915}, locale="vi-VN")  # a phone
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
