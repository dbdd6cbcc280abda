"""The chat page and the embeddable widget in a real headless Chromium (Debian's ``chromium``,
driven by Playwright's Python package; Playwright's own browser download is not used).

Screenshots of the desktop and phone layouts are saved in the pytest tmp folder; their paths
are printed (``pytest -s``) so that a person can look at them.
"""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest
from test_chat_server import PDF_SOURCE, PDF_TITLE, STATELESS_SOURCE, chat_server

CHROMIUM = Path(os.environ.get("CLAUSEWISE_TEST_CHROMIUM", "/usr/bin/chromium"))
# No sandbox as root; and no connection anywhere but the test servers.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 90_000  # answers come from a real model; other test runs may share the cores

if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM}: install Debian's chromium and chromium-driver "
        "(`apt-get install -y chromium chromium-driver`) to run the browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is a test dependency: pip install -e '.[test]'"
)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    return chat_server(tmp_path_factory, embedder)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _page(browser, **context):
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return ctx, page, errors


def ask(page, question: str) -> None:
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def test_ask_see_a_cited_answer_and_open_the_citation(browser, server, shots):
    ctx, page, errors = _page(browser, viewport={"width": 1280, "height": 860})
    page.goto(server.url + "/")
    assert page.title().startswith("clausewise")
    expect = sync_api.expect
    expect(page.get_by_label("Your question")).to_be_focused()
    ask(page, "Do displaced persons have free access to the courts of law?")

    answer = page.locator(".cw-bot:not(.cw-pending)").last
    expect(answer.locator(".cw-answer")).to_contain_text("free access to the courts of law")
    chips = answer.get_by_role("button", name="Source 1:")
    expect(chips).to_have_count(1)
    expect(chips).to_contain_text(PDF_TITLE)
    expect(chips).to_contain_text("Article 16")
    expect(chips).to_contain_text("p. 1")
    page.screenshot(path=str(shots / "desktop-answer.png"))

    chips.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_contain_text(PDF_TITLE)
    expect(dialog).to_contain_text("Article 16")  # section
    expect(dialog).to_contain_text("p. 1")  # page
    expect(dialog).to_contain_text(PDF_SOURCE)
    expect(dialog.locator("mark")).to_contain_text("free access to the courts of law")
    expect(dialog.locator(".cw-neighbour").first).to_be_visible()  # neighbouring text from /passages/{id}
    page.screenshot(path=str(shots / "desktop-passage.png"))

    # Keyboard: Escape closes the passage and gives the focus back to the chip.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(chips).to_be_focused()
    # A follow-up is understood and says how it was read.
    ask(page, "What about stateless travellers?")
    answer = page.locator(".cw-bot:not(.cw-pending)").nth(1)
    expect(answer.locator(".cw-note")).to_contain_text("follow-up")
    expect(answer.get_by_role("button", name="Source 1:")).to_contain_text("Convention on Stateless Travellers")
    # The [n] marker in the answer opens the same passage as the chip, from the keyboard too.
    marker = answer.get_by_role("button", name="Open source 1")
    marker.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_contain_text(STATELESS_SOURCE)
    page.keyboard.press("Escape")
    print(f"\nscreenshots: {shots}")
    assert not errors, errors
    ctx.close()


def test_readable_on_a_phone(browser, server, shots):
    ctx, page, errors = _page(
        browser, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page.goto(server.url + "/")
    ask(page, "What is the ultimate objective of the mountain climate convention?")
    answer = page.locator(".cw-bot:not(.cw-pending)").last
    sync_api.expect(answer.locator(".cw-answer")).to_contain_text("glacier melt")
    # Nothing wider than the screen: no sideways scrolling.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    box = page.get_by_role("button", name="Ask").bounding_box()
    assert box["height"] >= 44 and box["x"] + box["width"] <= 390  # a thumb-sized target, on screen
    page.screenshot(path=str(shots / "phone-answer.png"))
    answer.get_by_role("button", name="Source 1:").tap()
    dialog = page.get_by_role("dialog")
    sync_api.expect(dialog).to_contain_text("Article 2")
    dialog_box = dialog.bounding_box()
    assert dialog_box["x"] >= 0 and dialog_box["x"] + dialog_box["width"] <= 390
    page.screenshot(path=str(shots / "phone-passage.png"))
    assert not errors, errors
    ctx.close()


class _HostPage(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


def test_the_widget_embeds_the_chat_on_another_site(browser, server, shots):
    """A page on another origin with the documented snippet: CORS lets it call the service."""
    _HostPage.html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host site</title></head>
<body><h1>Some other site</h1><p>Its own content.</p>
<script src="{server.url}/widget.js" async data-endpoint="{server.url}" data-title="Ask the treaties"></script>
</body></html>""".encode()
    host = http.server.ThreadingHTTPServer(("127.0.0.1", server.widget_port), _HostPage)
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    try:
        ctx, page, errors = _page(browser, viewport={"width": 1100, "height": 800})
        page.goto(server.widget_origin + "/")
        page.get_by_role("button", name="Ask the documents").click()
        sync_api.expect(page.get_by_role("button", name="Close chat")).to_have_attribute("aria-expanded", "true")
        sync_api.expect(page.get_by_label("Your question")).to_be_focused()
        ask(page, "Do stateless travellers have access to the courts?")
        answer = page.locator(".cw-bot:not(.cw-pending)").last
        chip = answer.get_by_role("button", name="Source 1:")
        sync_api.expect(chip).to_contain_text("Convention on Stateless Travellers")
        page.screenshot(path=str(shots / "widget.png"))
        chip.click()
        sync_api.expect(page.get_by_role("dialog")).to_contain_text("Article 16")
        page.keyboard.press("Escape")  # closes the passage
        page.keyboard.press("Escape")  # then the panel
        sync_api.expect(page.get_by_role("button", name="Ask the documents")).to_have_attribute(
            "aria-expanded", "false"
        )
        assert not errors, errors
        ctx.close()
    finally:
        host.shutdown()
        host.server_close()
