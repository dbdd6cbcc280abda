"""The widget takes a read key (``data-read-key``): on a site of another origin, in a real
headless Chromium, it asks a service whose reads need a key, and gets a cited answer.
(``test_page_browser.py`` covers the widget itself; this is the key's path.)"""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path

import pytest
from http_support import live_server
from service_support import KESTRELMOOR

CHROMIUM = Path(os.environ.get("CLAUSEWISE_TEST_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a test dependency")

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("hermetic")]
READ, WRITE = "widget-read-key-0123", "widget-write-key-0123"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def _site(html: bytes, port: int) -> http.server.ThreadingHTTPServer:
    """Another site on ``port`` of loopback: one page, ``html``."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)


def test_the_widget_asks_with_its_read_key(built, embedder) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        site_port = probe.getsockname()[1]
    origin = f"http://127.0.0.1:{site_port}"
    with live_server(built, embedder, read_keys=[READ], write_keys=[WRITE], cors_origins=[origin]) as server:
        html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Site</title></head><body>
<script src="{server.url}/widget.js" async data-read-key="{READ}" data-open="true"></script></body></html>"""
        site = _site(html.encode(), site_port)
        threading.Thread(target=site.serve_forever, daemon=True).start()
        try:
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                page = browser.new_page()
                page.set_default_timeout(90_000)
                page.goto(origin + "/")
                box = page.get_by_label("Your question")
                box.fill(KESTRELMOOR)
                box.press("Enter")
                answer = page.locator(".cw-bot:not(.cw-pending)").last
                sync_api.expect(answer.get_by_role("button", name="Source 1:")).to_be_visible()
                assert page.locator(".cw-keyform").count() == 0  # it never had to ask for a key
                browser.close()
        finally:
            site.shutdown()
            site.server_close()
