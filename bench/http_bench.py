"""HTTP latency and throughput of `POST /ask` over loopback, from an asyncio httpx load generator.

Closed loop: `concurrency` clients each send one request after another for `duration` seconds
(and at most `max_requests` in all). The generator runs on the same 2 cores as the server, so
the numbers include its cost; at concurrency 1 it is small.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx
import numpy as np
from common import dump_json, md_table, questions, server, write_block


async def load(url: str, concurrency: int, duration: float, max_requests: int, mode: str) -> dict:
    qs = questions()
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + duration

    async def client(worker: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        i = worker
        while time.perf_counter() < deadline and counter < max_requests:
            counter += 1
            body = {"question": qs[i % len(qs)], "top_k": 5, "mode": mode}
            i += concurrency
            started = time.perf_counter()
            response = await http.post(f"{url}/ask", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        for q in qs[:5]:  # warm-up, not measured
            await http.post(f"{url}/ask", json={"question": q, "mode": mode})
        started = time.perf_counter()
        await asyncio.gather(*(client(w, http) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    lat = np.array(latencies)
    return {
        "concurrency": concurrency,
        "requests": len(lat),
        "errors": errors,
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "p99": float(np.percentile(lat, 99)),
    }


def main(index: Path, duration: float = 10.0, levels=(1, 8, 32), workers=(1, 2), mode: str = "hybrid") -> list[dict]:
    results = []
    for n_workers in workers:
        with server(index, n_workers) as url:
            for concurrency in levels:
                result = asyncio.run(load(url, concurrency, duration, 5000, mode))
                result["workers"] = n_workers
                results.append(result)
                print(result, flush=True)
    rows = [
        [
            r["workers"],
            r["concurrency"],
            r["requests"],
            r["errors"],
            f"{r['rps']:.1f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
        ]
        for r in results
    ]
    body = (
        f"Command: `make bench` (HTTP part: `python bench/http_bench.py --index INDEX`), `POST /ask` mode {mode}, top_k 5, "
        f"questions cycling through `shared/qa/*.jsonl`, {duration:.0f} s per row, index of `shared/corpus`.\n\n"
        + md_table(["workers", "concurrency", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"], rows)
    )
    write_block("http", body)
    dump_json("http", results)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--mode", default="hybrid")
    args = parser.parse_args()
    main(args.index, args.duration, mode=args.mode)
