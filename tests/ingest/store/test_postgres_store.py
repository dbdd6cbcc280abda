"""The PostgreSQL backend's write side against a real PostgreSQL with pgvector (pgserver):
a first ingest, then a run that changes one file, deletes one and adds one, replacing only
those documents' rows; the model check and the one-writer lock."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from docgen import write_text
from postgres_server import fresh_database

from ingest.errors import IndexBusyError, IndexIncompatibleError
from ingest.settings import Settings
from ingest.store.postgres.schema import LOCK_KEY

FERRY = "# Ferry rules\n\nThe ferry to Orrin Island leaves at noon. Every passenger must hold a stamped ticket.\n"
DEPOT = "# Depot notes\n\nThe grain depot is opened by the wardens in winter. Only wardens may enter the depot.\n"
SHELTER = "# Shelter guide\n\nFamilies displaced by floods may stay in the shelter for ninety days.\n"
HARBOUR = "# Harbour rules\n\nFishing boats moor in the inner harbour and pay a mooring fee each month.\n"


@pytest.fixture
def pg_settings(postgres_server: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    dsn = fresh_database(postgres_server, f"store_{request.node.name[:40]}".lower())
    return Settings(_env_file=None, backend="postgres", postgres_dsn=dsn, index_dir=tmp_path / "cache")  # type: ignore[call-arg]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    write_text(root / "ferry.md", FERRY)
    write_text(root / "depot.md", DEPOT)
    write_text(root / "shelter.md", SHELTER)
    return root


def rows(settings: Settings) -> dict[str, list[tuple[int, str]]]:
    """doc_id → its passages' (primary key, id), by ordinal."""
    assert settings.postgres_dsn
    with psycopg.connect(settings.postgres_dsn) as conn:
        found = conn.execute("SELECT doc_id, pk, id FROM clausewise_passages ORDER BY doc_id, ordinal").fetchall()
    result: dict[str, list[tuple[int, str]]] = {}
    for doc_id, pk, passage_id in found:
        result.setdefault(doc_id, []).append((pk, passage_id))
    return result


def meta(settings: Settings) -> tuple[int, str]:
    assert settings.postgres_dsn
    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute("SELECT generation, manifest->>'index_version' FROM clausewise_meta").fetchone()
    assert row is not None
    return row[0], row[1]


def test_an_update_replaces_only_the_changed_documents(pg_settings: Settings, corpus: Path, run_ingest) -> None:
    first = run_ingest(corpus, settings=pg_settings)
    assert first.published and sorted(first.added) == ["depot.md", "ferry.md", "shelter.md"]
    before = rows(pg_settings)
    assert set(before) == {"depot.md", "ferry.md", "shelter.md"}
    generation, version = meta(pg_settings)
    assert version == first.index_version

    write_text(corpus / "ferry.md", FERRY.replace("noon", "one o'clock"))
    (corpus / "depot.md").unlink()
    write_text(corpus / "harbour.md", HARBOUR)
    second = run_ingest(corpus, settings=pg_settings)

    assert (second.added, second.updated, second.removed) == (["harbour.md"], ["ferry.md"], ["depot.md"])
    after = rows(pg_settings)
    assert set(after) == {"ferry.md", "harbour.md", "shelter.md"}
    assert after["shelter.md"] == before["shelter.md"]  # the same rows: never rewritten
    assert not {pid for _, pid in after["ferry.md"]} & {pid for _, pid in before["ferry.md"]}  # new ids
    assert min(pk for pk, _ in after["ferry.md"]) > max(pk for docs in before.values() for pk, _ in docs)
    assert meta(pg_settings) == (generation + 1, second.index_version) and second.index_version != version

    third = run_ingest(corpus, settings=pg_settings)  # nothing changed: nothing written
    assert not third.published and meta(pg_settings) == (generation + 1, second.index_version)


def test_a_database_built_with_another_model_is_refused(pg_settings: Settings, corpus: Path, run_ingest) -> None:
    run_ingest(corpus, settings=pg_settings)
    assert pg_settings.postgres_dsn
    with psycopg.connect(pg_settings.postgres_dsn) as conn:
        conn.execute("UPDATE clausewise_meta SET manifest = jsonb_set(manifest, '{model,name}', '\"other-model\"')")
    write_text(corpus / "harbour.md", HARBOUR)
    with pytest.raises(IndexIncompatibleError, match="other-model"):
        run_ingest(corpus, settings=pg_settings)


def test_a_second_writer_is_refused_while_one_runs(pg_settings: Settings, corpus: Path, run_ingest) -> None:
    assert pg_settings.postgres_dsn
    with psycopg.connect(pg_settings.postgres_dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        with pytest.raises(IndexBusyError, match="another `clausewise ingest`"):
            run_ingest(corpus, settings=pg_settings)


def test_the_postgres_backend_needs_a_dsn() -> None:
    with pytest.raises(ValueError, match="CLAUSEWISE_POSTGRES_DSN"):
        Settings(_env_file=None, backend="postgres")  # type: ignore[call-arg]
