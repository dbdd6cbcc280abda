"""Several `clausewise serve` replicas over one index folder: each switches to a generation
published by an ingest in another process, with no failed request, and keeps answering from the
generation it holds while a later publication deletes that generation's files."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hermetic import clausewise_command, clean_env, cleared
from live_support import JOB_TIMEOUT, Server, build_index

pytestmark = [pytest.mark.slow, pytest.mark.live]

QUESTION = "What is the night harbour code radioed before docking?"
CODES = ("ALPHA-ONE", "BRAVO-TWO", "CHARLIE-THREE")
SEED = {
    "harbour-code.txt": f"Night Harbour Signals\n\nArticle 1\nThe night harbour code is {CODES[0]}, radioed before docking.\n",
    "beta-forest.md": (
        "# Beta Forestry Charter\n\n## Article 1\nLogging in the Beta forest is limited to two hundred trees "
        "per season.\n\n## Article 2\nRangers may close trails during the nesting season without notice.\n"
    ),
}


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with cleared(monkeypatch):
        yield


def _published(index: Path) -> str:
    return (index / "current").resolve().name


def _ingest(root: Path) -> str:
    result = subprocess.run(
        [*clausewise_command(), "ingest", str(root / "corpus"), "--index", str(root / "index"), "-q"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return _published(root / "index")


def _wait_serving(replicas: list[Server], version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(r.version() != version for r in replicas):
        assert time.monotonic() < deadline, [r.version() for r in replicas]
        time.sleep(0.1)


def test_replicas_follow_each_publication_without_a_failed_request(tmp_path: Path, embedder) -> None:
    build_index(tmp_path, embedder, SEED)
    first = _published(tmp_path / "index")
    replicas = [Server(tmp_path, name=f"replica-{i}").start() for i in range(2)]
    stop = threading.Event()
    seen: list[list[tuple[str, str]]] = [[] for _ in replicas]
    errors: list[str] = []

    def asker(i: int) -> None:
        with httpx.Client(base_url=replicas[i].url, timeout=60) as client:
            while not stop.is_set():
                try:
                    r = client.post("/ask", json={"question": QUESTION, "top_k": 3})
                except httpx.HTTPError as exc:
                    errors.append(f"replica {i}: {exc!r}")
                    continue
                if r.status_code != 200:
                    errors.append(f"replica {i}: {r.status_code} {r.text}")
                    continue
                body = r.json()
                texts = " ".join(p["text"] for p in body["passages"] if p["citation"]["source"] == "harbour-code.txt")
                seen[i].append((body["index_version"], texts))
                time.sleep(0.02)

    threads = [threading.Thread(target=asker, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    versions = [first]
    try:
        for code in CODES[1:]:
            (tmp_path / "corpus" / "harbour-code.txt").write_text(SEED["harbour-code.txt"].replace(CODES[0], code))
            versions.append(_ingest(tmp_path))
            _wait_serving(replicas, versions[-1])
        # Two publications later the first generation is gone from disk (current and its parent are kept).
        assert not (tmp_path / "index" / "generations" / first).exists()
        settled = [len(s) for s in seen]
        deadline = time.monotonic() + 30
        while any(len(s) < n + 5 for s, n in zip(seen, settled)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        for replica in replicas:
            replica.stop()
    assert not errors, errors[:5]
    code_of = dict(zip(versions, CODES))
    for answers in seen:
        assert {version for version, _ in answers} <= set(versions)
        assert answers[-1][0] == versions[-1]
        for version, texts in answers:  # each answer wholly from the generation it names
            assert code_of[version] in texts and all(c not in texts for c in CODES if c != code_of[version])
