"""MCP server: the tools ``search_policies`` and ``get_passage`` over the loaded index.

Two transports, one set of tools:

* stdio, for desktop assistants: ``clausewise mcp --index DIR`` (:func:`run_stdio`);
* streamable HTTP at ``/mcp`` on the running service (:mod:`service.http.routes.mcp`, which
  imports this module only once the service is ready: the MCP SDK takes over a second to
  import). It is stateless with JSON responses, so it works behind several uvicorn workers,
  and it honours the service's read-key setting.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from ingest.errors import ClausewiseError
from ingest.settings import get_settings
from service.http import compute
from service.http.schemas import AskFilters
from service.search import answer as chat
from service.search.engine import Engine, Snapshot
from service.search.query import Mode, Query
from service.search.serialise import PassageContext, PassageDetail, citation_label, passage_detail, passage_out
from service.search.types import Citation

NAME = "clausewise"
INSTRUCTIONS = (
    "Search policy and treaty texts and cite them. Call search_policies with a plain-language question; "
    "quote the returned passages and cite them as [n] with document title, section and page. "
    "Call get_passage with a passage id to read it with its neighbouring text."
)


# -- what the tools return ----------------------------------------------------------------
# The REST models (service.search.serialise) with what an assistant needs beside them: each
# passage's [number] and a ready-made label, the highlight as plain text.
class CitedPassage(BaseModel):
    number: int = Field(description="The marker [number] of this passage.")
    id: str = Field(description="Passage id, for get_passage.")
    text: str
    highlight: str | None = Field(description="The sentence(s) of the passage that best answer the question.")
    score: float
    label: str = Field(description="Title — section — page, ready to cite.")
    citation: Citation

    @classmethod
    def of(cls, source: chat.Source) -> CitedPassage:
        out = passage_out(source.hit)
        return cls(
            number=source.number,
            id=out.id,
            text=out.text,
            score=out.score,
            label=citation_label(out.citation),
            highlight=out.highlight.text if out.highlight else None,
            citation=out.citation,
        )


class SearchResult(BaseModel):
    question: str
    answer: str = Field(description="The best highlighted sentence(s) with their [n] markers (extractive).")
    passages: list[CitedPassage]
    confidence: float = Field(description="Probability (0..1) that the indexed documents answer the question.")
    answered: bool = Field(description="False: the documents do not answer it; the passages are only the nearest text.")
    index_version: str


class NeighbourPassage(PassageContext):
    label: str

    @classmethod
    def of(cls, passage: PassageContext) -> NeighbourPassage:
        return cls(id=passage.id, text=passage.text, label=citation_label(passage.citation), citation=passage.citation)


class PassageResult(NeighbourPassage):
    previous: list[NeighbourPassage] = Field(description="The passages just before, in document order.")
    next: list[NeighbourPassage] = Field(description="The passages just after, in document order.")

    @classmethod
    def of_detail(cls, detail: PassageDetail) -> PassageResult:
        return cls(
            id=detail.id,
            text=detail.text,
            label=citation_label(detail.citation),
            citation=detail.citation,
            previous=[NeighbourPassage.of(p) for p in detail.previous],
            next=[NeighbourPassage.of(p) for p in detail.next],
        )


# -- the tools ----------------------------------------------------------------------------
@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """The MCP translator of :class:`~ingest.errors.ClausewiseError`: a tool error whose text is
    the error's message (anything else the MCP server reports as a crash, without its text)."""
    try:
        yield
    except ClausewiseError as exc:
        raise ToolError(exc.message) from exc


def search(
    snapshot: Snapshot, question: str, top_k: int = 5, filters: AskFilters | None = None, mode: Mode | str = Mode.HYBRID
) -> SearchResult:
    query = Query.build(question, settings=snapshot.retriever.settings, top_k=top_k, mode=mode, filters=filters)
    hits = snapshot.retriever.search(query)
    answer = chat.compose_answer(hits, snapshot.retriever.confidence(query, hits))
    return SearchResult(
        question=query.question,
        answer=answer.summary,
        passages=[CitedPassage.of(source) for source in answer.sources],
        confidence=round(answer.confidence or 0.0, 4),
        answered=answer.answered,
        index_version=snapshot.version,
    )


