"""Two kinds of key: read keys protect every read endpoint, write keys every write endpoint, and
a read key — the one a web page may hold — can never write."""

from __future__ import annotations

import pytest
from hermetic import clean_settings
from http_support import client_over
from pydantic import ValidationError
from service_support import KESTRELMOOR
from typer.testing import CliRunner

from service.cli import app as cli

pytestmark = pytest.mark.usefixtures("hermetic")
READ, WRITE, OLD = "read-key-0123456789", "write-key-0123456789", "old-api-key-0123456789"
ASK = {"question": KESTRELMOOR}
CHAT = {"model": "clausewise", "messages": [{"role": "user", "content": KESTRELMOOR}]}
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def keyed(built, embedder):
    with client_over(built, embedder, read_keys=[READ], write_keys=[WRITE]) as client:
        yield client


def reads(client, headers: dict[str, str]) -> dict[str, int]:
    """The status of every read endpoint with ``headers``."""
    doc_id = client.get("/documents", headers=bearer(READ)).json()[0]["doc_id"]
    passage = client.post("/ask", json=ASK, headers=bearer(READ)).json()["passages"][0]["id"]
    calls = {
        "POST /ask": lambda: client.post("/ask", json=ASK, headers=headers),
        "GET /documents": lambda: client.get("/documents", headers=headers),
        "GET /documents/{id}": lambda: client.get(f"/documents/{doc_id}", headers=headers),
        "GET /passages/{id}": lambda: client.get(f"/passages/{passage}", headers=headers),
        "GET /v1/models": lambda: client.get("/v1/models", headers=headers),
        "POST /v1/chat/completions": lambda: client.post("/v1/chat/completions", json=CHAT, headers=headers),
        "GET /jobs": lambda: client.get("/jobs", headers=headers),
        "POST /mcp": lambda: client.post("/mcp", json=MCP_LIST, headers={**MCP_HEADERS, **headers}),
    }
    return {name: call().status_code for name, call in calls.items()}


def test_with_read_keys_set_every_read_endpoint_needs_a_key(keyed) -> None:
    assert set(reads(keyed, {}).values()) == {401}
    assert set(reads(keyed, bearer("not-a-key")).values()) == {403}
    assert set(reads(keyed, bearer(READ)).values()) == {200}
    assert set(reads(keyed, bearer(WRITE)).values()) == {200}  # a write key reads too


def test_a_read_key_cannot_write(keyed) -> None:
    writes = {
        "POST /documents": lambda h: keyed.post("/documents", files={"files": ("a.txt", b"some text")}, headers=h),
        "DELETE /documents/{id}": lambda h: keyed.delete("/documents/a.txt", headers=h),
        "POST /index/rebuild": lambda h: keyed.post("/index/rebuild", headers=h),
        "POST /index/reload": lambda h: keyed.post("/index/reload", headers=h),
    }
    for name, call in writes.items():
        refused = call(bearer(READ))
        assert refused.status_code == 403, (name, refused.text)
        assert "read key" in refused.json()["message"] and "CLAUSEWISE_WRITE_KEYS" in refused.json()["message"]
    assert keyed.post("/index/reload", headers=bearer(WRITE)).json()["reloaded"] is False


def test_without_read_keys_reads_stay_open_and_writes_still_need_a_write_key(built, embedder) -> None:
    with client_over(built, embedder, write_keys=[WRITE]) as client:
        assert client.post("/ask", json=ASK).status_code == 200
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.post("/index/reload").status_code == 401
        assert client.post("/index/reload", headers=bearer(WRITE)).status_code == 200


def test_a_key_in_both_lists_refuses_to_start(monkeypatch) -> None:
    for lists in ({"read_keys": "a,shared", "write_keys": "shared"}, {"read_keys": "shared", "api_keys": "shared"}):
        with pytest.raises(ValidationError, match="both CLAUSEWISE_READ_KEYS and CLAUSEWISE_WRITE_KEYS"):
            clean_settings(**lists)
    monkeypatch.setenv("CLAUSEWISE_READ_KEYS", "k1,the-shared-secret")
    monkeypatch.setenv("CLAUSEWISE_WRITE_KEYS", "the-shared-secret")
    result = CliRunner().invoke(cli, ["serve", "--index", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert "both CLAUSEWISE_READ_KEYS and CLAUSEWISE_WRITE_KEYS" in result.output
    assert "the-shared-secret" not in result.output  # the error names the lists, never the key


def test_the_old_api_keys_are_write_keys_with_a_deprecation_warning(built, embedder) -> None:
    with pytest.warns(FutureWarning, match="CLAUSEWISE_API_KEYS is deprecated"):
        clean_settings(api_keys=[OLD])
    with client_over(built, embedder, api_keys=[OLD], read_keys=[READ]) as client:
        assert client.post("/index/reload", headers=bearer(OLD)).status_code == 200
        assert client.get("/documents", headers=bearer(OLD)).status_code == 200
        assert client.post("/index/reload", headers=bearer(READ)).status_code == 403


def test_the_old_protect_reads_still_protects_them_with_the_write_keys(built, embedder) -> None:
    with pytest.warns(FutureWarning, match="CLAUSEWISE_PROTECT_READS is deprecated"):
        clean_settings(protect_reads=True, write_keys=[WRITE])
    with client_over(built, embedder, protect_reads=True, write_keys=[WRITE]) as client:
        assert client.post("/ask", json=ASK).status_code == 401
        assert client.post("/ask", json=ASK, headers=bearer(WRITE)).status_code == 200
