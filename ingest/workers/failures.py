"""The files that failed to parse, remembered by content hash in ``INDEX/failed.json``, so
that a broken file is not parsed again on every run, only once it changes (or with
``--retry-failed``). A file is forgotten once it parses, disappears, or the parser changes.

The file is written atomically (a temporary file renamed over it): a crash leaves the old
memory or the new one, never half of either. A missing or unreadable memory is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ingest.store.writer import replace_file

FAILED_FILE = "failed.json"


@dataclass
class FailureMemory:
    """source → ``{"hash", "reason", "parser"}`` of each file that failed, as last seen."""

    entries: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def load(cls, index_dir: Path) -> FailureMemory:
        try:
            data = json.loads((index_dir / FAILED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        files = data.get("files") if isinstance(data, dict) else None
        return cls({s: e for s, e in files.items() if isinstance(e, dict)} if isinstance(files, dict) else {})

    def known(self, source: str, digest: str, parser_version: int) -> str | None:
        """Why ``source`` failed, if it failed last time with these bytes and this parser."""
        entry = self.entries.get(source)
        if entry and entry.get("hash") == digest and entry.get("parser") == parser_version:
            return str(entry.get("reason", "failed"))
        return None

    def remember(self, source: str, digest: str, parser_version: int, reason: str) -> None:
        self.entries[source] = {"hash": digest, "reason": reason, "parser": parser_version}

    def keep_only(self, sources: set[str]) -> None:
        """Forget every file but ``sources`` (those still failing, unchanged or not)."""
        self.entries = {s: e for s, e in self.entries.items() if s in sources}

    def save(self, index_dir: Path) -> None:
        """Write the memory atomically; with nothing to remember, remove the file."""
        path = index_dir / FAILED_FILE
        if not self.entries:
            path.unlink(missing_ok=True)
            return
        replace_file(path, json.dumps({"files": dict(sorted(self.entries.items()))}, indent=1, ensure_ascii=False))
