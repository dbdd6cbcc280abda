"""Neighbouring passages merged: a measured, dropped variant of issue 13 (docs/benchmarks.md).

`python bench/merge_neighbours.py --treaties IDX --policies IDX`: the hybrid ranking of both
shared sets, as `clausewise eval` asks it, with one change: among the first ``--window``
de-duplicated passages, a passage that overlaps or touches a better-ranked one of the same
document and section is joined to it (their texts stitched at the overlap), up to ``max``
passages a group; the groups keep the rank of their best member. ``max`` 1 is the shipped
ranking. The question it answers: does returning an article's adjacent pieces as one passage
put the answer first, or only make the first passage longer?
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from common import SHARED, md_table

from evaluation.metrics import BUDGET_KEY, Returned, summarize
from evaluation.qa import Question, load_questions
from evaluation.runner import evaluate, source_filter
from ingest.settings import Settings
from ingest.types import Passage
from service.search.engine import Engine
from service.search.query import Filters, Query
from service.search.retriever import Retriever


def stitch(passages: list[Passage]) -> Passage:
    """One passage of ``passages`` (one document, overlapping or touching), in document order;
    the first's id and section."""
    ordered = sorted(passages, key=lambda p: p.char_start)
    text, end = ordered[0].text, ordered[0].char_end
    for p in ordered[1:]:
        if p.char_end > end:
            text += p.text[end - p.char_start :]  # a group is one span: touching or overlapping
            end = p.char_end
    pages = [n for p in ordered for n in (p.page_start, p.page_end) if n is not None]
    return replace(
        passages[0],
        text=text,
        char_start=ordered[0].char_start,
        char_end=end,
        page_start=min(pages, default=None),
        page_end=max(pages, default=None),
    )


def merged_ranking(retriever: Retriever, query: Query, most: int, window: int) -> list[Passage]:
    index = retriever.index
    mask = retriever.scope(query.filters)
    ranked = retriever.rank(query.question, query.mode, mask, (query.top_k + window) * 4)
    chosen = [row for row, _ in retriever._dedupe(ranked, query.top_k + window)]
    groups: list[list[int]] = []
    for position, row in enumerate(chosen):
        start, end = (int(x) for x in index.passage_span[row])
        home = None
        if position < window:
            for group in groups:
                spans = [index.passage_span[r] for r in group]
                lo, hi = min(int(s[0]) for s in spans), max(int(s[1]) for s in spans)
                same = index.passage_doc[group[0]] == index.passage_doc[row]
                same = same and index.passage_section[group[0]] == index.passage_section[row]
                if len(group) < most and same and start <= hi and end >= lo:
                    home = group
                    break
        if home is None:
            groups.append([row])
        else:
            home.append(row)
    return [stitch(index.passages(group)) for group in groups[: query.top_k]]


def asker(retriever: Retriever, most: int, window: int):
    def ask(question: Question, mode: str, k: int, per_doc: bool) -> list[Returned]:
        source = source_filter(question, per_doc, None)
        filters = Filters(source=source) if source else None
        query = Query.build(question.question, settings=retriever.settings, top_k=k, mode=mode, filters=filters)
        return [
            Returned(p.id, retriever.index.documents[p.doc_id].source, p.text, p.section, p.page_start)
            for p in merged_ranking(retriever, query, most, window)
        ]

    return ask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--treaties", type=Path, required=True)
    parser.add_argument("--policies", type=Path, required=True)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--most", default="1,2,3,4", help="passages a group may hold, e.g. 1,2,3")
    args = parser.parse_args()
    sets = {
        "T": (args.treaties, load_questions(SHARED / "qa/treaties-dev.jsonl").questions, False),
        "P": (args.policies, load_questions(SHARED / "qa/policies-dev.jsonl").questions, True),
    }
    retrievers = {name: Engine(Settings(index_dir=path)).load().retriever for name, (path, _, _) in sets.items()}
    rows = []
    for most in (int(m) for m in args.most.split(",")):
        row = [f"at most {most} a passage" if most > 1 else "none (shipped)"]
        for name, (_, questions, per_doc) in sets.items():
            ask = asker(retrievers[name], most, args.window)
            (result,) = evaluate(questions, ask, ["hybrid"], [1, 5, 10], per_doc)
            m = summarize(result.outcomes, [1, 5, 10])
            lengths = sorted(len(p.text) for o in result.outcomes for p in o.returned[:1])
            row += [
                f"{m['recall@1']:.3f}",
                f"{m['mrr@10']:.3f}",
                f"{m[BUDGET_KEY]:.3f}",
                str(lengths[len(lengths) // 2]),
            ]
        rows.append(row)
        print(" | ".join(row), flush=True)
    headers = ["merged neighbours"]
    for name in sets:
        headers += [f"{name} R@1", f"{name} MRR@10", f"{name} R@2000c", f"{name} median first passage"]
    print(md_table(headers, rows))


if __name__ == "__main__":
    main()
