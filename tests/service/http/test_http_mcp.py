"""The MCP server through the ``mcp`` package's own client: over stdio (``clausewise mcp``, as a
desktop assistant runs it) and over streamable HTTP at ``/mcp`` on the running service."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import anyio
import pytest
from hermetic import clausewise_command, clean_env
from test_chat_server import (
    CLIMATE_SOURCE,
    PDF_SOURCE,
    STATELESS_SOURCE,
    chat_server,
    shared_index,
)

mcp = pytest.importorskip("mcp", reason="the mcp package is a dependency: pip install -e .")
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.live

TIMEOUT_S = 300  # the stdio server loads the model before it answers


async def exercise(session: ClientSession) -> None:
    """What both transports must do: list the tools, search with citations, read a passage."""
    await session.initialize()
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) >= {"search_policies", "get_passage"}
    assert {"question", "top_k", "filters"} <= set(tools["search_policies"].input_schema["properties"])
    assert tools["search_policies"].output_schema is not None

    result = await session.call_tool(
        "search_policies", {"question": "Do displaced persons have free access to the courts of law?", "top_k": 3}
    )
    assert not result.is_error
    data = result.structured_content
    assert data["passages"][0]["citation"]["source"] == PDF_SOURCE
    assert "Article 16" in data["passages"][0]["citation"]["section"]
    assert data["passages"][0]["citation"]["page_start"] == 1
    assert "free access" in data["passages"][0]["highlight"] and data["answer"].endswith("[1]")
    text = result.content[0].text
    assert (
        text.startswith("Answer: ") and "[1] Convention on the Status of Displaced Persons" in text and "p. 1" in text
    )

    filtered = await session.call_tool(
        "search_policies",
        {
            "question": "access to the courts",
            "top_k": 2,
            "filters": {"source": STATELESS_SOURCE},
        },
    )
    assert {p["citation"]["source"] for p in filtered.structured_content["passages"]} == {STATELESS_SOURCE}

    climate = await session.call_tool("search_policies", {"question": "ultimate objective glacier melt"})
    passage_id = climate.structured_content["passages"][0]["id"]
    assert climate.structured_content["passages"][0]["citation"]["source"] == CLIMATE_SOURCE

    detail = await session.call_tool("get_passage", {"passage_id": passage_id, "context": 1})
    assert not detail.is_error
    assert detail.structured_content["id"] == passage_id
    assert detail.structured_content["citation"]["source"] == CLIMATE_SOURCE
    assert detail.structured_content["previous"] or detail.structured_content["next"]
    assert "Framework Convention on Mountain Climate" in detail.content[0].text

    missing = await session.call_tool("get_passage", {"passage_id": "no-such-passage"})
    assert missing.is_error and "no passage" in missing.content[0].text
    invalid = await session.call_tool("search_policies", {"question": "courts", "top_k": 99})
    assert invalid.is_error


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(TIMEOUT_S):
            await scenario()

    anyio.run(bounded)


def test_mcp_over_stdio(tmp_path_factory, embedder, tmp_path):
    index_dir = shared_index(tmp_path_factory, embedder)
    command, *prefix = clausewise_command()
    params = StdioServerParameters(
        command=command, args=[*prefix, "mcp", "--index", str(index_dir)], env=clean_env(), cwd=str(tmp_path)
    )

    async def scenario() -> None:
        with open(tmp_path / "stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await exercise(session)

    try:
        run(scenario)
    except BaseException:
        sys.stderr.write((tmp_path / "stderr.log").read_text()[-4000:])
        raise


def test_mcp_over_streamable_http(tmp_path_factory, embedder):
    server = chat_server(tmp_path_factory, embedder)

    async def scenario() -> None:
        async with streamable_http_client(f"{server.url}/mcp") as (read, write):
            async with ClientSession(read, write) as session:
                await exercise(session)

    run(scenario)
