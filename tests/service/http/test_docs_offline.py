"""``/docs`` and ``/redoc`` work without internet: every file they load comes from the app
itself (the ``fastapi-offline`` package's Swagger UI and ReDoc), and a Content-Security-Policy
lets them load nothing else. A real Chromium that may reach nothing but the test server renders
the operations."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from service_support import clean_settings

from service.http.app import create_app

REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')
CHROMIUM = Path(os.environ.get("CLAUSEWISE_TEST_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app without its lifespan: the docs pages need no index."""
    base = tmp_path_factory.mktemp("docs")
    app = create_app(clean_settings(index_dir=base / "index", corpus_dir=base / "corpus"))
    return TestClient(app, base_url="http://localhost")  # a Host the app serves


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_files(plain_client: TestClient, page: str) -> None:
    response = plain_client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    references = REFERENCE.findall(response.text)
    assert references, response.text
    for url in references:
        assert not urlsplit(url).netloc and url.startswith("/"), f"{page} references {url}"
        asset = plain_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert "fonts.googleapis" not in response.text and "cdn." not in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "http" not in policy  # no host beside the app's own


def test_only_the_packaged_assets_are_served(plain_client: TestClient) -> None:
    assert plain_client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    assert plain_client.get("/docs/assets/../app.py").status_code == 404
    assert plain_client.get("/docs/assets/index.html").status_code == 404


@pytest.mark.live
def test_swagger_ui_renders_offline_in_chromium(tmp_path_factory, embedder) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a test dependency")
    from test_chat_server import chat_server
    from test_page_browser import CHROMIUM_ARGS

    server = chat_server(tmp_path_factory, embedder)
    origin = urlsplit(server.url).netloc
    outside: list[str] = []
    violations: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)

            def offline(route) -> None:  # as without internet: only the server answers
                if urlsplit(route.request.url).netloc == origin:
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", offline)
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock-summary-path >> text=/ask")
            paths = page.locator(".opblock-summary-path").all_inner_texts()
        finally:
            browser.close()
    assert "/v1/chat/completions" in [p.strip() for p in paths], paths
    assert outside == [] and violations == []
