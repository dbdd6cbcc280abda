"""`clausewise serve` and `clausewise ask`: exit codes, one-line errors naming the fix instead
of tracebacks, and the cited, highlighted answer printed by `ask`.

Two tests run the installed console script in a subprocess, as a user would; the other error
cases run the same Typer app in-process (a child process spends ~7 s importing torch before it
can even report a missing index, which would make this module the slowest of the suite).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hermetic import clausewise_command, clean_env
from service_docs import ARTICLE_7_SENTENCE, CHARTER_SOURCE, CHARTER_TITLE
from service_support import KESTRELMOOR, BuiltIndex
from typer.testing import CliRunner

from service import cli

pytestmark = pytest.mark.usefixtures("hermetic")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def clausewise(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """The console script in a child process."""
    command = clausewise_command()
    base = clean_env(COLUMNS="80", NO_COLOR="1", TERM="dumb")
    base.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [*command, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_cli(*args: str, monkeypatch: pytest.MonkeyPatch | None = None, env: dict[str, str] | None = None) -> Result:
    """The same Typer app, in this process (for the error paths, which never load a model)."""
    if env:
        assert monkeypatch is not None
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    cli.get_settings.cache_clear()
    result = CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def assert_clean_failure(result: Result, *needles: str) -> None:
    """Exit code 2, nothing on stdout, and a one-line error on stderr holding every needle
    verbatim (a command to copy must not be broken across lines), with no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# -- no index, or one that cannot be used -----------------------------------------------------
def test_serve_without_index_exits_2_naming_the_fix(tmp_path: Path) -> None:
    index = tmp_path / "empty" / "dir"
    result = clausewise("serve", "--index", str(index), cwd=tmp_path)
    assert_clean_failure(result, f"no index in {index}", f"`clausewise ingest PATH --index {index}`")


@pytest.mark.parametrize("command", ["serve", "ask"])
@pytest.mark.parametrize("exists", [False, True], ids=["no-folder", "empty-folder"])
def test_missing_index_is_a_clear_error(tmp_path: Path, command, exists) -> None:
    index = tmp_path / "empty" / "dir"
    if exists:
        index.mkdir(parents=True)
    args = [command, "--index", str(index)] if command == "serve" else [command, KESTRELMOOR, "--index", str(index)]
    assert_clean_failure(run_cli(*args), f"no index in {index}", f"`clausewise ingest PATH --index {index}`")


def test_default_index_folder_is_named_in_the_error(tmp_path: Path, monkeypatch) -> None:
    result = run_cli("ask", KESTRELMOOR)  # CLAUSEWISE_INDEX_DIR unset: ./index
    assert_clean_failure(result, "no index in index", "`clausewise ingest PATH --index index`")
    elsewhere = tmp_path / "elsewhere"
    result = run_cli("serve", monkeypatch=monkeypatch, env={"CLAUSEWISE_INDEX_DIR": str(elsewhere)})
    assert_clean_failure(result, f"`clausewise ingest PATH --index {elsewhere}`")


def _damaged_copy(built: BuiltIndex, to: Path, damage: str) -> Path:
    shutil.copytree(built.index_dir, to, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
    build = to / "current"
    manifest_path = build / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if damage == "other format":
        manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    elif damage == "truncated manifest":
        manifest_path.write_text(manifest_path.read_text()[:40])
    elif damage == "manifest without model":
        manifest_path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "model"}))
    else:  # a file of a segment missing (a partial copy)
        segment = manifest["segments"][0]["id"]
        target = to / "segments" / segment / damage
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return to


@pytest.mark.parametrize(
    "damage",
    [
        "other format",
        "truncated manifest",
        "manifest without model",
        "meta.sqlite",
        "columns.npy",
        "vectors.npy",
        "postings",
    ],
)
def test_unusable_index_is_a_clear_error(built: BuiltIndex, tmp_path: Path, damage) -> None:
    index = _damaged_copy(built, tmp_path / "index", damage)
    result = run_cli("ask", KESTRELMOOR, "--index", str(index))
    assert_clean_failure(result, str(index), "clausewise ingest", "--rebuild")


def test_unusable_index_stops_serve_before_it_binds(built: BuiltIndex, tmp_path: Path) -> None:
    index = _damaged_copy(built, tmp_path / "index", "truncated manifest")
    result = run_cli("serve", "--index", str(index), "--port", "9")
    assert_clean_failure(result, str(index), "clausewise ingest", "--rebuild")


def test_index_of_another_model_is_a_clear_error(built: BuiltIndex, monkeypatch) -> None:
    other = "sentence-transformers/paraphrase-MiniLM-L3-v2"
    result = run_cli("serve", "--index", str(built.index_dir), monkeypatch=monkeypatch, env={"CLAUSEWISE_MODEL": other})
    assert_clean_failure(result, "all-MiniLM-L6-v2", other, "--rebuild")


# -- bad arguments ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--top-k", "0"], "--top-k"),
        (["--top-k", "51"], "--top-k"),
        (["--top-k", "many"], "--top-k"),
        (["--mode", "fuzzy"], "unknown mode 'fuzzy'"),
    ],
)
def test_bad_ask_options_exit_2(built: BuiltIndex, args, needle) -> None:
    result = run_cli("ask", KESTRELMOOR, "--index", str(built.index_dir), *args)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and needle in result.stderr


@pytest.mark.parametrize("question", ["", "   "])
def test_blank_question_exits_2(built: BuiltIndex, question) -> None:
    result = run_cli("ask", question, "--index", str(built.index_dir))
    assert_clean_failure(result, "empty")


# -- the answer -------------------------------------------------------------------------------
def test_ask_prints_cited_highlighted_passages(built: BuiltIndex, tmp_path: Path) -> None:
    """Document, pages, source, section and the highlighted sentence (bold yellow when colour
    is on). Loads the model in the child process: the one slow test of this module."""
    result = clausewise(
        "ask",
        KESTRELMOOR,
        "--index",
        str(built.index_dir),
        "--top-k",
        "1",
        "--mode",
        "lexical",
        cwd=tmp_path,
        env={"FORCE_COLOR": "1", "COLUMNS": "100", "TERM": "xterm-256color", "NO_COLOR": ""},
    )
    assert result.returncode == 0, result.stderr
    plain = ANSI.sub("", result.stdout)
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    assert lines[0] == f"[1] {CHARTER_TITLE}, p. 2  {CHARTER_SOURCE}"
    assert lines[1] == "Chapter II — Movement and Return > Article 7 — Right of return"
    assert ARTICLE_7_SENTENCE in " ".join(lines[2:])
    assert "[2]" not in plain  # --top-k 1
    # The highlighted span, wherever the console wrapped it, is the answer sentence.
    highlighted = " ".join(
        ANSI.sub("", span) for span in re.findall(r"\x1b\[1;33m(.*?)\x1b\[0m", result.stdout, flags=re.S)
    )
    assert ARTICLE_7_SENTENCE in " ".join(highlighted.split())
