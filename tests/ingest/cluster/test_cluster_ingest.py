"""Ingestion on a real Dask cluster (scheduler and two worker processes on 127.0.0.1, see
conftest.py) leaves the index a local run leaves: the same report, documents, passages and
answers; updates, hostile files, content transfer and a worker killed mid-run included."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from hostile import write_hostile_folder

from ingest.changes import IngestReport
from ingest.errors import ClusterError
from ingest.settings import Settings
from ingest.store.reader import StoredIndex
from service.search.engine import Engine
from service.search.query import Query

QUESTIONS = [
    "Can asylum-seekers be detained?",
    "Are children detained?",
    "How is a person registered on arrival?",
    "What does the right to education say?",
]
FILES = {
    "guidance/detention.md": "# Detention Guidelines\n\n## Guideline 1\n\nThe right to seek asylum must be "
    "respected. Detention of asylum-seekers should be a measure of last resort, with liberty as the default.\n",
    "guidance/children.txt": "Children\n\nChildren should in principle not be detained at all. Alternatives to "
    "detention must be available, and the best interests of the child are a primary consideration.\n",
    "notes.txt": "Registration\n\nEvery person seeking protection is registered on arrival, with biometric data "
    "taken only where the law provides for it and with a copy of the record given to the person.\n",
    "education.md": "# Education\n\nEvery child has the right to education. Primary education shall be "
    "compulsory and available free to all; secondary education shall be accessible to every child.\n",
    "work.txt": "Employment\n\nRefugees lawfully staying in the territory have the right to engage in wage-earning "
    "employment, on the same terms as nationals of a foreign country in the same circumstances.\n",
    "housing.md": "# Housing\n\nAs regards housing, the Contracting States shall accord refugees treatment as "
    "favourable as possible, and not less favourable than that accorded to aliens generally.\n",
}
MORE = {
    "appeals": "A decision rejecting a claim may be appealed to an independent tribunal within thirty days.",
    "interpreters": "Interviews are held in a language the applicant understands, with a qualified interpreter.",
    "health": "Applicants have access to emergency health care and to the treatment of serious illness.",
    "family": "Family members who arrive separately are traced and reunited as quickly as possible.",
    "documents": "Identity papers are issued within a month and serve as proof of the right to stay.",
    "schooling": "Pupils from abroad join ordinary classes after at most three months of preparation.",
}
# What a report says that must not depend on where the files were parsed.
REPORTED = ["added", "updated", "removed", "unchanged", "failed", "failed_unchanged", "skipped", "warnings"]
REPORTED += ["doc_ids", "documents", "passages", "pages", "embedded", "published"]


def write_files(root: Path, files: dict[str, str] = FILES) -> Path:
    for source, text in files.items():
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(text, encoding="utf-8")
    return root


def on_cluster(settings: Settings, cluster, **values) -> Settings:
    return settings.model_copy(update={"dask_scheduler": cluster.address, "dask_batch_files": 2, **values})


def reported(report: IngestReport) -> dict:
    return {name: getattr(report, name) for name in REPORTED}


def contents(index_dir: Path) -> tuple[dict, dict, np.ndarray]:
    """Documents by source, passages by id, and the vectors in passage-id order."""
    stored = StoredIndex.open(index_dir)
    try:
        documents = {d.source: d for d in stored.documents.values()}
        passages = {p.id: p for d in stored.documents.values() for p in stored.document_passages(d.doc_id)}
        rows = [stored.row_of(passage_id) for passage_id in sorted(passages)]
        return documents, passages, stored.vectors_of(rows)
    finally:
        stored.close()


def top10(index_dir: Path, settings: Settings, embedder) -> dict[str, list[str]]:
    snapshot = Engine(settings, index_dir, embedder=embedder).load()
    try:
        return {
            q: [hit.passage.id for hit in snapshot.retriever.search(Query.build(q, settings=settings, top_k=10))]
            for q in QUESTIONS
        }
    finally:
        snapshot.index.close()


def assert_same_index(local: Path, remote: Path, settings: Settings, embedder) -> None:
    local_docs, local_passages, local_vectors = contents(local)
    remote_docs, remote_passages, remote_vectors = contents(remote)
    assert remote_docs == local_docs
    assert remote_passages == local_passages  # ids, text, pages, sections
    # The same model on the same batches of text: equal up to bf16/batching noise.
    assert np.allclose(remote_vectors, local_vectors, atol=5e-3)
    assert top10(remote, settings, embedder) == top10(local, settings, embedder)


@pytest.fixture
def limits(settings: Settings) -> Settings:
    """Tight per-file limits, so that the hostile files meet them quickly wherever parsed."""
    return settings.model_copy(
        update={"parse_timeout_s": 6.0, "parse_seconds_per_page": 1.0, "parse_memory_mb": 1024, "parse_workers": 1}
    )


def test_a_cluster_run_leaves_the_index_a_local_run_leaves(
    tmp_path: Path, cluster, run_ingest, limits: Settings, embedder, caplog
) -> None:
    """Hostile files included: each is reported and skipped by its worker, under the same limits."""
    corpus = write_files(tmp_path / "corpus")
    write_hostile_folder(corpus / "hostile", tmp_path / "outside")
    local = run_ingest(corpus, settings=limits)
    progress: list[tuple[str, int, int]] = []
    remote_settings = on_cluster(limits, cluster, index_dir=tmp_path / "remote")
    with caplog.at_level(logging.INFO, logger="ingest.cluster.coordinator"):
        remote = run_ingest(corpus, settings=remote_settings, progress=lambda *a: progress.append(a))

    assert reported(remote) == reported(local)
    failed = dict(remote.failed)
    assert "took too long" in failed["hostile/slow.pdf"] and "hostile/bomb.pdf" in failed
    assert "guidance/detention.md" in remote.added and remote.published
    assert_same_index(limits.index_dir, tmp_path / "remote", limits, embedder)
    assert "sent by path" in caplog.text  # the workers share this filesystem
    # Progress per worker: both workers did files, and together all of them.
    workers = {stage: done for stage, done, _ in progress if stage.startswith("worker ")}
    assert len(workers) == 2, progress
    assert sum(workers.values()) == len(remote.added) + len(remote.failed)


def test_an_update_through_the_cluster_writes_only_the_changed_documents(
    tmp_path: Path, cluster, run_ingest, settings: Settings
) -> None:
    corpus = write_files(tmp_path / "corpus")
    remote = on_cluster(settings, cluster)
    first = run_ingest(corpus, settings=remote)
    (corpus / "notes.txt").write_text("Registration\n\nRegistration now happens within three days.\n")
    (corpus / "work.txt").unlink()
    (corpus / "annex.md").write_text("# Annex\n\nThe annex lists the reception centres and their capacity.\n")

    update = run_ingest(corpus, settings=remote)

    assert (update.added, update.updated, update.removed) == (["annex.md"], ["notes.txt"], ["work.txt"])
    assert sorted(update.unchanged) == sorted(set(FILES) - {"notes.txt", "work.txt"})
    assert update.embedded == 2 and update.index_version != first.index_version
    stored = StoredIndex.open(settings.index_dir)
    try:
        ids = {d.source: d.doc_id for d in stored.documents.values()}
        new_segment = {stored.segment_of(ids["annex.md"]), stored.segment_of(ids["notes.txt"])}
        old_segments = {stored.segment_of(ids[s]) for s in FILES if s not in {"notes.txt", "work.txt"}}
        assert len(new_segment) == 1 and not new_segment & old_segments
        assert "work.txt" not in ids
        assert any("three days" in p.text for p in stored.document_passages(ids["notes.txt"]))
    finally:
        stored.close()


def test_files_travel_by_content_to_workers_that_cannot_see_them(
    tmp_path: Path, cluster, run_ingest, settings: Settings, embedder, caplog
) -> None:
    if cluster.hidden is None:
        pytest.skip("hiding a folder from the workers needs root and unshare(1) (a private mount namespace)")
    corpus = write_files(cluster.hidden / "corpus")
    try:
        local = run_ingest(corpus)
        remote_settings = on_cluster(settings, cluster, index_dir=tmp_path / "remote")
        with pytest.raises(ClusterError, match="do not see"):
            run_ingest(corpus, settings=remote_settings.model_copy(update={"dask_transfer": "path"}))
        with caplog.at_level(logging.INFO, logger="ingest.cluster.coordinator"):
            remote = run_ingest(corpus, settings=remote_settings)  # auto
        assert "sent by content" in caplog.text
        assert reported(remote) == reported(local)
        assert_same_index(settings.index_dir, tmp_path / "remote", settings, embedder)
    finally:
        shutil.rmtree(corpus)


def test_an_unreachable_scheduler_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, run_ingest, settings: Settings
) -> None:
    corpus = write_files(tmp_path / "corpus")
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_ingest(corpus, settings=settings.model_copy(update={"dask_scheduler": "tcp://127.0.0.1:9"}))
    assert not (settings.index_dir / "current").exists()


def test_two_folders_by_path_are_each_probed(tmp_path: Path, cluster, run_ingest, settings: Settings, caplog) -> None:
    """One file of each folder is probed: a folder the workers cannot see is found before any batch."""
    first = write_files(tmp_path / "first", {k: v for k, v in FILES.items() if k.startswith("guidance/")})
    second = write_files(tmp_path / "second", {k: v for k, v in FILES.items() if not k.startswith("guidance/")})
    local = run_ingest(first, second)
    remote_settings = on_cluster(settings, cluster, index_dir=tmp_path / "remote", dask_transfer="path")
    with caplog.at_level(logging.INFO, logger="ingest.cluster.coordinator"):
        remote = run_ingest(first, second, settings=remote_settings)
    assert "sent by path" in caplog.text
    assert reported(remote) == reported(local)
    if cluster.hidden is None:
        return
    hidden = write_files(cluster.hidden / "second", {"hidden.txt": FILES["notes.txt"]})
    try:
        with pytest.raises(ClusterError, match=r"do not see these files .*hidden\.txt"):
            run_ingest(first, hidden, settings=remote_settings.model_copy(update={"index_dir": tmp_path / "r2"}))
        assert not (tmp_path / "r2" / "current").exists()
    finally:
        shutil.rmtree(hidden)


def test_a_file_a_worker_cannot_see_stops_the_run_and_is_not_remembered_as_failed(
    tmp_path: Path, cluster, run_ingest, settings: Settings
) -> None:
    """By path, a file gone from the workers' view mid-run is a deployment problem: the run stops
    with a ClusterError, nothing is published and no file is remembered as failed."""
    corpus = write_files(tmp_path / "corpus")

    def remove_the_files(stage: str, done: int, total: int) -> None:
        """At the first batch done: the batches not yet sent (6 files, 4 sent at once) meet no file."""
        if stage.startswith("worker "):
            for source in FILES:
                (corpus / source).unlink(missing_ok=True)

    remote = on_cluster(settings, cluster, dask_batch_files=1, dask_transfer="path")
    with pytest.raises(ClusterError, match=rf"does not see {re.escape(str(corpus))}/.* share the filesystem"):
        run_ingest(corpus, settings=remote, progress=remove_the_files)
    assert not (settings.index_dir / "current").exists()
    assert not (settings.index_dir / "failed.json").exists()


def test_a_file_past_the_memory_limit_is_failed_unsent_by_content(
    tmp_path: Path, cluster, run_ingest, settings: Settings
) -> None:
    corpus = write_files(tmp_path / "corpus")
    with open(corpus / "huge.txt", "wb") as handle:  # sparse: 1.1 GiB that costs no disk
        handle.truncate(1100 << 20)
    remote = on_cluster(settings, cluster, dask_transfer="content", parse_memory_mb=1024)
    report = run_ingest(corpus, settings=remote)
    assert dict(report.failed) == {
        "huge.txt": "ran out of memory (limit 1024 MiB a file): the file alone is 1100 MiB, so it was not "
        "sent to the Dask workers (CLAUSEWISE_PARSE_MEMORY_MB)"
    }
    assert sorted(report.added) == sorted(FILES) and report.published


def test_a_worker_killed_mid_run_costs_only_its_batch(
    tmp_path: Path, cluster, run_ingest, settings: Settings, embedder
) -> None:
    """Last in the module: the nanny restarts the killed worker, which loads its model again."""
    corpus = write_files(tmp_path / "corpus")
    write_files(corpus / "more", {f"{topic}.txt": f"{topic.title()}\n\n{text}\n" for topic, text in MORE.items()})
    local = run_ingest(corpus)
    pids = cluster.worker_pids()
    killed: list[int] = []

    def kill_the_other_worker(stage: str, done: int, total: int) -> None:
        """At the first batch done, the other worker is busy with its own: kill it."""
        if stage.startswith("worker ") and not killed:
            victim = next(pid for address, pid in pids.items() if address != stage.removeprefix("worker "))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    remote = run_ingest(
        corpus,
        settings=on_cluster(settings, cluster, index_dir=tmp_path / "remote", dask_batch_files=1),
        progress=kill_the_other_worker,
    )

    assert killed and not os.path.exists(f"/proc/{killed[0]}")
    assert reported(remote) == reported(local)
    assert_same_index(settings.index_dir, tmp_path / "remote", settings, embedder)
    cluster.wait_for_workers()  # the nanny's new worker, for whatever runs next
