"""The query encoder of the serving process: an exported sentence-transformers model on
onnxruntime, with the model's own tokenizer from ``tokenizers`` and pooling in numpy.

This module imports numpy, onnxruntime and tokenizers — never torch, transformers or
sentence-transformers (``tests/ingest/embedding/test_onnx_encoder.py`` checks it in a fresh
interpreter). The export that feeds it is :mod:`ingest.embedding.onnx_export` (torch), the
cache it reads is :mod:`ingest.embedding.cache`, and :mod:`ingest.embedding.provision` finds or
makes one.

Why it is fast (issue 12): one short question costs ~4–6 ms here against ~14 ms for
``SentenceTransformer.encode``, *provided* the tokenizer does not pad. The bundled model's
``tokenizer.json`` ships with padding to 128 switched on, which makes every question a
128-token forward pass (~22 ms: the cause of the old "ONNX is slower" measurement). So:

- one text is tokenised with no padding at all, and batches are padded here, in numpy, to the
  longest text of the batch (texts sorted by length first, as sentence-transformers does);
- truncation to the model's ``max_seq_length``, as sentence-transformers truncates;
- threads are sized on purpose: ``intra_op_num_threads`` from the caller (default 1: the
  question runs on the calling thread, no pool at all), ``inter_op_num_threads`` 1, sequential
  execution, and spinning off — an idle onnxruntime pool that spins steals the core FAISS or
  another request needs (a 17 ms query became 99 ms on 2 cores);
- a question that is the only one in flight may use more cores (``lone_threads``): a second
  session over the same memory-mapped weights whose pool spins only while its question runs
  (``session.force_spinning_stop``). One treaty question's forward pass: ~4.5–6 ms on two
  threads against ~7.5–9 ms on one; a question that arrives while another runs takes the
  one-thread session, so concurrent questions still each get a core.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # before tokenizers: no rayon pool

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from ingest.embedding.batching import QuestionBatcher
from ingest.embedding.cache import MIN_COSINE, ONNX_FILE, TOKENIZER_FILE, cache_problem, read_meta
from ingest.embedding.pooling import l2_normalise, pool
from ingest.errors import ModelError

log = logging.getLogger(__name__)


def normalise_question(text: str) -> str:
    """The key of the question cache, and what is embedded: surrounding whitespace dropped and
    runs of whitespace made one space. The bundled model's WordPiece tokenizer splits on
    whitespace, so this never changes its embedding; it only makes "a  b\\n" and "a b" one
    cache entry."""
    return " ".join(text.split())


class OnnxEncoder:
    """An exported model in ``cache_dir``; constructing one is free, :meth:`warm_up` loads it.

    ``intra_op_threads``: onnxruntime's threads for one call (1: the calling thread only; for
    ingestion, the cores you give it). ``lone_threads``: the threads of a one-text call made
    while no other call runs (more than ``intra_op_threads``: a second session for those, its
    pool spinning only while it runs; else none). ``questions_in_flight``: how many questions
    the caller's process is answering, the caller's own included (the service's question pool:
    one that is still searching holds a core too); a call is lone only when this is at most 1.
    ``batch_size``: the default of :meth:`embed`.
    ``query_cache_size``: how many recent questions :meth:`embed_query` remembers (0: none).
    ``question_batch``: questions of :meth:`embed_query` that arrive while ``question_passes``
    forward passes run share the next one, up to this many (1: each question alone;
    :mod:`~ingest.embedding.batching`).

    Thread-safe: several threads may call :meth:`embed_query` / :meth:`embed` at once (one
    onnxruntime session serves concurrent ``run`` calls; with one intra-op thread each call runs
    on its caller's thread, so a pool of N request threads uses at most N cores).

    Duck-compatible with ``ingest.embedder.Embedder`` where the serving and ingest paths use it:
    ``name``, ``dimension``, ``max_seq_length``, ``warm_up``, ``embed_query``,
    ``embed_passages``, ``token_offsets``.
    """

    def __init__(
        self,
        cache_dir: Path | str,
        *,
        intra_op_threads: int = 1,
        lone_threads: int = 1,
        questions_in_flight: Callable[[], int] | None = None,
        batch_size: int = 32,
        query_cache_size: int = 1024,
        question_batch: int = 1,
        question_passes: int = 1,
        meta: dict | None = None,
    ) -> None:
        if intra_op_threads < 1 or lone_threads < 1:
            raise ValueError("intra_op_threads and lone_threads must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if query_cache_size < 0:
            raise ValueError("query_cache_size must be 0 or more")
        self.cache_dir = Path(cache_dir)
        self.intra_op_threads = intra_op_threads
        self.lone_threads = lone_threads
        self._questions_in_flight = questions_in_flight
        self.batch_size = batch_size
        self.query_cache_size = query_cache_size
        self._meta = meta
        self._session: Any = None  # an onnxruntime session, or what a subclass runs instead
        self._lone_session: Any = None  # the session of a call alone in flight (lone_threads)
        self._in_flight = 0
        self._flight_lock = threading.Lock()
        self.session_runs: Counter[str] = Counter()  # forward passes by session: "lone", "shared"
        self._tokenizer: Tokenizer | None = None
        self._plain_tokenizer: Tokenizer | None = None
        self._input_names: tuple[str, ...] = ()
        self._failure: ModelError | None = None
        self._lock = threading.Lock()
        self._cached_query = functools.lru_cache(maxsize=query_cache_size)(self._query_vector)
        self.batcher = QuestionBatcher(self._questions, question_batch, question_passes) if question_batch > 1 else None

    # -- description ---------------------------------------------------------------------

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = read_meta(self.cache_dir)
        return self._meta

    @property
    def name(self) -> str:
        """The model's name as an index records it (the same as ``Embedder.name``)."""
        return str(self.meta["model"]["name"])

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    @property
    def max_seq_length(self) -> int:
        return int(self.meta["max_seq_length"])

    @property
    def pooling_modes(self) -> tuple[str, ...]:
        return tuple(self.meta["pooling"]["modes"])

    def __repr__(self) -> str:
        state = "loaded" if self._session is not None else "not loaded"
        return f"OnnxEncoder({str(self.cache_dir)!r}, model={self.meta['model']['name']!r}, {state})"

    # -- loading -------------------------------------------------------------------------

    def session_options(self, lone: bool = False) -> ort.SessionOptions:
        """The shared session's options, or with ``lone`` the lone one's: ``lone_threads``
        threads that spin between the operators of a run (waking a sleeping thread per
        operator cost ~2 ms a question) and stop spinning when it returns (else they spin on
        for ~40 ms, holding a core another request needs)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.lone_threads if lone else self.intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if lone else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if lone:
            options.add_session_config_entry("session.force_spinning_stop", "1")
        options.log_severity_level = 3  # errors only: no optimizer chatter on stderr
        return options

    def warm_up(self) -> None:
        """Load the tokenizer and the onnxruntime session and run one question through them;
        :class:`ModelError` if either cannot be loaded."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            if self._failure is not None:  # loading failed once: it would again, at the same cost
                raise self._failure
            try:
                self._load()
            except ModelError as exc:
                self._failure = exc
                raise

    def _load(self) -> None:
        """:meth:`warm_up`'s work, under its lock."""
        try:
            tokenizer = self._new_tokenizer()
            session, self._input_names = self._open_session()
        except Exception as exc:
            raise ModelError(f"cannot load the ONNX export in {self.cache_dir} ({type(exc).__name__}: {exc})") from exc
        unknown = set(self._input_names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ModelError(f"the ONNX export in {self.cache_dir} wants inputs {sorted(unknown)}")
        try:  # the first run pays the runtime's one-off costs, and proves the export runs
            self._run(*self._arrays([tokenizer.encode(self._prompt + "warm up")]), session=session)
        except Exception as exc:
            raise ModelError(f"the ONNX export in {self.cache_dir} does not run ({type(exc).__name__}: {exc})") from exc
        try:
            self._check(tokenizer, session)
        except ModelError:
            raise
        except Exception as exc:  # a runtime error of the check's own forward passes
            raise ModelError(
                f"the ONNX export in {self.cache_dir} could not be checked ({type(exc).__name__}: {exc})"
            ) from exc
        self._lone_session = self._open_lone(tokenizer, session)
        self._tokenizer = tokenizer
        self._session = session  # last: a set session means ready

    def _open_lone(self, tokenizer: Tokenizer, session: Any) -> Any:
        """The lone session when ``lone_threads`` asks for one and it computes what ``session``
        does (cosine ≥ MIN_COSINE, an export's own bar, on a warm-up text); else None, with the reason logged:
        questions then all take the shared session, as they would with ``lone_threads`` 1."""
        if self.lone_threads <= self.intra_op_threads:
            return None  # nothing to gain
        try:
            lone, _ = self._open_session(lone=True)
            arrays = self._arrays([tokenizer.encode(self._prompt + "Can a refugee be sent back?")])
            cosine = float(self._run(*arrays, session=lone)[0] @ self._run(*arrays, session=session)[0])
        except Exception as exc:  # noqa: BLE001 — the shared session works: a lone one is only faster
            log.warning("no %d-thread session for lone questions (%s: %s)", self.lone_threads, type(exc).__name__, exc)
            return None
        if cosine < MIN_COSINE:
            log.warning(
                "no %d-thread session for lone questions: cosine %.6f to the shared one", self.lone_threads, cosine
            )
            return None
        return lone

    def _new_tokenizer(self) -> Tokenizer:
        """The export's tokenizer, never padding, truncating as sentence-transformers does."""
        meta = self.meta
        tokenizer = Tokenizer.from_file(str(self.cache_dir / TOKENIZER_FILE))
        tokenizer.no_padding()  # the shipped tokenizer.json may pad to 128: never here
        tokenizer.enable_truncation(
            max_length=int(meta["max_seq_length"]),
            strategy="longest_first",
            direction=meta["tokenizer"].get("truncation_side", "right"),
        )
        return tokenizer

    def _open_session(self, lone: bool = False) -> tuple[Any, tuple[str, ...]]:
        """The runtime's session over the export (anything with onnxruntime's ``run(None,
        feed)``), the lone one with ``lone``, and the names of its inputs."""
        session = ort.InferenceSession(
            str(self.cache_dir / ONNX_FILE), self.session_options(lone), providers=["CPUExecutionProvider"]
        )
        return session, tuple(i.name for i in session.get_inputs())

    def _check(self, tokenizer: Tokenizer, session: Any) -> None:
        """Before a loaded session is used: nothing here (the export was verified when it was
        made); a runtime that computes differently checks itself against it."""

    @property
    def _prompt(self) -> str:
        return self.meta.get("prompt") or ""

    # -- the model -----------------------------------------------------------------------

    def _arrays(self, encodings: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ids, attention mask and type ids of ``encodings``, padded here to the longest."""
        if len(encodings) == 1:  # no padding at all
            enc = encodings[0]
            return (
                np.asarray([enc.ids], dtype=np.int64),
                np.ones((1, len(enc.ids)), dtype=np.int64),
                np.asarray([enc.type_ids], dtype=np.int64),
            )
        tok_meta = self.meta["tokenizer"]
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), int(tok_meta.get("pad_id", 0)), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        left = tok_meta.get("padding_side", "right") == "left"
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            cols = slice(width - n, width) if left else slice(0, n)
            ids[row, cols] = enc.ids
            mask[row, cols] = 1
            types[row, cols] = enc.type_ids
        return ids, mask, types

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray, session: Any = None) -> np.ndarray:
        """Pooled, L2-normalised float32 vectors of one batch, on ``session`` if given, else
        on the lone session when it is one text and nothing else runs, else the shared one."""
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {name: feed[name] for name in self._input_names}
        if session is not None:
            hidden = session.run(None, feed)[0]
        else:
            with self._claimed(len(ids)) as chosen:
                hidden = chosen.run(None, feed)[0]
        vectors = pool(hidden, mask, self.pooling_modes)
        return np.ascontiguousarray(l2_normalise(vectors), dtype=np.float32)

    @contextlib.contextmanager
    def _claimed(self, rows: int) -> Iterator[Any]:
        """The session a call of ``rows`` texts runs on, counted in flight while it runs."""
        with self._flight_lock:
            lone = self._lone_session is not None and rows == 1 and self._in_flight == 0
            lone = lone and (self._questions_in_flight is None or self._questions_in_flight() <= 1)
            self._in_flight += 1
            self.session_runs["lone" if lone else "shared"] += 1
        try:
            yield self._lone_session if lone else self._session
        finally:
            with self._flight_lock:
                self._in_flight -= 1

    def _loaded_tokenizer(self) -> Tokenizer:
        self.warm_up()
        assert self._tokenizer is not None  # warm_up loaded it or raised
        return self._tokenizer

    def embed_single(self, text: str) -> np.ndarray:
        """One text exactly as given (no cache, no padding), shape ``(dimension,)``."""
        tokenizer = self._loaded_tokenizer()
        return self._run(*self._arrays([tokenizer.encode(self._prompt + text)]))[0]

    def _questions(self, texts: Sequence[str]) -> np.ndarray:
        """One forward pass of the questions that queued together."""
        return self.embed(texts, batch_size=len(texts))

    def _query_vector(self, key: str) -> np.ndarray:
        vector = self.batcher.embed(key) if self.batcher is not None else self.embed_single(key)
        vector.setflags(write=False)  # shared by every caller of the cache: read-only
        return vector

    def embed_query(self, text: str) -> np.ndarray:
        """One question, L2-normalised float32 of shape ``(dimension,)``, **read-only** (it is
        shared through the cache of recent questions; copy it to modify it)."""
        return self._cached_query(normalise_question(text))

    def query_cache_info(self):
        return self._cached_query.cache_info()

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """L2-normalised float32 ``(len(texts), dimension)``, in the order given. Texts are
        sorted by token length and padded per batch to the batch's longest."""
        tokenizer = self._loaded_tokenizer()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._embed_sorted(tokenizer, None, texts, batch_size or self.batch_size)

    def _embed_sorted(self, tokenizer: Tokenizer, session: Any, texts: list[str], size: int) -> np.ndarray:
        """``texts`` embedded in batches of ``size`` on ``session`` (None: :meth:`_run`'s choice)."""
        encodings = tokenizer.encode_batch([self._prompt + t for t in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = self._run(*self._arrays([encodings[i] for i in rows]), session=session)
        return out

    def embed_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """``Embedder.embed_passages``' signature (``progress`` is accepted and ignored)."""
        return self.embed(texts, self.batch_size)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokenizer's tokens in ``text`` (no special tokens, no
        truncation), like ``Embedder.token_offsets``."""
        self.warm_up()
        if self._plain_tokenizer is None:
            plain = Tokenizer.from_file(str(self.cache_dir / TOKENIZER_FILE))
            plain.no_padding()
            plain.no_truncation()
            self._plain_tokenizer = plain
        spans = self._plain_tokenizer.encode(text, add_special_tokens=False).offsets
        return [(int(start), int(end)) for start, end in spans]


def try_load(
    cache_dir: Path | str,
    model: str | None = None,
    *,
    warm: bool = True,
    strict: bool = False,
    intra_op_threads: int = 1,
    lone_threads: int = 1,
    questions_in_flight: Callable[[], int] | None = None,
    batch_size: int = 32,
    query_cache_size: int = 1024,
    question_batch: int = 1,
    question_passes: int = 1,
) -> tuple[OnnxEncoder | None, str]:
    """``(encoder, "")`` from a usable cache, else ``(None, reason)``. With ``warm`` (the
    default) the session is loaded and run once here, so that a cache onnxruntime cannot load
    is refused now rather than at the first question."""
    reason, meta = cache_problem(cache_dir, model, strict=strict)
    if reason:
        return None, reason
    encoder = OnnxEncoder(
        cache_dir,
        intra_op_threads=intra_op_threads,
        lone_threads=lone_threads,
        questions_in_flight=questions_in_flight,
        batch_size=batch_size,
        query_cache_size=query_cache_size,
        question_batch=question_batch,
        question_passes=question_passes,
        meta=meta,
    )
    if warm:
        try:
            encoder.warm_up()
        except ModelError as exc:
            return None, exc.message
    return encoder, ""
