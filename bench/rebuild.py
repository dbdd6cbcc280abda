"""Live rebuilds: time to make a new 50-page PDF answerable, and /ask latency while a rebuild runs.

Against a served index of `shared/corpus` (copied to bench/out/rebuild/corpus, indexed
incrementally into bench/out/rebuild/index, so later runs reuse it), on a server started on
127.0.0.1 by this script, with write endpoints enabled (so a warm rebuild process waits):

1. idle: an open loop of `POST /ask` (questions of shared/qa) at `--rate` requests a second
   for `--idle-seconds`; latencies are measured per request, so a slow answer does not
   delay the next request (no coordinated omission);
2. quiet upload: upload a generated 50-page PDF holding one distinctive fact (fpdf2), then ask
   for that fact every 0.25 s until an answer cites the PDF: upload-to-first-citing-answer;
3. withdraw it (DELETE) and upload it again, this time under the same open loop as in 1, then
   rebuild the whole index from scratch (`{"full": true}`, every passage re-embedded) under it
   too; requests sent while a rebuild job runs (from its `started_at` to its `finished_at`,
   the switch included) are the busy samples;
4. withdraw the PDF again, so that the next run starts from the same index.

Prints a Markdown table and the JSON of the numbers; writes both to docs/benchmarks.md
(`<!-- bench:rebuild -->` block) and bench/out/rebuild.json. Bounded by `--timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLAUSEWISE, ROOT, SHARED, dump_json, md_table, questions, server, write_block

WORK = ROOT / "bench" / "out" / "rebuild"
PDF_NAME = "quillmere-concordat.pdf"
FACT_PAGE = 37
FACT = "Under the Quillmere Concordat the annual lantern levy on river barges is 7,351 copper florins."
FACT_QUESTION = "What is the annual lantern levy on river barges under the Quillmere Concordat?"
FACT_MARK = "7,351"
SETTLE_S = 20.0  # a fresh rebuild process loads torch and the model in ~5 s, up to ~20 s on a busy box


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise TimeoutError(f"benchmark exceeded its {self.seconds:g} s budget while {what}")

    def left(self) -> float:
        return max(1.0, self.end - time.monotonic())


def sync_corpus(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source`` (only changed files are copied)."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(source) for p in source.rglob("*") if p.is_file()}
    for rel in wanted:
        src, dst = source / rel, target / rel
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size or dst.read_bytes() != src.read_bytes():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target)
        if path.is_file() and rel not in wanted and not rel.parts[0].startswith("."):
            path.unlink()


def make_pdf(path: Path, pages: int = 50) -> Path:
    """A 50-page policy-like PDF; the fact stands on page ``FACT_PAGE`` only."""
    from fpdf import FPDF

    subjects = [
        "The ministry",
        "Each riparian district",
        "The harbour board",
        "A licensed carrier",
        "The audit office",
        "Every municipality",
        "The tribunal of appeal",
        "The registrar",
    ]
    verbs = ["shall publish", "may review", "must retain", "shall notify", "may suspend", "is required to report on"]
    objects = [
        "the tonnage schedules",
        "the towpath maintenance plans",
        "the pilotage fees",
        "the flood reserves",
        "the lock-keeper rotas",
        "the dredging contracts",
        "the cargo manifests",
        "the bridge tolls",
    ]
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title("Quillmere Concordat on Inland Navigation")
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.set_font("helvetica", size=10)
        pdf.set_xy(20, 10)
        pdf.cell(0, 6, "Quillmere Concordat on Inland Navigation")
        lines = [f"Article {page}"]
        for i in range(38):
            k = page * 31 + i * 7
            lines.append(
                f"{subjects[k % 8]} {verbs[(k // 8) % 6]} {objects[(k // 3) % 8]} for reach {page}-{i} "
                f"within {(k % 90) + 10} days."
            )
        if page == FACT_PAGE:
            lines.insert(5, FACT)
        for i, line in enumerate(lines):
            pdf.set_xy(20, 20 + i * 6.5)
            pdf.cell(0, 6.5, line)
        pdf.set_xy(100, 285)
        pdf.cell(0, 6, str(page))
    pdf.output(str(path))
    return path


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"requests": 0, "p50": None, "p95": None, "p99": None, "max": None}
    lat = np.array(values)
    return {
        "requests": len(values),
        "p50": float(np.percentile(lat, 50)),
        "p95": float(np.percentile(lat, 95)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
    }


class OpenLoop:
    """``rate`` requests a second of `POST /ask`, each sent on schedule whatever the previous
    ones are doing, on its own thread: (wall-clock send time, latency ms, status) per request."""

    def __init__(self, url: str, qs: list[str], rate: float) -> None:
        self.url, self.qs, self.rate = url, qs, rate
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self, client: httpx.AsyncClient, question: str) -> None:
        sent_wall, sent = time.time(), time.perf_counter()
        try:
            status = (await client.post("/ask", json={"question": question, "top_k": 5})).status_code
        except httpx.HTTPError:
            status = 0
        self.samples.append((sent_wall, (time.perf_counter() - sent) * 1000, status))

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
        async with httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits) as client:
            tasks, start, i = [], time.perf_counter(), 0
            while not self._stop.is_set():
                tasks.append(asyncio.create_task(self._one(client, self.qs[i % len(self.qs)])))
                i += 1
                await asyncio.sleep(max(0.0, start + i / self.rate - time.perf_counter()))
            await asyncio.gather(*tasks)

    def __enter__(self) -> OpenLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(120)


def wait_job(http: httpx.Client, job_id: str, deadline: Deadline, interval: float = 0.25) -> dict:
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        if job["state"] in {"succeeded", "failed"}:
            return job
        deadline.check(f"waiting for job {job_id} ({job['state']}, {job['progress']['stage']})")
        time.sleep(interval)


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _running(job: dict) -> float:
    return _ts(job["finished_at"]) - _ts(job["started_at"])


def during(job: dict, samples: list[tuple[float, float, int]]) -> list[float]:
    """Latencies of the successful requests sent while ``job`` ran."""
    start, end = _ts(job["started_at"]), _ts(job["finished_at"])
    return [lat for ts, lat, st in samples if start <= ts <= end and st == 200]


def citation_of_fact(http: httpx.Client) -> dict | None:
    answer = http.post("/ask", json={"question": FACT_QUESTION, "top_k": 5}).json()
    cited = [p for p in answer["passages"] if p["citation"]["source"] == PDF_NAME and FACT_MARK in p["text"]]
    return cited[0]["citation"] if cited else None


def upload(http: httpx.Client, pdf: bytes, deadline: Deadline, poll_answer: bool) -> tuple[float, dict, dict]:
    """Upload the PDF; seconds until an answer cites it (asked every 0.25 s) — or, without
    ``poll_answer``, until its job succeeded (polled every 0.5 s, a lighter load) —, the citation
    and the job."""
    t0 = time.perf_counter()
    response = http.post("/documents", files={"files": (PDF_NAME, pdf, "application/pdf")})
    if response.status_code != 202:
        raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
    job_id = response.json()["job"]["id"]
    citation = None
    while poll_answer and citation is None:
        deadline.check("waiting for the new PDF to be cited")
        citation = citation_of_fact(http)
        if citation is None:
            time.sleep(0.25)
    job = wait_job(http, job_id, deadline, interval=0.25 if poll_answer else 0.5)
    elapsed = time.perf_counter() - t0
    if job["state"] != "succeeded":
        raise RuntimeError(f"rebuild job failed: {job['error']}")
    citation = citation or citation_of_fact(http)
    if citation is None:
        raise RuntimeError("the job succeeded but no answer cites the new PDF")
    return elapsed, citation, job


def by_stage(job: dict, samples: list[tuple[float, float, int]]) -> dict:
    """Latency percentiles of the requests sent during each stage of ``job`` (stages run in order)."""
    bounds, at = [], _ts(job["started_at"])
    for stage, seconds in job["progress"]["seconds"].items():
        bounds.append((stage, at, at + seconds))
        at += seconds
    return {
        stage: percentiles([lat for ts, lat, st in samples if start <= ts < end and st == 200])
        for stage, start, end in bounds
    }


def withdraw(http: httpx.Client, doc_id: str, deadline: Deadline) -> None:
    response = http.delete(f"/documents/{doc_id}")
    if response.status_code == 202:
        wait_job(http, response.json()["job"]["id"], deadline)


def run(pages: int, idle_seconds: float, rate: float, budget: float) -> dict:
    deadline = Deadline(budget)
    corpus, index = WORK / "corpus", WORK / "index"
    sync_corpus(SHARED / "corpus", corpus)
    subprocess.run(
        [CLAUSEWISE, "ingest", str(corpus), "--index", str(index), "-q"],
        check=True,
        capture_output=True,
        timeout=deadline.left(),
    )
    key = secrets.token_hex(16)
    qs = questions()
    with tempfile.TemporaryDirectory(prefix="clausewise-bench-") as tmp:
        pdf = make_pdf(Path(tmp) / PDF_NAME, pages).read_bytes()
        env = {"CLAUSEWISE_WRITE_KEYS": key, "CLAUSEWISE_RELOAD_INTERVAL_S": "2"}
        with (
            server(index, extra_env=env, args=["--corpus", str(corpus)]) as url,
            httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}) as http,
        ):
            base = http.get("/readyz").json()
            for q in qs[:5]:  # warm-up, not measured
                http.post("/ask", json={"question": q, "top_k": 5})
            time.sleep(SETTLE_S)  # the warm rebuild process finishes loading, as on a server up for a while
            with OpenLoop(url, qs, rate) as idle:
                time.sleep(idle_seconds)
            deadline.check("measuring idle latency")

            quiet_s, citation, quiet_job = upload(http, pdf, deadline, poll_answer=True)
            withdraw(http, citation["doc_id"], deadline)
            time.sleep(SETTLE_S)  # the next warm rebuild process loads

            with OpenLoop(url, qs, rate) as busy:
                loaded_s, _, busy_job = upload(http, pdf, deadline, poll_answer=False)
                time.sleep(SETTLE_S)
                response = http.post("/index/rebuild", json={"full": True})
                full_job = wait_job(http, response.json()["id"], deadline, interval=0.5)
            if full_job["state"] != "succeeded":
                raise RuntimeError(f"full rebuild failed: {full_job['error']}")
            errors = sum(1 for _, _, st in idle.samples + busy.samples if st != 200)
            withdraw(http, citation["doc_id"], deadline)

    return {
        "corpus": {"documents": base["documents"], "passages": base["passages"]},
        "pdf": {
            "pages": pages,
            "bytes": len(pdf),
            "passages": quiet_job["progress"]["passages_total"],
            "cited_page": citation["page_start"],
        },
        "upload_to_first_citing_answer_s": quiet_s,
        "quiet_job": {
            "running_s": _ts(quiet_job["finished_at"]) - _ts(quiet_job["started_at"]),
            "stage_seconds": quiet_job["progress"]["seconds"],
        },
        "upload_to_job_succeeded_under_load_s": loaded_s,
        "busy_job": {"running_s": _running(busy_job), "stage_seconds": busy_job["progress"]["seconds"]},
        "full_job": {
            "running_s": _running(full_job),
            "stage_seconds": full_job["progress"]["seconds"],
            "passages": full_job["progress"]["passages_total"],
        },
        "rate_rps": rate,
        "ask_idle_ms": percentiles([lat for _, lat, st in idle.samples if st == 200]),
        "ask_during_upload_rebuild_ms": percentiles(during(busy_job, busy.samples)),
        "ask_during_full_rebuild_ms": percentiles(during(full_job, busy.samples)),
        "ask_during_full_rebuild_by_stage_ms": by_stage(full_job, busy.samples),
        "ask_errors": errors,
        "rebuild_threads": 1,
    }


def report(result: dict) -> str:
    idle = result["ask_idle_ms"]
    rate = f"{result['rate_rps']:g}"

    def ms(value):
        return "—" if value is None else f"{value:.0f}"

    def stages(job: dict) -> str:
        return ", ".join(f"{k} {v:.1f}" for k, v in job["stage_seconds"].items())

    def latency(stats: dict) -> str:
        return (
            f"p50 {ms(stats['p50'])}, p95 {ms(stats['p95'])}, max {ms(stats['max'])} ms; {stats['requests']} requests"
        )

    upload, full = result["ask_during_upload_rebuild_ms"], result["ask_during_full_rebuild_ms"]
    rows = [
        [
            "new 50-page PDF: upload → first answer citing it (server otherwise idle)",
            f"**{result['upload_to_first_citing_answer_s']:.1f} s**",
            f"job {result['quiet_job']['running_s']:.1f} s, by stage (s): {stages(result['quiet_job'])}; "
            f"{result['pdf']['passages']} passages embedded",
        ],
        [
            f"the same under {rate} `/ask` a second (upload → job succeeded)",
            f"{result['upload_to_job_succeeded_under_load_s']:.1f} s",
            f"job {result['busy_job']['running_s']:.1f} s, by stage (s): {stages(result['busy_job'])}",
        ],
        [f"`/ask` at {rate}/s, idle", f"**p99 {ms(idle['p99'])} ms**", latency(idle)],
        [f"`/ask` at {rate}/s, during the rebuild of that upload", f"p99 {ms(upload['p99'])} ms", latency(upload)],
        [
            f"`/ask` at {rate}/s, during a full rebuild ({result['full_job']['passages']} passages, "
            f"{result['full_job']['running_s']:.0f} s)",
            f"**p99 {ms(full['p99'])} ms**",
            latency(full),
        ],
    ]
    for stage, stats in result["ask_during_full_rebuild_by_stage_ms"].items():
        if stats["requests"]:
            rows.append(
                [
                    f"… of which during stage `{stage}`",
                    f"p99 {ms(stats['p99'])} ms",
                    f"p50 {ms(stats['p50'])} ms; {stats['requests']} requests",
                ]
            )
    return (
        f"Command: `python bench/rebuild.py` (part of `make bench`). Served index of `shared/corpus` "
        f"({result['corpus']['documents']} documents, {result['corpus']['passages']} passages), one worker; the "
        f"rebuild runs in a warm child process (model already loaded) at `SCHED_IDLE` priority, "
        f"{result['rebuild_threads']} torch thread; `POST /ask` top_k 5, hybrid, sent at a fixed rate (open loop) from a "
        f"client on the same 2 cores. Errors during the run: {result['ask_errors']}.\n\n"
        + md_table(["measure", "value", "detail"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=8.0, help="/ask requests a second of the latency probe.")
    parser.add_argument("--timeout", type=float, default=1500.0, help="Whole-run budget in seconds.")
    parser.add_argument("--no-write", action="store_true", help="Do not update docs/benchmarks.md.")
    args = parser.parse_args()
    result = run(args.pages, args.idle_seconds, args.rate, args.timeout)
    table = report(result)
    print(table)
    print(json.dumps(result, indent=2))
    dump_json("rebuild", result)
    if not args.no_write:
        write_block("rebuild", table)


if __name__ == "__main__":
    main()
