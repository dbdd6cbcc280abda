"""What a Dask task carries: the work order holds no secret setting (tasks travel in clear over
``tcp://``, and Dask logs a failed task's arguments), and a worker that does not fit is refused
with the difference spelled out."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the Dask tests need distributed: pip install 'dask[distributed]'")

from ingest.chunker import ChunkParams
from ingest.cluster.tasks import BatchFile, WorkerView, WorkOrder, refusal
from ingest.pipeline import PARSER_VERSION
from ingest.settings import Settings
from ingest.workers.parse import ParseJob

SECRETS = {"read_keys": ["read-secret-r1"], "write_keys": ["write-secret-w1"], "api_keys": ["api-secret-a1"]}


def test_no_secret_setting_reaches_a_task(tmp_path: Path) -> None:
    with pytest.warns(FutureWarning, match="CLAUSEWISE_API_KEYS is deprecated"):
        settings = Settings(index_dir=tmp_path / "index", **SECRETS)
    order = WorkOrder.of(settings, ChunkParams(160, 24), "all-MiniLM-L6-v2", PARSER_VERSION)
    batch = [BatchFile(ParseJob(tmp_path / "a.txt", "a.txt", "0" * 64, "d1"), b"text")]
    sent = pickle.dumps((order, batch)) + repr((order, batch)).encode()
    for keys in SECRETS.values():
        assert keys[0].encode() not in sent
    assert str(tmp_path / "index").encode() not in sent  # nor anything else the workers do not need
    assert order.model == settings.model and order.limits.memory_bytes == settings.parse_memory_mb << 20


def test_a_worker_with_other_model_files_is_refused_naming_both(tmp_path: Path) -> None:
    order = WorkOrder.of(Settings(index_dir=tmp_path), ChunkParams(160, 24), "all-MiniLM-L6-v2", PARSER_VERSION)
    fits = WorkerView((), True, order.model_name, order.model_digest, order.parser_version, order.version)
    assert refusal("tcp://w:1", fits, order) is None
    other = dataclasses.replace(fits, model_digest="0123456789abcdef/0123456789abcdef")
    why = refusal("tcp://w:1", other, order)
    assert why is not None and "tcp://w:1" in why and order.model_digest in why and other.model_digest in why
    daemonic = dataclasses.replace(fits, can_fork=False)
    assert "DASK_DISTRIBUTED__WORKER__DAEMON=False" in (refusal("tcp://w:1", daemonic, order) or "")
