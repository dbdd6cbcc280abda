"""A reader whose library cannot be imported fails its own files only, never the run; and the
project installed from the checkout by the stock pip of this Python (no upgrade), in a fresh
venv, ingests an HTML file (older pips drop justext's ``lxml[html_clean]`` extra, which the
project now declares itself as ``lxml_html_clean``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hermetic import clean_env

from ingest.errors import LoadError
from ingest.loaders import load

ROOT = Path(__file__).resolve().parents[2]
PAGE = (
    "<!doctype html><html><head><title>Reception Standards</title></head><body><main>"
    "<h1>Reception Standards</h1><h2>Article 1 — Housing</h2>"
    "<p>Every applicant for international protection shall be offered housing that ensures an adequate "
    "standard of living and the protection of physical and mental health while the application is examined.</p>"
    "<h2>Article 2 — Schooling</h2><p>Minor children of applicants shall have access to the education "
    "system under conditions similar to those of nationals for as long as an expulsion measure is not enforced.</p>"
    "</main></body></html>"
)


def test_a_missing_html_library_fails_only_the_html_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("Plain notes on reception conditions.\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # as an install without (or with a broken) trafilatura
    monkeypatch.delitem(sys.modules, "ingest.loaders.html", raising=False)
    with pytest.raises(LoadError, match="cannot read html files in this install"):
        load(tmp_path / "page.html", "page.html")
    assert "reception conditions" in load(tmp_path / "notes.txt", "notes.txt").pages[0].text


@pytest.mark.slow
def test_a_stock_pip_install_ingests_html(tmp_path: Path) -> None:
    """Minutes (about 15 on a loaded 2-core machine): every dependency is installed into a new
    venv, torch from this disk's wheel, the rest from the package index or pip's cache."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip_version = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout
    started = time.monotonic()
    install = subprocess.run(
        # The tested versions, as `make install` takes them: the stock pip is what is under test.
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            str(ROOT),
            "-c",
            str(ROOT / "constraints.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=3000,
        env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-6000:]
    print(f"\n{pip_version.strip()}: installed in {time.monotonic() - started:.0f} s")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "reception.html").write_text(PAGE, encoding="utf-8")
    run = subprocess.run(
        [str(venv / "bin" / "clausewise"), "ingest", str(corpus), "--index", str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=clean_env(),
    )
    output = run.stdout + run.stderr  # the report is rich's, on stderr
    assert run.returncode == 0, output[-6000:]
    assert "(published): 1 documents" in " ".join(output.split()), output[-3000:]