def search_text(result: SearchResult) -> str:
    """The readable form of a search result, for assistants that read text only."""
    if not result.passages:
        return chat.NO_ANSWER
    if not result.answered:
        nearest = [f"[{p.number}] {p.label}  (passage id: {p.id})" for p in result.passages]
        return "\n".join([f"Answer: {result.answer}", "", "Nearest passages (they do not answer it):", *nearest])
    lines = [f"Answer: {result.answer}", ""]
    for p in result.passages:
        lines.append(f"[{p.number}] {p.label}  (passage id: {p.id})")
        if p.highlight:
            lines.append(f"Best sentence: {chat.squash(p.highlight)}")
        lines.append(chat.squash(p.text))
        lines.append("")
    return "\n".join(lines).rstrip()


def passage(snapshot: Snapshot, passage_id: str, context: int = 1) -> PassageResult:
    detail = passage_detail(snapshot.index, passage_id.strip(), context, hint="; ids come from search_policies")
    return PassageResult.of_detail(detail)


def passage_text(result: PassageResult) -> str:
    lines = [result.label, f"(passage id: {result.id})", ""]
    for p in result.previous:
        lines += [f"[before] {chat.squash(p.text)}", ""]
    lines += [chat.squash(result.text), ""]
    for p in result.next:
        lines += [f"[after] {chat.squash(p.text)}", ""]
    return "\n".join(lines).rstrip()


def build_server(get_snapshot: Callable[[], Snapshot]) -> MCPServer:
    """An MCP server whose tools search the snapshot ``get_snapshot()`` returns at each call."""
    server = MCPServer(NAME, title="clausewise", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @server.tool(name="search_policies", title="Search policies and treaties", annotations=read_only)
    def search_policies(
        question: Annotated[str, Field(description="The question, in plain language.")],
        top_k: Annotated[int, Field(ge=1, le=20, description="How many passages to return.")] = 5,
        filters: Annotated[
            AskFilters | None, Field(description="Optional: source glob, doc ids, section substring.")
        ] = None,
        mode: Annotated[Mode, Field(description="Ranking.")] = Mode.HYBRID,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Find the passages of the indexed policy and treaty texts that answer a question, each cited
        with document title, section and page, best first, with the best sentence highlighted."""
        with tool_errors(), compute.question_in_flight():  # counted beside the pool's questions
            result = search(get_snapshot(), question, top_k, filters, mode)
        return CallToolResult(
            content=[TextContent(type="text", text=search_text(result))],
            structured_content=result.model_dump(mode="json"),
        )

    @server.tool(name="get_passage", title="Read a cited passage", annotations=read_only)
    def get_passage(
        passage_id: Annotated[str, Field(description="A passage id from search_policies.")],
        context: Annotated[int, Field(ge=0, le=10, description="Neighbouring passages on each side.")] = 1,
    ) -> Annotated[CallToolResult, PassageResult]:
        """One passage with its citation and the neighbouring text before and after it."""
        with tool_errors():
            result = passage(get_snapshot(), passage_id, context)
        return CallToolResult(
            content=[TextContent(type="text", text=passage_text(result))],
            structured_content=result.model_dump(mode="json"),
        )

    return server


# -- the SDK's own checks for streamable HTTP (see service.http.routes.mcp) -------------------
def transport_security(served: list[str], cors_origins: list[str]) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding protection over the same host names as the app's Host check: its
    patterns name a host with any port (``localhost:*``) and its origins over http and https."""
    if "*" in served:  # the operator accepts any Host: the SDK has no pattern for that
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    authorities = [f"[{name}]" if ":" in name else name for name in served]
    hosts = [pattern for a in authorities for pattern in (a, f"{a}:*")]
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=[*origins, *cors_origins]
    )


# -- stdio ----------------------------------------------------------------------------------
def run_stdio(index_dir: Path | None, load_engine: Callable[[Path | None], Engine]) -> None:
    """Serve the tools over stdin/stdout. Nothing but MCP messages may reach stdout, so
    whatever loading the model prints goes to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        engine = load_engine(index_dir or get_settings().index_dir)
    server = build_server(lambda: engine.snapshot)
    server.run("stdio")
