"""The quality part of `make bench`: `clausewise eval` on the shared question sets.

``python bench/quality_bench.py --index INDEX [--shared ../shared] [--out DIR]`` runs
``treaties-dev.jsonl`` over the treaties (the whole treaties corpus, as shared/qa/README.md
asks) and ``policies-dev.jsonl`` with each question asked of its own document, in the three
modes, and prints the Markdown block for docs/benchmarks.md. INDEX may hold both corpora
(sources ``treaties/…`` and ``policies/…``, as ``clausewise ingest ../shared/corpus`` gives) or
one of them; a set whose documents are not in the index is left out.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from common import SHARED, write_block

from evaluation.qa import load_questions
from evaluation.render import markdown_table, write_reports
from evaluation.runner import MODES, EvalRun, evaluate, in_process, recorded_settings
from ingest.settings import get_settings
from service.search.engine import Engine

KS = [1, 5, 10]


@dataclass(frozen=True)
class SharedSet:
    file: str
    folder: str  # the corpus folder its documents come from
    per_doc: bool


SETS = [SharedSet("treaties-dev.jsonl", "treaties", False), SharedSet("policies-dev.jsonl", "policies", True)]


def _scope(sources: list[str], folder: str, names: set[str]) -> tuple[bool, str | None]:
    """Whether the index holds the set's documents, and the source glob that keeps the
    set's corpus apart when the index holds several."""
    if any(s.startswith(f"{folder}/") for s in sources):
        return True, f"{folder}/*"
    return bool(names & {s.rsplit("/", 1)[-1] for s in sources}), None


def run_quality(
    index_dir: Path, shared: Path, out: Path | None = None, log=print
) -> list[tuple[SharedSet, str, EvalRun]]:
    """Each shared set the index can answer, evaluated in-process: ``(set, command, run)``."""
    settings = get_settings()
    engine = Engine(settings, index_dir)
    snapshot = engine.load()
    sources = [d.source for d in snapshot.index.documents.values()]
    runs = []
    for shared_set in SETS:
        path = shared / "qa" / shared_set.file
        if not path.is_file():
            log(f"skipped {path}: not found")
            continue
        loaded = load_questions(path)
        present, scope = _scope(sources, shared_set.folder, {q.doc for q in loaded.questions if q.doc})
        if not present:
            log(f"skipped {shared_set.file}: its documents are not in {index_dir}")
            continue
        command = "clausewise eval " + ("--per-doc " if shared_set.per_doc else "") + f"{path} --index {index_dir}"
        if scope and not shared_set.per_doc:
            command += f" --source '{scope}'"
        log(f"running: {command}")
        asker = in_process(snapshot.retriever, None if shared_set.per_doc else scope)
        results = evaluate(loaded.questions, asker, list(MODES), KS, shared_set.per_doc)
        run = EvalRun(
            str(path),
            str(index_dir),
            shared_set.per_doc,
            KS,
            results,
            loaded.invalid,
            snapshot.version,
            recorded_settings(snapshot.index.manifest, settings),
            scope=None if shared_set.per_doc else scope,
        )
        if out is not None:
            write_reports(run, out / Path(shared_set.file).stem)
        runs.append((shared_set, command, run))
    return runs


def quality_markdown(runs: list[tuple[SharedSet, str, EvalRun]]) -> str:
    """The block for docs/benchmarks.md: one table per set, with the command that gives it."""
    parts = []
    for shared_set, command, run in runs:
        scope = "each question asked of its own document" if run.per_doc else f"over the {shared_set.folder} corpus"
        parts += [
            f"**{shared_set.file}** ({run.questions} questions, {scope}; index {run.index_version}). "
            f"Command: `{command}`",
            "",
            markdown_table(run),
            "",
        ]
    parts.append(
        "recall@k: a passage from the gold document holding the answer (and overlapping the evidence) in the "
        "top k; recall@2000c: the same within the first 2,000 characters read; doc recall@k: the gold "
        "document in the top k. Latency is in-process wall time per question on this machine. See docs/evaluation.md."
    )
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="Index of ../shared/corpus (or one of its folders).")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=None, help="Also write the full reports under this folder.")
    args = parser.parse_args(argv)
    runs = run_quality(args.index, args.shared, args.out, log=lambda m: print(m, file=sys.stderr))
    if not runs:
        raise SystemExit(f"no shared question set matches the documents of {args.index}")
    block = quality_markdown(runs)
    write_block("quality", block)
    print(block)
    return block


if __name__ == "__main__":
    main()
