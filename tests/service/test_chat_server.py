"""A real clausewise server for the chat tests (``test_chat_*``, ``test_openai_*``, ``test_mcp_*``,
``test_page_*`` import :func:`chat_server` from here), and the HTTP-level tests of the chat
surface: the page's files, the OpenAI-compatible wire format and its errors, follow-ups, SSE,
API keys and CORS.

The corpus is generated: a two-page PDF treaty and two Markdown treaties with known articles,
indexed with the real model. The server is ``clausewise serve`` in a subprocess on a free port
of 127.0.0.1, started once per test session and shared.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hermetic import clausewise_command, clean_env

pytestmark = pytest.mark.live

STARTUP_TIMEOUT_S = 240  # the model loads in the server; other test runs may share the two cores

PDF_TITLE = "Convention on the Status of Displaced Persons"
# (page, lines): chapter and article headings on lines of their own, as a treaty PDF sets them.
PDF_PAGES = [
    [
        "Chapter II",
        "Juridical status",
        "Article 16",
        "Access to courts",
        "1. A displaced person shall have free access to the courts of law on the territory of all",
        "Contracting States.",
        "2. A displaced person shall enjoy in the Contracting State in which he has his habitual",
        "residence the same treatment as a national in matters pertaining to access to the courts,",
        "including legal assistance and exemption from security for costs.",
        "Article 17",
        "Wage-earning employment",
        "The Contracting States shall accord to displaced persons lawfully staying in their territory",
        "the most favourable treatment accorded to nationals of a foreign country in the same",
        "circumstances, as regards the right to engage in wage-earning employment.",
    ],
    [
        "Chapter IV",
        "Welfare",
        "Article 21",
        "Housing",
        "As regards housing, the Contracting States, in so far as the matter is regulated by laws or",
        "regulations or is subject to the control of public authorities, shall accord to displaced",
        "persons lawfully staying in their territory treatment as favourable as possible.",
        "Article 22",
        "Public education",
        "The Contracting States shall accord to displaced persons the same treatment as is accorded",
        "to nationals with respect to elementary education, including school fees and scholarships.",
    ],
]
STATELESS_MD = """\
# Convention on Stateless Travellers

## Article 15 — Right of association

As regards non-political and non-profit-making associations and trade unions, the Contracting States shall
accord to stateless travellers lawfully staying in their territory treatment as favourable as possible.

## Article 16 — Access to courts

A stateless traveller shall have free access to the courts of law on the territory of all Contracting States.
A stateless traveller shall enjoy, in the State of his habitual residence, the same treatment as a national
in matters pertaining to access to the courts, including legal assistance.

## Article 21 — Housing

As regards housing, the Contracting States shall accord to stateless travellers lawfully staying in their
territory treatment as favourable as possible and not less favourable than that accorded to aliens generally.
"""
CLIMATE_MD = """\
# Framework Convention on Mountain Climate

## Article 2 — Objective

The ultimate objective of this Convention is to achieve stabilization of glacier melt at a level that
would prevent dangerous interference with mountain ecosystems, within a time frame sufficient to allow
alpine meadows to adapt naturally.

## Article 3 — Principles

The Parties should protect the mountain climate system for the benefit of present and future generations,
on the basis of equity and in accordance with their common but differentiated responsibilities.

## Article 4 — Commitments

