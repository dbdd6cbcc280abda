"""What each ingested file looked like on disk when it was last hashed, in ``INDEX/file-stats.json``,
so that an update hashes only the files whose metadata changed (git's index does the same).

At a million passages the corpus is ~125,000 files; reading and hashing each of them on every
run took most of a one-file update. A file whose size, modification and change times, inode and
device are all as recorded has the recorded content hash. Two guards keep that honest:

- the change time (``st_ctime_ns``) cannot be set by a program (``utime`` sets it to now), so a
  file rewritten with its old mtime restored still looks changed;
- "racily clean" entries are not trusted: a file changed in the same clock tick as it was
  recorded could keep all its stats, so an entry whose change time is less than
  :data:`RACY_NS` before the record was written is hashed again next time.

A missing, unreadable or foreign file is an empty cache: everything is hashed, as before. The
file is written atomically, and only when an entry changed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ingest.changes import file_hash
from ingest.discover import FoundFile
from ingest.store.writer import replace_file

STATS_FILE = "file-stats.json"
RACY_NS = 2_000_000_000  # an entry changed within 2 s of being recorded is hashed again
_VERSION = 1


def _key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class FileStats:
    """source → ``[size, mtime_ns, ctime_ns, inode, device, digest]`` as last hashed."""

    def __init__(self, entries: dict[str, list] | None = None, written_ns: int = 0) -> None:
        self.entries = entries or {}
        self.written_ns = written_ns
        self.seen: dict[str, list] = {}
        self.dirty = False

    @classmethod
    def load(cls, index_dir: Path) -> FileStats:
        try:
            data = json.loads((index_dir / STATS_FILE).read_text(encoding="utf-8"))
            if data.get("version") != _VERSION:
                return cls()
            entries = {str(s): e for s, e in data["files"].items() if isinstance(e, list) and len(e) == 6}
            return cls(entries, int(data["written_ns"]))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def digest(self, found: FoundFile) -> str:
        """The file's content hash: the recorded one when its stats (the walk's, else read now)
        are unchanged and the record is not racy, else read and hashed
        (:func:`~ingest.changes.file_hash`, which raises ``OSError`` for what cannot be read)."""
        source, path, st = found.source, found.where, found.stat
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                st = None
        if st is not None:
            key = _key(st)
            entry = self.entries.get(source)
            if entry is not None and entry[:5] == key and st.st_ctime_ns < self.written_ns - RACY_NS:
                self.seen[source] = entry
                return str(entry[5])
        digest = file_hash(path)
        if st is not None:
            self.seen[source] = [*_key(st), digest]
            self.dirty = True
        return digest

    def save(self, index_dir: Path) -> None:
        """Keep the files seen by this run (a vanished file is forgotten), when anything changed."""
        if not self.dirty and self.seen.keys() == self.entries.keys():
            return
        # One dumps (the C encoder): json.dump to a file encodes in Python, 4 s at 125,000 files.
        replace_file(
            index_dir / STATS_FILE, json.dumps({"version": _VERSION, "written_ns": time.time_ns(), "files": self.seen})
        )
