"""Questions that arrive while a forward pass runs share the next one (issue 12: more requests
per core).

One short question is a forward pass of 10–20 tokens, too small to keep a core's vector units
busy: on the 2-core EPYC of docs/benchmarks.md one question costs 10.8 ms alone and 6.9 ms a
question when eight share a pass. Under load, a serving process's questions wait for the
encoder anyway; :class:`QuestionBatcher` makes those that wait together one batch.

It is group commit, as databases flush a log. Up to ``max_passes`` passes run at once (one a
core of the serving process, so batching starts only once every core is busy); a question that
finds one free runs at once, alone, on its own thread, exactly as without batching. Questions
that arrive while all are busy wait in a queue; when a pass ends, its thread hands the queue's
first ``max_batch`` questions to the oldest of them, which runs them as one pass and hands on in
turn. No thread of its own, nothing to start or stop. A vector from a batch is the one of the
question alone padded to the batch's longest (cosine ≥ 0.9999, checked by
:mod:`ingest.embedding.verify` on padded batches).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np


class _Waiting:
    """One question in the queue: its text, its vector or error once its pass ran, and the
    batch it is to run when it is handed the lead."""

    __slots__ = ("batch", "error", "text", "vector", "woken")

    def __init__(self, text: str) -> None:
        self.text = text
        self.woken = threading.Event()  # its pass ran, or it was handed a batch to run
        self.batch: list[_Waiting] | None = None
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class QuestionBatcher:
    """``embed(text)`` from any number of threads; ``embed_many(texts)`` is called with at most
    ``max_batch`` texts, by at most ``max_passes`` threads at a time, and returns their vectors
    in order."""

    def __init__(self, embed_many: Callable[[Sequence[str]], np.ndarray], max_batch: int, max_passes: int = 1) -> None:
        if max_batch < 1 or max_passes < 1:
            raise ValueError("max_batch and max_passes must be at least 1")
        self.embed_many = embed_many
        self.max_batch = max_batch
        self.max_passes = max_passes
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()  # only while all passes are busy
        self._running = 0
        self.passes = 0  # forward passes run, and the questions they embedded: for tests and metrics
        self.questions = 0

    def embed(self, text: str) -> np.ndarray:
        me = _Waiting(text)
        with self._lock:
            if self._running < self.max_passes:
                self._running += 1
                me.batch = [me]
            else:
                self._queue.append(me)
        if me.batch is None:
            me.woken.wait()
            if me.batch is None:
                return self._result(me)
        try:
            self._run(me.batch)
        finally:
            self._hand_on()
        return self._result(me)

    def _hand_on(self) -> None:
        """The pass slot just freed goes to the oldest waiting question, with its batch."""
        with self._lock:
            if not self._queue:
                self._running -= 1
                return
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            batch[0].batch = batch
        batch[0].woken.set()

    def _run(self, batch: list[_Waiting]) -> None:
        """One pass; ``batch[0]`` is the calling thread's question."""
        try:
            vectors = self.embed_many([w.text for w in batch])
            if len(vectors) != len(batch):
                raise RuntimeError(f"{len(batch)} questions embedded as {len(vectors)} vectors")
        except Exception as exc:  # noqa: BLE001 — whatever the encoder raised belongs to the questions of the pass
            batch[0].error = exc
            for waiting in batch[1:]:
                waiting.error = RuntimeError(f"the forward pass this question shared failed: {exc}")
                waiting.error.__cause__ = exc
        except BaseException as exc:  # the leading thread interrupted: it re-raises, the others are told
            for waiting in batch[1:]:
                waiting.error = RuntimeError(f"the forward pass this question shared was interrupted ({exc!r})")
                waiting.woken.set()
            raise
        else:
            for waiting, vector in zip(batch, vectors):
                waiting.vector = np.array(vector)  # its own copy: a cache keeps it, not the batch
        with self._lock:
            self.passes += 1
            self.questions += len(batch)
        for waiting in batch[1:]:
            waiting.woken.set()

    @staticmethod
    def _result(waiting: _Waiting) -> np.ndarray:
        if waiting.error is not None:
            raise waiting.error
        assert waiting.vector is not None  # its pass ran
        return waiting.vector
