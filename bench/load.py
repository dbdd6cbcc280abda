"""Overload test: many closed-loop clients of `POST /ask` against `clausewise serve`, with 1 and 2 workers.

Each of `--clients` asyncio clients (httpx, loopback only) sends one question after another for
`--seconds` (and all of them together at most `--max-requests`), then the run stops by itself.
A separate prober asks `GET /healthz` every 50 ms on its own connection meanwhile. Reported per
worker count: the counts of 200 and 429 (anything else — another status, a timeout, a reset —
is counted as an error, and the run exits non-zero when there is one), the latency of admitted
(200) requests, that of 429s, the prober's /healthz latency, and the server's RSS (every process
of its session: uvicorn's parent and workers) before and after the load.

The server runs with its defaults (CLAUSEWISE_MAX_CONCURRENT_QUESTIONS = 2 x cores per worker).
The client runs on the same cores as the server, so the numbers include its cost.

    python bench/load.py                           # 64 clients, 60 s, workers 1 and 2; writes docs/benchmarks.md
    python bench/load.py --seconds 10 --clients 16 --no-docs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from common import CLAUSEWISE, ROOT, SHARED, dump_json, free_port, md_table, questions, stop_group, write_block

TREATIES_INDEX = ROOT / "bench" / "out" / "index-treaties"
PROBE_INTERVAL_S = 0.05
REQUEST_TIMEOUT_S = 30.0


def treaties_index() -> Path:
    """The index of ../shared/corpus/treaties (incremental: a second run reuses it)."""
    subprocess.run(
        [CLAUSEWISE, "ingest", str(SHARED / "corpus" / "treaties"), "--index", str(TREATIES_INDEX)]
        + ["--exclude", "SOURCES.md", "-q"],
        check=True,
    )
    return TREATIES_INDEX


def session_rss_mib(session: int) -> float:
    """The resident memory of every process in ``session`` (Linux /proc), in MiB."""
    total_kib = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session:  # fields after the command: state, ppid, pgrp, session
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


@contextlib.contextmanager
def serving(index: Path, workers: int) -> Iterator[tuple[str, int]]:
    """`clausewise serve` on a free loopback port, in a session of its own; its URL and session id."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSEWISE_")}
    env["CLAUSEWISE_RELOAD_INTERVAL_S"] = "0"
    proc = subprocess.Popen(
        [CLAUSEWISE, "serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    log: list[str] = []
    threading.Thread(
        target=lambda: log.extend(line.decode(errors="replace") for line in proc.stderr), daemon=True
    ).start()
    try:
        deadline = time.monotonic() + 240
        # Each worker logs this once its lifespan (model and index loading) is done.
        while sum("Application startup complete" in line for line in log) < workers:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + "".join(log)[-2000:])
            if time.monotonic() > deadline:
                raise TimeoutError("server did not become ready in 240 s")
            time.sleep(0.5)
        yield url, proc.pid
    finally:
        stop_group(proc)


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class Tally:
    """What the clients and the prober saw: latencies in ms, and every outcome by name."""

    admitted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    sent: int = 0

    def summary(self, clients: int, elapsed: float) -> dict:
        errors = sum(n for status, n in self.statuses.items() if status not in ("200", "429"))
        return {
            "clients": clients,
            "seconds": round(elapsed, 1),
            "ok": self.statuses["200"],
            "refused": self.statuses["429"],
            "errors": errors,
            "statuses": dict(self.statuses),
            "admitted_rps": len(self.admitted) / elapsed,
            "admitted_p50_ms": percentile(self.admitted, 50),
            "admitted_p99_ms": percentile(self.admitted, 99),
            "refused_p99_ms": percentile(self.refused, 99),
            "healthz_probes": len(self.probes),
            "healthz_p50_ms": percentile(self.probes, 50),
            "healthz_p99_ms": percentile(self.probes, 99),
            "healthz_max_ms": max(self.probes) if self.probes else None,
        }


async def _client(url: str, http: httpx.AsyncClient, tally: Tally, first: int, run: argparse.Namespace) -> None:
    """One closed-loop client: questions ``first``, ``first + clients``, ... until the deadline."""
    qs = questions()
    i = first
    while time.perf_counter() < run.deadline and tally.sent < run.max_requests:
        tally.sent += 1
        body = {"question": qs[i % len(qs)], "top_k": 5}
        i += run.clients
        started = time.perf_counter()
        try:
            response = await http.post(f"{url}/ask", json=body)
        except httpx.HTTPError as exc:
            tally.statuses[type(exc).__name__] += 1
            continue
        took = (time.perf_counter() - started) * 1000
        tally.statuses[str(response.status_code)] += 1
        if response.status_code == 200:
            tally.admitted.append(took)
        elif response.status_code == 429:
            tally.refused.append(took)
            if run.backoff:
                await asyncio.sleep(run.backoff)


async def _prober(url: str, tally: Tally, deadline: float) -> None:
    """``GET /healthz`` every PROBE_INTERVAL_S on a connection of its own."""
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok = (await http.get(f"{url}/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                tally.probes.append((time.perf_counter() - started) * 1000)
            else:
                tally.statuses["healthz failed"] += 1
            await asyncio.sleep(PROBE_INTERVAL_S)


async def load(url: str, run: argparse.Namespace) -> dict:
    """``run.clients`` closed-loop clients and a /healthz prober for ``run.seconds``; what they saw."""
    tally = Tally()
    limits = httpx.Limits(max_connections=run.clients, max_keepalive_connections=run.clients)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        for q in questions()[:3]:  # warm-up, not measured
            await http.post(f"{url}/ask", json={"question": q})
        started = time.perf_counter()
        run.deadline = started + run.seconds
        await asyncio.gather(
            _prober(url, tally, run.deadline), *(_client(url, http, tally, n, run) for n in range(run.clients))
        )
        elapsed = time.perf_counter() - started
    return tally.summary(run.clients, elapsed)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def report(results: list[dict], command: str) -> str:
    rows = [
        [
            r["workers"],
            r["clients"],
            r["seconds"],
            r["ok"],
            r["refused"],
            r["errors"],
            f"{r['admitted_rps']:.1f}",
            _ms(r["admitted_p50_ms"]),
            _ms(r["admitted_p99_ms"]),
            _ms(r["refused_p99_ms"]),
            _ms(r["healthz_p99_ms"]),
            _ms(r["healthz_max_ms"]),
            f"{r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f}",
        ]
        for r in results
    ]
    headers = ["workers", "clients", "s", "200", "429", "other", "200/s", "200 p50 ms", "200 p99 ms"]
    headers += ["429 p99 ms", "/healthz p99 ms", "/healthz max ms", "RSS MiB before → after"]
    return (
        f"Command: `{command}`; closed-loop clients of `POST /ask` (top_k 5, questions cycling through "
        "`shared/qa/*.jsonl`) over loopback, index of `shared/corpus/treaties`, server defaults "
        "(CLAUSEWISE_MAX_CONCURRENT_QUESTIONS = 2 x cores per worker), /healthz probed every 50 ms "
        "on its own connection meanwhile; RSS of every server process.\n\n" + md_table(headers, rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="Index to serve (default: build one of shared/corpus/treaties).")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts, one run each.")
    parser.add_argument("--max-requests", type=int, default=500_000, help="Stop after this many in all.")
    parser.add_argument("--backoff", type=float, default=0.0, help="Seconds a client waits after a 429.")
    parser.add_argument("--no-docs", action="store_true", help="Do not write the block in docs/benchmarks.md.")
    args = parser.parse_args()
    index = args.index or treaties_index()
    results = []
    for workers in [int(w) for w in args.workers.split(",")]:
        with serving(index, workers) as (url, session):
            rss_before = session_rss_mib(session)
            result = asyncio.run(load(url, args))
            result.update(workers=workers, rss_before_mib=rss_before, rss_after_mib=session_rss_mib(session))
        results.append(result)
        print(result, flush=True)
    command = "python bench/load.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else "make bench (load part)"
    print(report(results, command))
    dump_json("load", results)
    if not args.no_docs:
        write_block("load", report(results, command))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
