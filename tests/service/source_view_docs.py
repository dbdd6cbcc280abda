"""The corpus of the source-view tests: a PDF whose page 2 is only a scan, a text PDF whose
passage sits low on page 3, and Markdown and HTML documents carrying script that must stay inert."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docgen import wrap, write_pdf, write_scanned_pdf
from service_support import BuiltIndex, build_index

from ingest.embedder import Embedder

SCANNED_QUESTION = "Who must register heron nests in the Marrowdale estuary, and by when?"
SCANNED_WORDS = "wardens of the Marrowdale estuary shall register"
LOW_QUESTION = "What does the lighthouse keeper of Quillon Point log at dusk?"
LOW_WORDS = "lighthouse keeper of Quillon Point shall log"
HOSTILE_QUESTION = "How are the salt marsh ferries of Dunmarrow scheduled?"
HOSTILE_WORDS = "salt marsh ferries of Dunmarrow"
# Document text that would run if it were ever put into the page as HTML.
SCRIPT = "<script>document.title='pwned-script'</script>"
IMG = "<img src=x onerror=\"document.title='pwned-img'\">"


@dataclass(frozen=True)
class SourceCorpus:
    built: BuiltIndex
    original_pdf: Path


def _filler(topic: str, n: int) -> list[str]:
    return wrap(" ".join(f"Clause {i} on {topic} keeps the ordinary rules of the charter in force." for i in range(n)))


def write_source_corpus(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    write_scanned_pdf(
        root / "wetlands-charter.pdf",
        [["Wetlands Charter", "", "Article 1 - Scope", *_filler("scope", 6)]],
        {
            2: [
                "Article 2 - Heron wardens",
                "The wardens of the Marrowdale estuary shall register",
                "every heron nest before the first autumn frost.",
                "A register kept by the wardens is open to the public.",
            ]
        },
    )
    low = [
        *_filler("harbours", 24),
        "",
        "Article 9 - Lights",
        *wrap(
            "The lighthouse keeper of Quillon Point shall log the state of the lamp, the wind and every "
            "passing vessel at dusk, and keep the log for ten years."
        ),
    ]
    write_pdf(
        root / "coast-rules.pdf",
        [["Coast Rules", "", "Article 1 - Scope", *_filler("scope", 20)], _filler("moorings", 30), low],
        title="Coast Rules",
    )
    (root / "ferries.md").write_text(
        "# Ferry Notes\n\n## Timetables\n\n"
        f"The salt marsh ferries of Dunmarrow are scheduled by the harbour board each spring. {SCRIPT} "
        f"Timetables are posted at every landing. {IMG}\n\n"
        "## Fares\n\nFares are set once a year and displayed on board.\n"
    )
    (root / "tides.html").write_text(
        "<html><head><title>Tide Tables</title><script>document.title='pwned-html'</script></head><body>"
        "<article><h1>Tide Tables</h1><p>The tide tables of the Orrin firth are printed every month by the "
        "pilots' guild, and each table lists the high and low waters of every day.</p>"
        "<p>Readers write &lt;script&gt;alert(1)&lt;/script&gt; in the margins; the guild ignores them.</p>"
        "</article></body></html>"
    )


def build_source_corpus(root: Path, index_dir: Path, embedder: Embedder) -> SourceCorpus:
    write_source_corpus(root)
    return SourceCorpus(build_index(root, index_dir, embedder), root / "coast-rules.pdf")
