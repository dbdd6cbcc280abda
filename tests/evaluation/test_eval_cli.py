"""`clausewise eval` end to end: in-process, against a served index with --url, bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn


def _metrics(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {
        mode: {k: v for k, v in body["metrics"].items() if not k.startswith("latency")}
        for mode, body in data["modes"].items()
    }


def test_eval_prints_the_table_reports_bad_lines_and_writes_the_reports(
    eval_cli, tiny, qa_file: Path, shared_model, tmp_path: Path
) -> None:
    result = eval_cli(str(qa_file), "--index", str(tiny.index_dir), "--mode", "lexical", "--k", "1,3", "--out", "out")
    assert result.exit_code == 0, result.output
    assert f"{qa_file}:3: skipped: not JSON" in result.stderr
    assert f"{qa_file}:6: skipped: missing 'answers'" in result.stderr
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("│")
    }
    assert (rows["recall@1"], rows["recall@3"], rows["recall@10"], rows["MRR@10"]) == (
        "0.200",
        "0.600",
        "0.600",
        "0.367",
    )
    assert (rows["doc recall@1"], rows["recall@2000c"]) == ("0.400", "0.600")
    for name in ("results.json", "report.html", "report.md", "recall-curve.svg"):
        assert (tmp_path / "out" / name).is_file(), name
    assert "report.html" in result.stderr


def test_the_default_report_folder_is_named_after_the_question_set(
    eval_cli, tiny, qa_file: Path, shared_model, tmp_path: Path
) -> None:
    result = eval_cli(str(qa_file), "--index", str(tiny.index_dir), "--mode", "lexical", "--per-doc", "-q")
    assert result.exit_code == 0, result.output
    assert _metrics(tmp_path / "eval-report" / "qa" / "results.json")["lexical"]["recall@1"] == pytest.approx(0.6)


def test_the_report_records_the_fusion_it_ran_with(
    eval_cli, tiny, qa_file: Path, shared_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs that differ only by an environment variable must be told apart by their reports."""
    from ingest.settings import get_settings

    monkeypatch.setenv("CLAUSEWISE_FUSION_LEXICAL", "bound")
    monkeypatch.setenv("CLAUSEWISE_FUSION_ALPHA", "0.3")
    get_settings.cache_clear()  # the command reads the settings once per process
    try:
        result = eval_cli(str(qa_file), "--index", str(tiny.index_dir), "--mode", "hybrid", "-q", "--out", "out")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "out" / "results.json").read_text())["settings"]
    assert (recorded["fusion_lexical"], recorded["fusion_alpha"]) == ("bound", 0.3)


@pytest.fixture
def served(tiny, tiny_engine) -> Iterator[str]:
    """The app over the tiny index, served by uvicorn on a free loopback port."""
    from service.http.app import create_app  # the real service, only for the runs over HTTP

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(tiny.settings, tiny_engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_url_mode_gives_the_numbers_of_the_in_process_run(
    eval_cli, tiny, qa_file: Path, served: str, shared_model, tmp_path: Path
) -> None:
    common = [str(qa_file), "--mode", "lexical,hybrid,dense", "-q"]
    local = eval_cli(*common, "--index", str(tiny.index_dir), "--out", "local")
    remote = eval_cli(*common, "--url", served, "--out", "remote")
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert _metrics(tmp_path / "remote" / "results.json") == _metrics(tmp_path / "local" / "results.json")
    data = json.loads((tmp_path / "remote" / "results.json").read_text())
    assert data["target"] == served and data["index_version"] == tiny.version


def test_an_unreachable_service_is_a_clear_error(eval_cli, qa_file: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    result = eval_cli(str(qa_file), "--url", f"http://127.0.0.1:{port}", "-q")
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr


def test_an_empty_question_file_is_a_clear_error(eval_cli, tiny, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = eval_cli(str(empty), "--index", str(tiny.index_dir))
    assert result.exit_code == 2
    assert "no valid question (the file is empty)" in result.stderr
    missing = eval_cli(str(tmp_path / "nope.jsonl"), "--index", str(tiny.index_dir))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_a_missing_index_is_a_clear_error(eval_cli, qa_file: Path, tmp_path: Path) -> None:
    result = eval_cli(str(qa_file), "--index", str(tmp_path / "no-index"))
    assert result.exit_code == 2
    assert "no index in" in result.stderr and "clausewise ingest" in result.stderr
    assert not (tmp_path / "eval-report").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--k", "0"], "between 1 and 50"),
        (["--k", "1,x"], "'x' is not a valid value"),
        (["--mode", "hybrid,sparse"], "unknown mode 'sparse'"),
        (["--url", "http://127.0.0.1:1", "--index", "i"], "not both"),
        (["--url", "http://127.0.0.1:1", "--sweep"], "--sweep needs the index"),
        (["--quick"], "go with --sweep"),
        (["--sweep", "--grid-alpha", "1.5"], "[0, 1]"),
        (["--sweep", "--grid-chunks", "160+32/48"], "'160+32/48' is not a valid value"),
    ],
)
def test_bad_options_are_refused(eval_cli, qa_file: Path, args: list[str], message: str) -> None:
    result = eval_cli(str(qa_file), *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()), result.output


def test_per_doc_needs_documents(eval_cli, tmp_path: Path) -> None:
    path = tmp_path / "nodoc.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "Q?", "answers": ["x"]}) + "\n")
    result = eval_cli(str(path), "--per-doc")
    assert result.exit_code == 2 and "--per-doc needs a 'doc'" in result.stderr
