"""A hostile folder beside a normal corpus: every file ingested as a careful reader would, or
reported with its reason, and the run bounded by the per-file limit."""

from __future__ import annotations

import time
from pathlib import Path

from hostile import write_hostile_folder

from ingest.settings import Settings
from ingest.store.reader import StoredIndex

NORMAL = {
    "normal/registration.txt": "Registration\n\nEvery person seeking protection is registered on arrival.\n",
    "normal/children.md": "# Children\n\nChildren should in principle not be detained at all.\n",
}
LIMIT_S = 6.0


def test_a_hostile_folder_is_ingested_or_reported_file_by_file(tmp_path: Path, run_ingest) -> None:
    corpus = tmp_path / "corpus"
    expect = write_hostile_folder(corpus / "hostile", tmp_path / "outside")
    expect = {f"hostile/{source}": e for source, e in expect.items()}
    for source, text in NORMAL.items():
        (corpus / source).parent.mkdir(parents=True, exist_ok=True)
        (corpus / source).write_text(text, encoding="utf-8")
    settings = Settings(
        index_dir=tmp_path / "index",
        parse_timeout_s=LIMIT_S,
        parse_seconds_per_page=1.0,
        parse_memory_mb=1024,
        parse_workers=2,
        ocr=False,
    )
    started = time.monotonic()
    report = run_ingest(corpus, settings=settings)
    seconds = time.monotonic() - started

    stored = StoredIndex.open(settings.index_dir)
    texts: dict[str, str] = {}
    for document in stored.documents.values():
        texts[document.source] = " ".join(p.text for p in stored.document_passages(document.doc_id))
    failed, skipped = dict(report.failed), dict(report.skipped)
    for source in NORMAL:
        assert source in report.added
    for source, want in expect.items():
        if want.outcome == "added":
            assert source in report.added, (source, failed.get(source))
            assert want.text in texts[source], (source, texts[source][:200])
            assert "\x00" not in texts[source] and "%PDF" not in texts[source]
        else:
            reasons = failed if want.outcome == "failed" else skipped
            assert source in reasons, (source, report)
            assert want.why in reasons[source], (source, reasons[source])
    assert not any("never indexed" in t or "root:" in t for t in texts.values())
    # Bounded by the per-file limit (the slow PDF is stopped at it, where pypdf alone would
    # spend minutes), not by the worst file; generous for a loaded machine.
    assert seconds < 120, seconds
