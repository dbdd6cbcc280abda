"""Abstention ("the documents don't say") measured with questions asked of the wrong corpus.

    python bench/abstention.py --treaties IDX --policies IDX --mixed IDX [--write]

Right corpus: the treaty questions over the treaties, the policy questions each over its own
policy. Wrong corpus: the treaty questions over the whole policies index, the policy questions
over the whole treaties index. Mixed index (treaties and policies in one): right = the treaty
questions scoped to the treaty documents, the policy questions to their policy; wrong =
the treaty questions scoped to the policies, the policy questions to the treaties. A feature
that summarises the whole index in one vector cannot tell these apart; one per document can.

Each answer is computed as /ask computes it (:meth:`Retriever.search` then
:meth:`Retriever.confidence`). Reported: for each single feature, the best recall at
abstention precision ≥ 0.9 (precision: the share of abstentions that are wrong-corpus
questions; recall: the share of wrong-corpus questions abstained on); the logistic model of
service/search/confidence.py refitted here with 5-fold cross-validation by gold document
(its cross-validated precision and recall at the settings' threshold), and its coefficients
fitted on everything, which confidence.py holds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from common import SHARED, md_table, write_block
from rank_variants import load_retriever

from evaluation.qa import Question, load_questions
from ingest.settings import Settings
from service.search.query import Filters, Query
from service.search.retriever import Retriever

Row = dict[str, float | str | bool]


def answer_features(retriever: Retriever, question: Question, filters: Filters | None, centroid: np.ndarray) -> Row:
    query = Query.build(question.question, settings=retriever.settings, top_k=5, filters=filters)
    hits = retriever.search(query)
    found = retriever.confidence(query, hits)
    vector = retriever.embedder.embed_query(question.question)
    return {
        "document": found.document_cosine,
        "top": found.top_cosine,
        "index_centroid": float(vector @ centroid),
        "value": found.value,
        "group": question.doc or question.id,
    }


def index_centroid(retriever: Retriever) -> np.ndarray:
    index = retriever.index
    mean = index.vectors_of(np.arange(len(index))).mean(axis=0)
    return (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)


def collect(path: Path, questions: list[Question], scope_of) -> list[Row]:
    retriever = load_retriever(path)
    centroid = index_centroid(retriever)
    return [answer_features(retriever, q, scope_of(retriever, q), centroid) for q in questions]


def own(_: Retriever, q: Question) -> Filters | None:
    """A policy question's own document."""
    return Filters(source=q.doc) if q.doc else None


def everything(_: Retriever, q: Question) -> None:
    return None


def corpus(name: str):
    """The documents of one shared corpus inside a mixed index built from ``shared/corpus``,
    whose sources start with the corpus's folder (``treaties/…``). Not by bare file name: both
    corpora have a ``SOURCES.md``, and the treaties' one, a list of treaty titles, would count
    as a document of the policies."""

    def scope(retriever: Retriever, _: Question) -> Filters:
        ids = [d.doc_id for d in retriever.index.documents.values() if Path(d.source).parts[0] == name]
        return Filters(doc_id=ids)

    return scope


def best_single(right: list[Row], wrong: list[Row], name: str) -> tuple[float, float, float] | None:
    """(threshold, precision, recall) with the best recall at precision ≥ 0.9; abstain below."""
    r = np.array([x[name] for x in right], dtype=float)
    w = np.array([x[name] for x in wrong], dtype=float)
    best = None
    for threshold in np.unique(np.concatenate([r, w])):
        abstained_w, abstained_r = int((w < threshold).sum()), int((r < threshold).sum())
        if abstained_w + abstained_r == 0:
            continue
        precision, recall = abstained_w / (abstained_w + abstained_r), abstained_w / len(w)
        if precision >= 0.9 and (best is None or recall > best[2]):
            best = (float(threshold), precision, recall)
    return best


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Logistic regression (weights then bias) by Newton steps, with a little ridge."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(xb @ w)))
        hessian = xb.T @ (xb * (p * (1 - p))[:, None]) + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(hessian, xb.T @ (p - y) + 1e-3 * w)
    return w


def design(rows: list[Row]) -> np.ndarray:
    return np.array([[r["document"], r["top"]] for r in rows], dtype=float)