All Parties shall publish national inventories of glacier retreat and shall cooperate in the exchange of
scientific observations on snow cover and permafrost.
"""
PDF_SOURCE = "displaced-persons-convention.pdf"
STATELESS_SOURCE = "stateless-travellers.md"
CLIMATE_SOURCE = "mountain-climate.md"
API_KEY = "chat-test-key"


def write_corpus(folder: Path) -> Path:
    from fpdf import FPDF

    folder.mkdir(parents=True, exist_ok=True)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(PDF_TITLE)
    for number, lines in enumerate(PDF_PAGES, 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=10)
        for i, line in enumerate(lines):
            pdf.set_xy(20, 25 + i * 6)
            pdf.cell(0, 6, line)
        pdf.set_xy(100, 285)
        pdf.cell(0, 6, str(number))
    pdf.output(str(folder / PDF_SOURCE))
    (folder / STATELESS_SOURCE).write_text(STATELESS_MD, encoding="utf-8")
    (folder / CLIMATE_SOURCE).write_text(CLIMATE_MD, encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    index_dir: Path
    workdir: Path
    process: subprocess.Popen
    log: Path
    widget_origin: str  # a second origin on 127.0.0.1 that CORS lets call the API
    widget_port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready after {timeout} s:\n{log.read_text()[-4000:]}")


_SHARED: dict[str, object] = {}


def _build_index(base: Path, embedder) -> Path:
    from ingest.pipeline import ingest
    from ingest.settings import Settings

    corpus = write_corpus(base / "corpus")
    settings = Settings(index_dir=base / "index", corpus_dir=corpus)
    report = ingest([corpus], settings, embedder=embedder)
    assert not report.failed, report.failed
    return settings.index_dir


def shared_index(tmp_path_factory, embedder) -> Path:
    """The generated corpus indexed once per session."""
    if "index" not in _SHARED:
        _SHARED["index"] = _build_index(tmp_path_factory.mktemp("chat-index"), embedder)
    return _SHARED["index"]  # type: ignore[return-value]


def chat_server(tmp_path_factory, embedder) -> Server:
    """The one shared server (started on first use, stopped when the session ends)."""
    if "server" not in _SHARED:
        index_dir = shared_index(tmp_path_factory, embedder)
        workdir = tmp_path_factory.mktemp("chat-server")
        port, widget_port = free_port(), free_port()
        url, widget_origin = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{widget_port}"
        log = workdir / "server.log"
        env = clean_env(CLAUSEWISE_CORS_ORIGINS=widget_origin, CLAUSEWISE_RELOAD_INTERVAL_S="0")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*clausewise_command(), "serve", "--index", str(index_dir), "--host", "127.0.0.1", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(url, index_dir, workdir, process, log, widget_origin, widget_port)
        atexit.register(server.stop)
        try:
            wait_ready(url, process, log)
        except Exception:
            server.stop()
            raise
        _SHARED["server"] = server
    return _SHARED["server"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def server(tmp_path_factory, embedder) -> Server:
    return chat_server(tmp_path_factory, embedder)


@pytest.fixture(scope="session")
def http(server: Server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def completion(http: httpx.Client, *messages: tuple[str, str] | str, **body) -> httpx.Response:
    turns = [
        {"role": "user", "content": m} if isinstance(m, str) else {"role": m[0], "content": m[1]} for m in messages
    ]
    return http.post("/v1/chat/completions", json={"model": "clausewise", "messages": turns, **body})


# -- the page's files ---------------------------------------------------------------------
def test_the_page_and_its_files_are_served(http):
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="static/app.js"' in page.text and 'href="static/style.css"' in page.text
    for path, kind in (
        ("/static/app.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/widget.js", "javascript"),
        ("/static/widget.js", "javascript"),
    ):
        response = http.get(path)
        assert response.status_code == 200 and kind in response.headers["content-type"], path
    assert http.get("/static/secrets.txt").status_code == 404
    assert http.get("/static/..%2Fapp.py").status_code == 404


# -- the OpenAI wire format ---------------------------------------------------------------
def test_models_are_listed(http):
    body = http.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["clausewise", "clausewise-dense", "clausewise-lexical"]
    assert all(m["object"] == "model" and m["owned_by"] == "clausewise" for m in body["data"])
    assert http.get("/v1/models/clausewise").json()["id"] == "clausewise"


def test_a_completion_is_extractive_and_cited(http):
    response = completion(http, "Do displaced persons have free access to the courts of law?")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    # The short answer is the highlighted sentence with its marker, then the numbered sources.
    first_line = content.splitlines()[0]
    assert "free access to the courts of law" in first_line and first_line.rstrip().endswith("[1]")
    assert "**Sources**" in content and "[1] **" in content
    assert PDF_TITLE in content and "Article 16" in content and "p. 1" in content
    top = body["citations"][0]
    assert top["number"] == 1 and top["citation"]["source"] == PDF_SOURCE
    assert "Article 16" in top["citation"]["section"] and top["citation"]["page_start"] == 1
    start, end = top["highlight"]["start"], top["highlight"]["end"]
    assert top["text"][start:end] == top["highlight"]["text"] and "free access" in top["highlight"]["text"]
    # Every marker in the reply points at a cited passage.
    numbers = {c["number"] for c in body["citations"]}
    assert numbers == set(range(1, len(body["citations"]) + 1)) and len(numbers) == 3
    assert {int(n) for n in re.findall(r"\[(\d+)\]", content)} <= numbers
    assert body["usage"]["completion_tokens"] > 0 and body["system_fingerprint"]


def test_top_k_and_filters_ride_along(http):
    body = completion(http, "access to the courts", top_k=1, filters={"source": STATELESS_SOURCE}).json()
    assert [c["citation"]["source"] for c in body["citations"]] == [STATELESS_SOURCE]


def test_a_follow_up_uses_the_earlier_question(http):
    first = "Do displaced persons have free access to the courts of law?"
    body = completion(http, first, ("assistant", "…"), "and stateless travellers?").json()
    info = body["clausewise"]
    assert info["followup"] is True and first in info["query"]
    top = body["citations"][0]["citation"]
    assert top["source"] == STATELESS_SOURCE and "Article 16" in top["section"]
    # A standalone question after it starts afresh.
    body = completion(http, first, "What is the ultimate objective of the mountain climate convention?").json()
    assert body["clausewise"]["followup"] is False
    assert body["citations"][0]["citation"]["source"] == CLIMATE_SOURCE


def test_system_messages_and_content_parts_are_understood(http):
    body = completion(
        http,
        ("system", "You are a helpful assistant."),
        (
            "user",
            [
                {"type": "text", "text": "What is the ultimate objective"},
                {"type": "text", "text": "of the climate convention?"},
            ],
        ),
    ).json()
    assert body["citations"][0]["citation"]["source"] == CLIMATE_SOURCE


def test_streaming_sends_openai_chunks_and_done(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": "clausewise",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "What is the ultimate objective of the climate convention?"}],
        },
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[0]["citations"][0]["citation"]["source"] == CLIMATE_SOURCE
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    whole = completion(http, "What is the ultimate objective of the climate convention?").json()
    assert streamed == whole["choices"][0]["message"]["content"]
    assert len(chunks) > 5  # really in pieces


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "model", "model_not_found"),
        ({"model": "clausewise", "messages": []}, 400, "messages", "invalid_value"),
        ({"model": "clausewise"}, 400, "messages", "invalid_value"),
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", "invalid_value"),
        (
            {"model": "clausewise", "messages": [{"role": "system", "content": "be brief"}]},
            400,
            "messages",
            "no_user_message",
        ),
        ({"model": "clausewise", "messages": [{"role": "user", "content": "   "}]}, 400, "messages", "empty_message"),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": 42}]},
            400,
            "messages.0.content",
            "invalid_value",
        ),
        (
            {"model": "clausewise", "messages": [{"role": "wizard", "content": "hi"}]},
            400,
            "messages.0.role",
            "invalid_value",
        ),
        ({"model": "clausewise", "messages": "hi"}, 400, "messages", "invalid_value"),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": "hi"}], "stream": "sometimes"},
            400,
            "stream",
            "invalid_value",
        ),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": "hi"}], "top_k": 0},
            400,
            "top_k",
            "invalid_value",
        ),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": "hi"}], "top_k": True},
            400,
            "top_k",
            "invalid_value",
        ),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": "hi"}], "filters": {"colour": "red"}},
            400,
            "filters.colour",
            "invalid_value",
        ),
        (
            {"model": "clausewise", "messages": [{"role": "user", "content": "hi"}], "n": 3},
            400,
            "n",
            "unsupported_value",
        ),
        ([{"model": "clausewise"}], 400, None, "invalid_body"),
    ],
)
def test_bad_requests_get_openai_errors(http, body, status, param, code):
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code
    assert error["message"]


def test_malformed_json_and_unknown_routes_get_openai_errors_only_under_v1(http):
    response = http.post(
        "/v1/chat/completions", content=b'{"model": "clausewise",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
    assert http.delete("/v1/models").json()["error"]["code"] == "method_not_allowed"
    assert http.get("/v1/models/gpt-4o").json()["error"]["code"] == "model_not_found"
    # Outside /v1/ the service keeps its own error format.
    assert http.get("/nothing-here").json()["error"] == "not_found"


def test_cors_lets_the_widget_origin_call_the_api(http, server):
    preflight = http.options(
        "/v1/chat/completions",
        headers={
            "Origin": server.widget_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == server.widget_origin
    response = http.get("/v1/models", headers={"Origin": server.widget_origin})
    assert response.headers["access-control-allow-origin"] == server.widget_origin
    other = http.get("/v1/models", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


# -- API keys (in process: a second server with keys required for reads) -------------------
@pytest.fixture(scope="module")
def protected(tmp_path_factory, embedder):
    from fastapi.testclient import TestClient

    from ingest.settings import Settings
    from service.http.app import create_app

    settings = Settings(
        index_dir=shared_index(tmp_path_factory, embedder),
        read_keys=[API_KEY],
        reload_interval_s=0,
        corpus_dir=tmp_path_factory.mktemp("protected-corpus"),
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def test_the_api_key_setting_protects_the_chat_api_and_mcp(protected):
    question = {"model": "clausewise", "messages": [{"role": "user", "content": "access to the courts"}]}
    missing = protected.post("/v1/chat/completions", json=question)
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    wrong = protected.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["type"] == "permission_error"
    good = protected.post("/v1/chat/completions", json=question, headers={"Authorization": f"Bearer {API_KEY}"})
    assert good.status_code == 200 and good.json()["citations"]
    assert protected.post("/mcp", json={}).status_code == 401
    # The page itself is public; it asks for the key when the API answers 401.
    assert protected.get("/").status_code == 200


def test_the_page_script_is_plain_javascript():
    """No build step: the bundle is the files in service/http/static, parseable as they are."""
    static = Path(__file__).resolve().parents[2] / "service" / "http" / "static"
    assert {p.name for p in static.iterdir()} >= {"index.html", "app.js", "style.css", "widget.js"}
    node = subprocess.run(["node", "--version"], capture_output=True) if _has("node") else None
    if node is not None and node.returncode == 0:
        for name in ("app.js", "widget.js"):
            check = subprocess.run(["node", "--check", str(static / name)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr


def _has(program: str) -> bool:
    from shutil import which

    return which(program) is not None
