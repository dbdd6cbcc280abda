"""The bounded pool the question endpoints answer on, so the event loop never does their CPU work.

A question's work — embedding (onnxruntime), FAISS, BM25, fusion, highlighting, the SQLite
fetch — runs on one of :func:`pool_size` threads of this process, not on the event loop and not
on anyio's default pool of 40 threads: onnxruntime and FAISS release the GIL, so questions run
at once on the cores for this worker, and the rest queue here while the event loop keeps
parsing requests and answering health checks. Each question uses one thread (``query_threads``
of onnxruntime and FAISS, default 1). With the ONNX encoder and ``query_batch`` above 1 (off by
default) the pool holds at least ``query_batch`` threads, so that questions can wait at the
encoder together and share a forward pass (:mod:`ingest.embedding.batching`): it runs one pass
a core at most, so the encoder never oversubscribes the cores; the threads' other work (FAISS,
BM25, highlighting) is ~4 ms a question. (Were the ONNX export unusable, the torch fallback
would run on that larger pool, at most ``max_concurrent_questions`` at once.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ingest.settings import Settings, cores_per_worker

P = ParamSpec("P")
T = TypeVar("T")

_executors: dict[int, ThreadPoolExecutor] = {}  # by size: apps of one process share a pool
_lock = threading.Lock()
_in_flight = 0  # questions handed to a pool and not yet answered, in this process


def questions_in_flight() -> int:
    """How many questions this process is answering now (running or queued on the pool): the
    query encoder gives a question more than one core only when it is the only one."""
    return _in_flight


def pool_size(settings: Settings) -> int:
    """``search_threads``, or the CPUs divided between the workers (at least 1, at least
    ``query_batch`` with the ONNX encoder)."""
    batch = settings.query_batch if settings.query_encoder == "onnx" else 1
    return settings.search_threads or max(cores_per_worker(settings), batch)


def executor(settings: Settings) -> ThreadPoolExecutor:
    """The process's pool of :func:`pool_size` threads, made on first use (several apps in one
    process share it: they share the cores too)."""
    size = pool_size(settings)
    with _lock:
        if size not in _executors:
            _executors[size] = ThreadPoolExecutor(size, thread_name_prefix="clausewise-search")
        return _executors[size]


async def run(settings: Settings, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on the pool, awaited without holding the event loop, and
    counted in :func:`questions_in_flight` from its submission to its end."""
    call = functools.partial(fn, *args, **kwargs)

    def counted() -> T:
        try:
            return call()
        finally:
            _count(-1)  # in the pool's thread: the next queued question sees it at once

    def never_ran(done: Future) -> None:
        if done.cancelled():  # cancelled while queued (its request went away): counted() never ran
            _count(-1)

    _count(1)
    try:
        future = executor(settings).submit(counted)
    except BaseException:  # the pool is shut down: nothing will run, nothing stays counted
        _count(-1)
        raise
    future.add_done_callback(never_ran)
    return await asyncio.wrap_future(future)


@contextlib.contextmanager
def question_in_flight() -> Iterator[None]:
    """A question answered off the pool (an MCP tool call, on the MCP server's own threads)
    counted in :func:`questions_in_flight` while it runs."""
    _count(1)
    try:
        yield
    finally:
        _count(-1)


def _count(step: int) -> None:
    global _in_flight
    with _lock:
        _in_flight += step
