"""Group commit of questions: those that wait while a pass runs share the next one, at most
``max_batch`` a pass, each gets its own vector (or its pass's error), and a question that finds
the encoder idle runs at once on its own thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ingest.embedding.batching import QuestionBatcher, _Waiting


class GatedEncoder:
    """Vectors ``[len(text), pass number]``; the first pass waits for ``gate`` (so that the
    questions sent meanwhile queue), and a text "boom" fails its pass."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []
        self.threads: list[int] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.threads.append(threading.get_ident())
        if len(self.batches) == 1:
            self.entered.set()
            assert self.gate.wait(10)
        if "boom" in texts:
            raise RuntimeError("the pass failed")
        return np.array([[len(t), len(self.batches)] for t in texts], dtype=np.float32)


def _behind_a_held_pass(batcher: QuestionBatcher, encoder: GatedEncoder, pool: ThreadPoolExecutor, texts: list[str]):
    """Ask "first", hold its pass until ``texts`` all wait in the queue, then let it run:
    the first question's future and the others'."""
    first = pool.submit(batcher.embed, "first")
    assert encoder.entered.wait(10)
    futures = [pool.submit(batcher.embed, t) for t in texts]
    deadline = time.monotonic() + 10
    while len(batcher._queue) < len(texts) and time.monotonic() < deadline:
        time.sleep(0.005)
    encoder.gate.set()
    return first, futures


def test_questions_that_wait_share_passes_of_at_most_max_batch() -> None:
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, max_batch=3)
    with ThreadPoolExecutor(8) as pool:
        first, waiting = _behind_a_held_pass(batcher, encoder, pool, [f"q{'x' * k}" for k in range(5)])
        assert first.result(10).tolist() == [5, 1]  # alone: it found the encoder idle
        results = [f.result(10).tolist() for f in waiting]
    assert [len(b) for b in encoder.batches] == [1, 3, 2]
    assert results == [[1 + k, 2 if k < 3 else 3] for k in range(5)]  # each its own vector, in order
    assert (batcher.passes, batcher.questions) == (3, 6)


def test_a_question_alone_runs_on_its_own_thread_at_once() -> None:
    encoder = GatedEncoder()
    encoder.gate.set()
    batcher = QuestionBatcher(encoder, max_batch=8)
    assert batcher.embed("abc").tolist() == [3, 1]
    assert encoder.threads == [threading.get_ident()]
    assert batcher.embed("abcd").tolist() == [4, 2]  # the lead was given back


def test_a_failed_pass_fails_its_questions_only() -> None:
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, max_batch=2)
    with ThreadPoolExecutor(8) as pool:
        first, (doomed, partner, later) = _behind_a_held_pass(batcher, encoder, pool, ["boom", "partner", "later"])
        assert first.result(10).tolist() == [5, 1]
        with pytest.raises(RuntimeError, match="the pass failed"):
            doomed.result(10)
        with pytest.raises(RuntimeError, match="this question shared failed: the pass failed"):
            partner.result(10)
        assert later.result(10).tolist() == [5, 3]  # the next pass ran: the lead was handed on
    assert batcher.embed("after").tolist() == [5, 4]


def test_questions_run_alone_while_a_pass_is_free() -> None:
    """Two passes at once (two cores): the second question does not wait for the first's."""
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, max_batch=8, max_passes=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.embed, "first")
        assert encoder.entered.wait(10)
        assert batcher.embed("second").tolist() == [6, 2]  # ran while the first is held
        encoder.gate.set()
        assert first.result(10).tolist() == [5, 2]  # its pass ends second
    assert [len(b) for b in encoder.batches] == [1, 1]


def test_an_interrupted_pass_tells_its_other_questions_and_hands_on() -> None:
    """A KeyboardInterrupt in the leading thread is its own; the questions that shared the pass
    get an error saying so, and the next question still finds the encoder."""

    def interrupted(texts: Sequence[str]) -> np.ndarray:
        if "stop" in texts:
            raise KeyboardInterrupt
        return np.ones((len(texts), 2), dtype=np.float32)

    batcher = QuestionBatcher(interrupted, max_batch=4)
    waiting = _Waiting("partner")
    with pytest.raises(KeyboardInterrupt):
        batcher._run([_Waiting("stop"), waiting])
    assert waiting.woken.is_set() and isinstance(waiting.error, RuntimeError)
    assert "interrupted" in str(waiting.error)
    with pytest.raises(KeyboardInterrupt):
        batcher.embed("stop")
    assert batcher.embed("after").tolist() == [1, 1]  # the slot was given back


def test_a_vector_is_its_own_copy() -> None:
    encoder = GatedEncoder()
    encoder.gate.set()
    vector = QuestionBatcher(encoder, max_batch=2).embed("abc")
    assert vector.base is None


def test_a_batch_must_be_at_least_one() -> None:
    with pytest.raises(ValueError):
        QuestionBatcher(lambda texts: np.zeros((len(texts), 2)), 0)
    with pytest.raises(ValueError):
        QuestionBatcher(lambda texts: np.zeros((len(texts), 2)), 4, max_passes=0)
