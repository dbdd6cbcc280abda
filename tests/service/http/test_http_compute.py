"""The question endpoints' CPU work runs on a bounded pool sized to the cores: never more
questions at once than the pool has threads, never on the event loop, which keeps running."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from ingest.settings import Settings, usable_cores
from service.http import compute

pytestmark = pytest.mark.usefixtures("hermetic")


def test_at_most_pool_size_questions_run_at_once_and_the_loop_keeps_running() -> None:
    settings = Settings(_env_file=None, search_threads=3)
    lock = threading.Lock()
    running = peak = 0

    def question() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)  # stands for onnxruntime / FAISS, which release the GIL
        with lock:
            running -= 1
        return threading.get_ident()

    async def serve() -> tuple[int, list[int], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        threads = await asyncio.gather(*(compute.run(settings, question) for _ in range(9)))
        task.cancel()
        return threading.get_ident(), list(threads), ticks

    loop_thread, threads, ticks = asyncio.run(serve())
    assert peak == 3 and len(set(threads)) == 3
    assert loop_thread not in threads
    assert ticks >= 10  # three rounds of 50 ms: the event loop was never held


def test_the_pool_is_sized_to_the_cpus_of_each_worker() -> None:
    cpus = usable_cores()
    alone = {"_env_file": None, "query_batch": 1}
    assert compute.pool_size(Settings(**alone)) == cpus
    assert compute.pool_size(Settings(**alone, workers=2)) == max(1, cpus // 2)
    assert compute.pool_size(Settings(**alone, workers=cpus * 4)) == 1
    assert compute.pool_size(Settings(**alone, search_threads=5)) == 5


def test_the_pool_lets_a_batch_of_questions_wait_at_the_encoder_together() -> None:
    cpus = usable_cores()
    batch = min(64, cpus * 4)
    assert compute.pool_size(Settings(_env_file=None, query_batch=batch)) == batch
    assert compute.pool_size(Settings(_env_file=None, query_batch=8, search_threads=3)) == 3
    # torch embeds each question alone: its pool stays one thread a core
    assert compute.pool_size(Settings(_env_file=None, query_batch=batch, query_encoder="torch")) == cpus


def test_the_pool_counts_the_questions_in_flight_queued_ones_included() -> None:
    """What the query encoder asks before it gives a question both cores."""
    settings = Settings(_env_file=None, search_threads=1)
    seen: list[int] = []

    def question() -> None:
        seen.append(compute.questions_in_flight())
        time.sleep(0.02)

    async def serve() -> None:
        assert compute.questions_in_flight() == 0
        await compute.run(settings, question)  # alone
        await asyncio.gather(*(compute.run(settings, question) for _ in range(3)))  # one thread: two queued

    asyncio.run(serve())
    assert seen[0] == 1 and seen[1:] == [3, 2, 1]
    assert compute.questions_in_flight() == 0

    async def abandoned() -> None:  # a queued question whose request went away is not counted on
        first = asyncio.ensure_future(compute.run(settings, question))
        second = asyncio.ensure_future(compute.run(settings, question))
        await asyncio.sleep(0.005)
        second.cancel()
        await first
        with pytest.raises(asyncio.CancelledError):
            await second

    asyncio.run(abandoned())
    assert compute.questions_in_flight() == 0 and len(seen) == 5  # the abandoned one never ran


def test_a_question_answered_off_the_pool_is_counted_while_it_runs() -> None:
    """MCP tool calls run on the MCP server's threads: they count beside the pool's questions."""
    with compute.question_in_flight():
        assert compute.questions_in_flight() == 1
    with pytest.raises(RuntimeError), compute.question_in_flight():
        raise RuntimeError("the search failed")
    assert compute.questions_in_flight() == 0
