"""The source view in a real headless Chromium (Debian's ``chromium`` through Playwright, as the
chat page's tests): the chat page's source link opens the cited page with the passage marked
and in view, and a document's script never runs. Screenshots land in the pytest tmp folder
(their paths are printed: ``pytest -s``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from service_support import engine_for
from source_view_docs import HOSTILE_QUESTION, LOW_QUESTION, SCANNED_QUESTION, SourceCorpus, build_source_corpus
from test_page_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, ask, sync_api

from ingest.embedder import Embedder
from ingest.loaders.ocr import unavailable
from service.http.app import create_app

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("hermetic")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    sources: SourceCorpus = build_source_corpus(
        tmp_path_factory.mktemp("browser-sources") / "docs", tmp_path_factory.mktemp("browser-index"), embedder
    )
    settings = sources.built.settings.model_copy(update={"reload_interval_s": 0})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings, engine_for(settings, embedder))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("source-view-screenshots")


def _in_view(page, selector: str) -> None:
    """The element is on screen: inside the viewport, below the sticky header."""
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    assert box is not None and box["height"] > 0
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (box, height)


def _open_source(browser, server: str, question: str, shot: Path):
    """Ask on the chat page and follow the first source's link; the view's page and responses."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    responses: list[tuple[str, int]] = []
    ctx.on("response", lambda r: responses.append((r.url, r.status)))
    page = ctx.new_page()
    page.goto(server + "/")
    ask(page, question)
    link = page.locator(".cw-source-link").first
    link.wait_for()
    with ctx.expect_page() as opened:
        link.click()
    view = opened.value
    view.wait_for_load_state("networkidle")
    view.screenshot(path=str(shot))
    print(f"\nscreenshot: {shot}")
    return ctx, view, responses


def test_the_source_link_opens_the_cited_page_with_the_passage_marked_in_view(browser, server, shots) -> None:
    ctx, view, responses = _open_source(browser, server, LOW_QUESTION, shots / "pdf-page-3.png")
    try:
        assert "/view#passage" in view.url
        assert view.locator("figcaption").first.inner_text() == "Page 3"
        assert any(url.endswith("/pages/3.png") and status == 200 for url, status in responses), responses
        assert view.locator("rect.v-mark").count() >= 1
        _in_view(view, "#passage")  # scrolled to it: the article sits low on the page
        fill = view.eval_on_selector("#passage", "el => getComputedStyle(el).fill")
        assert fill == "rgb(255, 212, 0)"  # the highlight colour, visible over the page
    finally:
        ctx.close()


@pytest.mark.skipif(unavailable("eng") is not None, reason=f"OCR unavailable here: {unavailable('eng')}")
def test_a_scanned_page_opens_with_the_ocr_passage_marked(browser, server, shots) -> None:
    ctx, view, _ = _open_source(browser, server, SCANNED_QUESTION, shots / "scanned-page-2.png")
    try:
        assert view.locator("figcaption").first.inner_text() == "Page 2"
        assert "read by OCR" in view.locator(".v-meta").inner_text()
        assert view.locator("rect.v-mark").count() >= 1
        _in_view(view, "#passage")
    finally:
        ctx.close()


def test_a_document_with_script_stays_inert_in_its_view(browser, server, shots) -> None:
    ctx, view, _ = _open_source(browser, server, HOSTILE_QUESTION, shots / "markdown-view.png")
    dialogs: list[str] = []
    view.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        view.reload()
        view.wait_for_load_state("networkidle")
        assert "pwned" not in view.title() and view.title().startswith("Ferry Notes")
        assert view.locator("img").count() == 0 and view.locator("script").count() == 0
        assert "<script>document.title='pwned-script'</script>" in view.locator("#passage").inner_text()
        _in_view(view, "#passage")
        assert not dialogs
    finally:
        ctx.close()