def rates(right_p: np.ndarray, wrong_p: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Precision and recall of abstention, and the share of right-corpus questions abstained on."""
    abstained_w, abstained_r = int((wrong_p < threshold).sum()), int((right_p < threshold).sum())
    precision = abstained_w / (abstained_w + abstained_r) if abstained_w + abstained_r else 1.0
    return precision, abstained_w / len(wrong_p), abstained_r / len(right_p)


def cross_validated(right: list[Row], wrong: list[Row], folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Each question's probability from a model fitted without its gold document's questions."""
    rows = right + wrong
    y = np.array([1.0] * len(right) + [0.0] * len(wrong))
    groups = sorted({str(r["group"]) for r in rows})
    fold_of = np.array([groups.index(str(r["group"])) % folds for r in rows])
    x = design(rows)
    p = np.zeros(len(rows))
    for fold in range(folds):
        w = fit(x[fold_of != fold], y[fold_of != fold])
        test = fold_of == fold
        p[test] = 1 / (1 + np.exp(-(x[test] @ w[:-1] + w[-1])))
    return p[: len(right)], p[len(right) :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--treaties", type=Path, required=True)
    parser.add_argument("--policies", type=Path, required=True)
    parser.add_argument("--mixed", type=Path, required=True, help="One index of both corpora.")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="Put the tables into docs/benchmarks.md.")
    args = parser.parse_args()
    tq = load_questions(SHARED / "qa/treaties-dev.jsonl").questions
    pq = load_questions(SHARED / "qa/policies-dev.jsonl").questions
    separate_right = collect(args.treaties, tq, everything) + collect(args.policies, pq, own)
    separate_wrong = collect(args.policies, tq, everything) + collect(args.treaties, pq, everything)
    mixed_right = collect(args.mixed, tq, corpus("treaties")) + collect(args.mixed, pq, own)
    mixed_wrong = collect(args.mixed, tq, corpus("policies")) + collect(args.mixed, pq, corpus("treaties"))
    threshold = Settings().abstain_below
    singles = []
    for name in ("index_centroid", "document", "top"):
        for label, right, wrong in (("separate", separate_right, separate_wrong), ("mixed", mixed_right, mixed_wrong)):
            best = best_single(right, wrong, name)
            cells = [f"{v:.3f}" for v in best] if best else ["–", "never ≥ 0.9", "–"]
            singles.append([name, label, *cells])
    right_all, wrong_all = separate_right + mixed_right, separate_wrong + mixed_wrong
    cv_right, cv_wrong = cross_validated(right_all, wrong_all)
    split_r, split_w = len(separate_right), len(separate_wrong)
    model_rows = []
    for label, r, w in (
        ("separate indexes", cv_right[:split_r], cv_wrong[:split_w]),
        ("mixed index", cv_right[split_r:], cv_wrong[split_w:]),
        ("both", cv_right, cv_wrong),
    ):
        precision, recall, false_rate = rates(r, w, threshold)
        model_rows.append([label, len(r), len(w), f"{precision:.3f}", f"{recall:.3f}", f"{false_rate:.3f}"])
    coefficients = fit(design(right_all + wrong_all), np.array([1.0] * len(right_all) + [0.0] * len(wrong_all)))
    shipped = [
        [
            "separate indexes",
            *rates(
                np.array([r["value"] for r in separate_right]),
                np.array([r["value"] for r in separate_wrong]),
                threshold,
            ),
        ],
        [
            "mixed index",
            *rates(np.array([r["value"] for r in mixed_right]), np.array([r["value"] for r in mixed_wrong]), threshold),
        ],
    ]
    text = "\n\n".join(
        [
            "Single features, best recall at precision ≥ 0.9 (abstain below the threshold):\n\n"
            + md_table(["feature", "indexes", "threshold", "precision", "recall"], singles),
            f"Logistic model (document cosine, top cosine), 5-fold cross-validated by document, threshold {threshold}:\n\n"
            + md_table(["questions over", "right", "wrong", "precision", "recall", "right abstained"], model_rows),
            "The shipped coefficients (service/search/confidence.py) at that threshold:\n\n"
            + md_table(
                ["questions over", "precision", "recall", "right abstained"],
                [[n, *(f"{v:.3f}" for v in vals)] for n, *vals in shipped],
            ),
            f"Fitted on everything: W_DOC = {coefficients[0]:.2f}, W_TOP = {coefficients[1]:.2f}, BIAS = {coefficients[2]:.2f}",
        ]
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"right": right_all, "wrong": wrong_all}, indent=1))
    if args.write:
        write_block("abstention", text)


if __name__ == "__main__":
    main()
