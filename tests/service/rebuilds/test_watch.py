"""The index watch of a serving process: it switches to what `current` names, keeps serving the
loaded build while the published one cannot be loaded, and tries that build again later (a
replica whose sync brought `current` before the segment it names)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
from service_support import build_index, engine_for

from ingest.pipeline import ingest
from service.rebuilds.watch import watch_index

pytestmark = pytest.mark.slow


def _copy_link(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".new")
    tmp.symlink_to(src.readlink())
    tmp.replace(dst)


async def _until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def test_a_build_whose_segment_arrives_late_is_loaded_once_it_is_complete(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tide.txt").write_text("Tide Tables\n\nArticle 1\nThe spring tide is marked with a red flag.\n")
    replica = build_index(corpus, tmp_path / "replica", embedder)
    # The writer's index: a copy of the replica's, then one more publication with a new segment.
    writer = tmp_path / "writer"
    shutil.copytree(replica.index_dir, writer, symlinks=True)
    (corpus / "fog.txt").write_text("Fog Rules\n\nArticle 1\nIn fog every vessel sounds its horn twice a minute.\n")
    report = ingest([corpus], replica.settings.model_copy(update={"index_dir": writer}), embedder=embedder)
    assert report.added == ["fog.txt"]
    new_segments = {p.name for p in (writer / "segments").iterdir()} - {
        p.name for p in (replica.index_dir / "segments").iterdir()
    }
    assert len(new_segments) == 1
    (segment,) = new_segments

    engine = engine_for(replica.settings, embedder)
    engine.load()

    async def scenario() -> None:
        watch = asyncio.create_task(watch_index(engine, interval=0.02, retry_broken=0.3))
        try:
            # A sync that brought the generation and `current` but not yet the segment it names.
            generation = (writer / "current").resolve().name
            shutil.copytree(writer / "generations" / generation, replica.index_dir / "generations" / generation)
            _copy_link(writer / "current", replica.index_dir / "current")
            await asyncio.sleep(0.2)
            assert engine.snapshot.version == replica.version  # the loaded build keeps serving
            shutil.copytree(writer / "segments" / segment, replica.index_dir / "segments" / segment)
            await _until(lambda: engine.snapshot.version == report.index_version)
        finally:
            watch.cancel()

    asyncio.run(scenario())
    hits = engine.snapshot.retriever.run("How often does a vessel sound its horn in fog?", top_k=1)
    assert hits[0].citation.source == "fog.txt"
