"""The Host allow-list and the MCP transport's DNS-rebinding protection: a page on another
name, pointed at 127.0.0.1 by DNS rebinding, cannot read the service."""

from __future__ import annotations

import pytest
from hermetic import clean_settings
from http_support import client_over, mcp_manager
from service_support import KESTRELMOOR

pytestmark = pytest.mark.usefixtures("hermetic")
MCP_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
MCP_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture(scope="module")
def local(built, embedder):
    with client_over(built, embedder) as client:
        yield client


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "localhost."])
def test_the_loopback_names_are_served(local, host: str) -> None:
    assert local.get("/documents", headers={"host": host}).status_code == 200


def test_a_request_for_another_host_is_refused_with_a_json_error(local) -> None:
    rebinding = {"host": "attacker.example:8000"}
    refused = local.get("/documents", headers=rebinding)
    assert refused.status_code == 421
    assert refused.json()["error"] == "misdirected_request"
    assert "'attacker.example'" in refused.json()["message"] and "CLAUSEWISE_ALLOWED_HOSTS" in refused.json()["message"]
    assert local.post("/ask", json={"question": KESTRELMOOR}, headers=rebinding).status_code == 421
    chat = local.get("/v1/models", headers=rebinding)
    assert chat.status_code == 421 and chat.json()["error"]["type"] == "invalid_request_error"  # OpenAI's shape


def test_mcp_refuses_a_rebinding_page(local) -> None:
    """The page's Origin equals its Host under rebinding, which the old Origin check let through."""
    page = {"host": "attacker.example:8000", "origin": "http://attacker.example:8000"}
    assert local.post("/mcp", json=MCP_LIST, headers={**MCP_HEADERS, **page}).status_code == 421
    other_page = {"origin": "http://attacker.example"}
    assert local.post("/mcp", json=MCP_LIST, headers={**MCP_HEADERS, **other_page}).status_code == 403
    own_page = {"host": "localhost:8000", "origin": "http://localhost:8000"}
    assert local.post("/mcp", json=MCP_LIST, headers={**MCP_HEADERS, **own_page}).status_code == 200


def test_the_mcp_sdk_rebinding_protection_is_on_with_the_same_names(local) -> None:
    security = mcp_manager(local).security_settings
    assert security.enable_dns_rebinding_protection is True
    assert {"localhost:*", "127.0.0.1:*", "[::1]:*"} <= set(security.allowed_hosts)
    assert "attacker.example:*" not in security.allowed_hosts
    assert {"http://localhost:*", "https://127.0.0.1:*"} <= set(security.allowed_origins)


def test_probes_answer_whatever_the_host(local) -> None:
    """An orchestrator probes by IP address; the probes say nothing worth stealing."""
    assert local.get("/healthz", headers={"host": "10.1.2.3:8000"}).status_code == 200
    assert local.get("/readyz", headers={"host": "10.1.2.3:8000"}).status_code == 200
    assert local.get("/metrics", headers={"host": "10.1.2.3:8000"}).status_code == 421


def test_the_configured_names_are_served(built, embedder) -> None:
    with client_over(built, embedder, host="clausewise.internal", allowed_hosts=["docs.example.org"]) as client:
        for host in ("clausewise.internal:8000", "docs.example.org", "Docs.Example.Org.:443", "localhost"):
            assert client.get("/documents", headers={"host": host}).status_code == 200, host
        assert client.get("/documents", headers={"host": "example.org"}).status_code == 421
        assert "docs.example.org:*" in mcp_manager(client).security_settings.allowed_hosts


def test_a_wildcard_serves_any_host(built, embedder) -> None:
    """For an operator whose proxy checks Host itself."""
    with client_over(built, embedder, allowed_hosts=["*"]) as client:
        assert client.get("/documents", headers={"host": "anything.example"}).status_code == 200


def test_binding_every_interface_adds_no_name() -> None:
    assert clean_settings(host="0.0.0.0").served_hosts == ["localhost", "127.0.0.1", "::1"]
    assert clean_settings(host="10.0.0.5", allowed_hosts="a.example, B.example, c.example:8443").served_hosts == [
        "localhost",
        "127.0.0.1",
        "::1",
        "10.0.0.5",
        "a.example",
        "b.example",
        "c.example",  # a port given with a name is dropped: any port is served
    ]


def test_cors_stays_off_by_default(local) -> None:
    preflight = local.options(
        "/v1/chat/completions",
        headers={"origin": "https://site.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = local.get("/v1/models", headers={"origin": "https://site.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_every_operation_documents_the_421_it_answers(local) -> None:
    """The OpenAPI document lists 421 wherever the Host check refuses, with the error schema."""
    spec = local.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) > 10
    for path, method, operation in operations:
        concrete = path.replace("{number}", "1").replace("{", "").replace("}", "")
        answered = local.request(method, concrete, headers={"host": "attacker.example"}).status_code
        if path in ("/healthz", "/readyz"):  # orchestrators probe by IP address: exempt
            assert answered != 421 and "421" not in operation["responses"], path
            continue
        assert answered == 421, (method, path)
        schema = operation["responses"]["421"]["content"]["application/json"]["schema"]["$ref"]
        assert schema.endswith("OpenAIErrorOut" if path.startswith("/v1/") else "ErrorOut"), (path, schema)
