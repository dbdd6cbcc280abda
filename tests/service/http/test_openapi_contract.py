"""The OpenAPI document is the contract: schemathesis (``--checks all``, coverage and fuzzing
phases) over the served ``/openapi.json`` of a real server, with a write key, finds nothing.

The server is ``clausewise serve`` in a subprocess over a small generated corpus of its own
(uploads and rebuilds change it). DELETE is left out: it withdraws the documents the other
operations need. The run is bounded (examples per operation, a time budget, a fixed seed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hermetic import clausewise_command, clean_env
from test_chat_server import free_port, wait_ready, write_corpus

from ingest.embedder import Embedder
from ingest.pipeline import ingest
from ingest.settings import Settings

pytestmark = pytest.mark.slow
WRITE_KEY = "contract-write-key-0123456789"
BUDGET_S = 90  # the fuzzing phase repeats until this is spent; the coverage phase takes seconds
# A file's acceptance depends on its content (a PDF's signature, text that decodes), which no
# schema can state: schemathesis's schema-valid uploads of random bytes may be refused with
# 415 (and 400 for a folder name the rules refuse). Every other check applies to uploads.
CONFIG = """\
[[operations]]
include-path = "/documents"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", 400, 401, 403, 404, 409, 415, 429, "5xx"]
"""


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    base = tmp_path_factory.mktemp("contract")
    corpus = write_corpus(base / "corpus")
    settings = Settings(_env_file=None, index_dir=base / "index", corpus_dir=corpus)
    assert not ingest([corpus], settings, embedder=embedder).failed
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = base / "server.log"
    env = clean_env(
        CLAUSEWISE_WRITE_KEYS=WRITE_KEY, CLAUSEWISE_RELOAD_INTERVAL_S="0", CLAUSEWISE_REBUILD_PREWARM="false"
    )
    command = [*clausewise_command(), "serve", "--index", str(base / "index"), "--corpus", str(corpus)]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=base,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_schemathesis_finds_no_failure(contract_server: str, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(config),
        "run",
        f"{contract_server}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing",
        "--exclude-method",
        "DELETE",
        "--header",
        f"Authorization: Bearer {WRITE_KEY}",
        "--max-examples",
        "25",
        "--max-time",
        str(BUDGET_S),
        "--seed",
        "11",
        "--workers",
        "1",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "30",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=BUDGET_S + 120, cwd=tmp_path)
    output = run.stdout + run.stderr
    failures = output[output.find("FAILURES") :] if "FAILURES" in output else output[-12000:]
    assert run.returncode == 0, failures[:12000]
    assert "No issues found" in output or " passed" in output, output[-4000:]
    # It tested the API it was meant to: every operation but DELETE was reached.
    operations = httpx.get(f"{contract_server}/openapi.json").json()["paths"]
    assert sum(method != "delete" for ops in operations.values() for method in ops) >= 14
