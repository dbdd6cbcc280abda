"""The one settings object refuses combinations the service would silently not honour."""

from __future__ import annotations

import pytest

from ingest.errors import SettingsError
from ingest.settings import Settings, get_settings


def test_bound_fusion_with_postgres_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL ranks words with ts_rank_cd, not BM25: "bound" would quietly run as min-max."""
    monkeypatch.setenv("CLAUSEWISE_BACKEND", "postgres")
    monkeypatch.setenv("CLAUSEWISE_POSTGRES_DSN", "postgresql://user@db-host/clausewise")
    monkeypatch.setenv("CLAUSEWISE_FUSION_LEXICAL", "bound")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="CLAUSEWISE_FUSION_LEXICAL=bound needs BM25 scores"):
            get_settings()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("backend", "lexical"), [("postgres", "minmax"), ("embedded", "bound")])
def test_the_combinations_each_backend_honours_are_accepted(backend: str, lexical: str) -> None:
    settings = Settings(backend=backend, postgres_dsn="postgresql://user@db-host/clausewise", fusion_lexical=lexical)
    assert (settings.backend, settings.fusion_lexical) == (backend, lexical)
