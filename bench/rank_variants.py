"""Ranking variants on both shared dev sets at once (treaties over the whole corpus, policies
per document), hybrid mode, in-process, every question of both sets.

    python bench/rank_variants.py --treaties IDX --policies IDX [--json OUT] [--write]

Each question's candidates (the dense and the lexical top ``candidates``) are fetched once;
every variant re-scores the same candidates, so the variants differ only in how they fuse.
A variant's ranking goes through the retriever's own de-duplication and article boost, and is
scored with the project's hit definition and metrics (evaluation/). The learned fusion is a
logistic model over a few per-candidate features, trained and scored with 5-fold
cross-validation *by document* (a question is scored by a model that saw no question of its
gold document): only cross-validated figures are reported.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import SHARED, md_table, write_block

from evaluation.hits import is_hit
from evaluation.metrics import BUDGET_KEY, Outcome, Returned, summarize
from evaluation.qa import Question, load_questions
from ingest.settings import Settings
from ingest.store.lexical import tokenize_one
from ingest.store.reader import StoredIndex
from service.search.engine import Engine
from service.search.fusion import fuse, lexical_bound, min_max
from service.search.retriever import Retriever

HEADLINE = "Can a state send a refugee back to a country where they face persecution?"
FEATURES = ["dense", "dense_mm", "lex_bound", "lex_mm", "section", "document", "article", "sentence"]
# A passage's sentences for sentence-level scoring: split after . ; : ? ! before a capital, a
# digit or an opening bracket, and at line breaks; pieces of fewer than four words join the next.
SENTENCE_END = re.compile(r"(?<=[.;:?!])\s+(?=[A-Z0-9(“\"])|\n+")


@dataclass
class Case:
    """One question's candidates and their features (rows parallel to ``features``)."""

    question: Question
    rows: np.ndarray
    features: np.ndarray  # (candidates, FEATURES)
    hits: np.ndarray  # bool per candidate: the passage is a hit
    dense: tuple[np.ndarray, np.ndarray]
    lexical: tuple[np.ndarray, np.ndarray]
    bound: float
    boosted: set[int]
    group: str  # the gold document, for cross-validation
    query: np.ndarray  # the question's vector
    vectors: np.ndarray  # the candidates' vectors, rows parallel to ``rows``
    feedback: dict[str, tuple[np.ndarray, np.ndarray]]  # expanded lexical results, by variant name
    neighbours: dict[int, tuple[int, int]]  # candidate row → the passages before and after it (-1: none)
    doc_of: dict[int, int]  # candidate row → its document
    heading: np.ndarray  # cosine of the question with the passage's own heading (0: none)
    hubness: np.ndarray  # each candidate's mean cosine to its 10 nearest passages (CSLS)


def load_retriever(index: Path) -> Retriever:
    return Engine(Settings(), index).load().retriever


def centroids(retriever: Retriever, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised mean passage vector per distinct ``keys`` value, and each row's group."""
    index = retriever.index
    groups, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros((len(groups), index.manifest.model.dimension))
    np.add.at(sums, inverse, index.vectors_of(np.arange(len(index))))
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)
    return sums.astype(np.float32), inverse


def hubness(retriever: Retriever, k: int = 10) -> np.ndarray:
    """Each passage's mean cosine to its ``k`` nearest other passages of the index: how much a
    passage looks like everything (a definition article, a preamble), the r term of CSLS."""
    vectors = retriever.index.vectors_of(np.arange(len(retriever.index))).astype(np.float32)
    out = np.empty(len(vectors), dtype=np.float64)
    for start in range(0, len(vectors), 1024):
        sims = vectors[start : start + 1024] @ vectors.T
        np.fill_diagonal(sims[:, start : start + 1024], -1.0)
        out[start : start + 1024] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
    return out


def sentences(text: str) -> list[str]:
    out: list[str] = []
    carry = ""
    for piece in SENTENCE_END.split(text):
        piece = f"{carry} {piece}".strip() if carry else piece.strip()
        if len(piece.split()) < 4:
            carry = piece
            continue
        out.append(piece)
        carry = ""
    if carry and out:
        out[-1] = f"{out[-1]} {carry}"
    elif carry:
        out.append(carry)
    return out or [text]


class HeadingVectors:
    """The innermost heading of each candidate's section ("Article 33 — Prohibition of expulsion
    or return"), embedded once by the index's query encoder; a passage under no heading scores 0."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.vectors: dict[str, np.ndarray] = {}

    def cosines(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        out = np.zeros(len(rows))
        for i, passage in enumerate(self.retriever.index.passages(rows.tolist())):
            heading = (passage.section or "").split(" > ")[-1].strip()
            if not heading:
                continue
            if heading not in self.vectors:
                self.vectors[heading] = self.retriever.embedder.embed_query(heading)
            out[i] = float(self.vectors[heading] @ vector)
        return out


class SentenceVectors:
    """Each candidate passage's sentences embedded once (by the index's own query encoder),
    shared by every question that meets the passage."""

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.vectors: dict[int, np.ndarray] = {}

    def best(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        missing = [r for r in rows.tolist() if r not in self.vectors]
        if missing:
            passages = self.retriever.index.passages(missing)
            split = [sentences(p.text) for p in passages]
            flat = [s for parts in split for s in parts]
            embedded = self.retriever.embedder.embed_passages(flat)  # type: ignore[attr-defined]
            start = 0
            for row, parts in zip(missing, split):
                self.vectors[row] = embedded[start : start + len(parts)]
                start += len(parts)
        return np.array([float((self.vectors[r] @ vector).max()) for r in rows.tolist()])


def neighbours(index: StoredIndex, order: np.ndarray, rows: np.ndarray) -> dict[int, tuple[int, int]]:
    """Each row's previous and next passage in its document (by text offset; -1: none);
    ``order`` is the inverse of ``index.canonical`` (position → row)."""
    out = {}
    for row, at in zip(rows.tolist(), index.canonical[rows].tolist()):
        pair = []
        for step in (-1, 1):
            other = int(order[at + step]) if 0 <= at + step < len(order) else -1
            pair.append(other if other >= 0 and index.passage_doc[other] == index.passage_doc[row] else -1)
        out[row] = (pair[0], pair[1])
    return out


def cases(retriever: Retriever, questions: list[Question], per_doc: bool) -> list[Case]:
    index, depth = retriever.index, retriever.settings.candidates
    by_sentence = SentenceVectors(retriever)
    by_heading = HeadingVectors(retriever)
    hub = hubness(retriever)
    section_vec, section_of = centroids(retriever, index.passage_doc.astype(np.int64) * 100_000 + index.passage_section)
    doc_vec, doc_of = centroids(retriever, index.passage_doc)
    order = np.empty_like(index.canonical)  # position in (document, offset) order → row
    order[index.canonical] = np.arange(len(order))
    out = []
    for q in questions:
        mask = index.mask(source=q.doc) if per_doc and q.doc else None
        vector = retriever.embedder.embed_query(q.question)
        dense = index.dense_search(vector, depth, mask)
        lexical = retriever.lexical(q.question, mask, depth)
        tokens = tokenize_one(q.question)
        bound = lexical_bound(index.lexical.idf(tokens), tokens)
        rows = np.unique(np.concatenate([dense[0], lexical[0]]))
        documents = set(index.passage_doc[dense[0][:20]].tolist()) | set(index.passage_doc[lexical[0][:20]].tolist())
        boosted = retriever._article_rows_named(q.question, mask, documents)
        feats = np.zeros((len(rows), len(FEATURES)), dtype=np.float64)
        position = {r: i for i, r in enumerate(rows.tolist())}
        feats[:, 0] = index.vectors_of(rows) @ vector
        for col, (r, s) in ((1, (dense[0], min_max(dense[1]))), (3, (lexical[0], min_max(lexical[1])))):
            feats[[position[x] for x in r.tolist()], col] = s
        feats[[position[x] for x in lexical[0].tolist()], 2] = lexical[1] / bound if bound else 0.0
        feats[:, 4] = section_vec[section_of[rows]] @ vector
        feats[:, 5] = doc_vec[doc_of[rows]] @ vector
        feats[:, 6] = [r in boosted for r in rows.tolist()]
        feats[:, 7] = by_sentence.best(rows, vector)
        passages = index.passages(rows.tolist())
        sources = [index.documents[p.doc_id].source for p in passages]
        hits = np.array([is_hit(q, s, p.text) for s, p in zip(sources, passages)])
        scored = np.union1d(rows, np.fromiter(boosted, dtype=rows.dtype))  # boosted rows may lie outside
        case = Case(
            q,
            rows,
            feats,
            hits,
            dense,
            lexical,
            bound,
            boosted,
            q.doc or "",
            vector,
            index.vectors_of(rows),
            {},
            neighbours(index, order, scored),
            dict(zip(scored.tolist(), index.passage_doc[scored].tolist())),
            by_heading.cosines(rows, vector),
            hub[rows],
        )
        for terms in PRF_TERMS:  # re-ask BM25 with words of the first passages
            expansion = feedback_words(retriever, case, terms)
            case.feedback[f"terms{terms}"] = retriever.lexical(f"{q.question} {expansion}", mask, depth)
        out.append(case)
    return out


# Pseudo-relevance feedback: the first PRF_DOCS passages of the baseline ranking are taken as
# relevant; dense feedback moves the question's vector towards theirs (Rocchio), lexical
# feedback adds the words that weigh most in them (term frequency × idf, RM3-like).
PRF_DOCS = 3
PRF_TERMS = (5, 10)


def first_rows(case: Case, k: int = PRF_DOCS) -> list[int]:
    return [r for r, _ in sorted(baseline(case).items(), key=lambda item: -item[1])[:k]]


def feedback_words(retriever: Retriever, case: Case, n: int) -> str:
    """The ``n`` words that weigh most in the first passages, as words (BM25 stems them again)."""
    index = retriever.index
    asked = set(tokenize_one(case.question.question))
    weight: dict[str, float] = {}
    word_of: dict[str, str] = {}
    for passage in index.passages(first_rows(case)):
        for word in re.findall(r"(?u)\b\w+\b", passage.text.lower()):
            stems = tokenize_one(word)
            if word.isdigit() or not stems or stems[0] in asked:
                continue
            word_of.setdefault(stems[0], word)
            weight[stems[0]] = weight.get(stems[0], 0.0) + 1.0
    idf = index.lexical.idf(list(weight))
    best = sorted(weight, key=lambda stem: -weight[stem] * idf.get(stem, 0.0))[:n]
    return " ".join(word_of[stem] for stem in best)


def prf_dense(beta: float) -> Callable[[Case], dict[int, float]]:
    def score(case: Case) -> dict[int, float]:
        position = {r: i for i, r in enumerate(case.rows.tolist())}
        centroid = case.vectors[[position[r] for r in first_rows(case)]].mean(axis=0)
        moved = case.query + beta * centroid
        scores = case.vectors @ (moved / np.linalg.norm(moved))
        order = np.argsort(-scores)[: len(case.dense[0])]
        return with_boost(case, fuse((case.rows[order], scores[order]), case.lexical, 0.5), 0.2)

    return score


def prf_lexical(terms: int) -> Callable[[Case], dict[int, float]]:
    def score(case: Case) -> dict[int, float]:
        return with_boost(case, fuse(case.dense, case.feedback[f"terms{terms}"], 0.5), 0.2)

    return score


def outcome(retriever: Retriever, case: Case, scores: dict[int, float]) -> Outcome:
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    chosen = retriever._dedupe(ranked, 10)
    passages = retriever.index.passages([r for r, _ in chosen])
    returned = [
        Returned(p.id, retriever.index.documents[p.doc_id].source, p.text, p.section, p.page_start) for p in passages
    ]
    return Outcome(case.question, returned, 0.0)


def with_boost(case: Case, fused: dict[int, float], boost: float) -> dict[int, float]:
    for row in case.boosted:
        fused[row] = fused.get(row, 0.0) + boost
    return fused


def column(case: Case, name: str) -> dict[int, float]:
    return dict(zip(case.rows.tolist(), case.features[:, FEATURES.index(name)].tolist()))


def blend(name: str, weight: float, alpha: float = 0.5) -> Callable[[Case], dict[int, float]]:
    """min-max fusion plus ``weight`` × the min-max of feature ``name`` over the candidates."""

    def score(case: Case) -> dict[int, float]:
        fused = fuse(case.dense, case.lexical, alpha)
        extra = min_max(case.features[:, FEATURES.index(name)])
        for row, value in zip(case.rows.tolist(), extra.tolist()):
            fused[row] = fused.get(row, 0.0) + weight * value
        return with_boost(case, fused, 0.2)

    return score


def heading_blend(weight: float) -> Callable[[Case], dict[int, float]]:
    """The baseline plus ``weight`` × the min-max, over the candidates, of the cosine between
    the question and the passage's own heading: an article's title says what it is about."""

    def score(case: Case) -> dict[int, float]:
        fused = baseline(case)
        extra = min_max(case.heading)
        for row, value in zip(case.rows.tolist(), extra.tolist()):
            fused[row] = fused.get(row, 0.0) + weight * value
        return fused

    return score


def csls(beta: float) -> Callable[[Case], dict[int, float]]:
    """Hubness-corrected dense scores (CSLS-like: cosine − ``beta`` × the passage's mean cosine
    to its nearest passages), re-ranked, then the baseline's fusion and boost."""

    def score(case: Case) -> dict[int, float]:
        position = {r: i for i, r in enumerate(case.rows.tolist())}
        rows, cos = case.dense
        corrected = cos - beta * case.hubness[[position[r] for r in rows.tolist()]]
        order = np.argsort(-corrected)
        return with_boost(case, fuse((rows[order], corrected[order]), case.lexical, 0.5), 0.2)

    return score


def zscore(case: Case, alpha: float = 0.5) -> dict[int, float]:
    fused: dict[int, float] = {}
    for weight, (rows, scores) in ((alpha, case.dense), (1 - alpha, case.lexical)):
        z = (scores - scores.mean()) / (scores.std() or 1.0) if len(scores) else scores
        floor = float(z.min()) if len(z) else 0.0
        for row in case.rows.tolist():
            fused[row] = fused.get(row, 0.0) + weight * floor
        for row, value in zip(rows.tolist(), z.tolist()):
            fused[row] += weight * (value - floor)
    return with_boost(case, fused, 0.2)


def baseline(case: Case) -> dict[int, float]:
    """The ranking before the named-document boost (service/search/names.py, measured in its
    own section of docs/benchmarks.md): min-max fusion at alpha 0.5 plus the article boost."""
    return with_boost(case, fuse(case.dense, case.lexical, 0.5), 0.2)


def rrf(case: Case, k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: each side adds 1 / (k + rank), whatever its scores."""
    fused: dict[int, float] = {}
    for rows, _ in (case.dense, case.lexical):
        for rank, row in enumerate(rows.tolist(), 1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return with_boost(case, fused, 0.2 * 2 / (k + 1))  # the boost in the same units as rank 1


def smoothed(weight: float) -> Callable[[Case], dict[int, float]]:
    """The baseline plus ``weight`` × the better of the passage's two neighbours' fused scores:
    a passage whose article goes on about the question beats an isolated match."""

    def score(case: Case) -> dict[int, float]:
        base = baseline(case)
        out = {}
        for row, value in base.items():
            around = [base.get(n, 0.0) for n in case.neighbours[row] if n >= 0]
            out[row] = value + weight * max(around, default=0.0)
        return out

    return score


def document_prior(weight: float) -> Callable[[Case], dict[int, float]]:
    """The baseline plus ``weight`` × the best fused score of the passage's document."""

    def score(case: Case) -> dict[int, float]:
        base = baseline(case)
        best: dict[int, float] = {}
        for row, value in base.items():
            doc = case.doc_of[row]
            best[doc] = max(best.get(doc, 0.0), value)
        return {row: value + weight * best[case.doc_of[row]] for row, value in base.items()}

    return score


VARIANTS: dict[str, Callable[[Case], dict[int, float]]] = {
    "baseline: min-max, alpha 0.5": baseline,
    "min-max, alpha 0.6": lambda c: with_boost(c, fuse(c.dense, c.lexical, 0.6), 0.2),
    "lexical / question bound, alpha 0.5": lambda c: with_boost(c, fuse(c.dense, c.lexical, 0.5, c.bound), 0.2),
    "lexical / question bound, alpha 0.4": lambda c: with_boost(c, fuse(c.dense, c.lexical, 0.4, c.bound), 0.2),
    "lexical / question bound, alpha 0.3": lambda c: with_boost(c, fuse(c.dense, c.lexical, 0.3, c.bound), 0.2),
    "z-score, alpha 0.5": zscore,
    "z-score, alpha 0.6": lambda c: zscore(c, 0.6),
    "+ section centroid 0.2": blend("section", 0.2),
    "+ section centroid 0.4": blend("section", 0.4),
    "+ document centroid 0.2": blend("document", 0.2),
    "+ best sentence 0.2": blend("sentence", 0.2),
    "+ best sentence 0.4": blend("sentence", 0.4),
    "+ best sentence 0.8": blend("sentence", 0.8),
    "PRF dense (Rocchio, 3 passages, beta 0.3)": prf_dense(0.3),
    "PRF dense (Rocchio, 3 passages, beta 0.6)": prf_dense(0.6),
    "PRF lexical (+5 words of 3 passages)": prf_lexical(5),
    "PRF lexical (+10 words of 3 passages)": prf_lexical(10),
    "reciprocal rank fusion (k 60)": rrf,
    "reciprocal rank fusion (k 20)": lambda c: rrf(c, 20),
    "+ neighbour passages 0.2": smoothed(0.2),
    "+ neighbour passages 0.4": smoothed(0.4),
    "+ document's best passage 0.2": document_prior(0.2),
    "+ document's best passage 0.5": document_prior(0.5),
    "+ own heading 0.1": heading_blend(0.1),
    "+ own heading 0.2": heading_blend(0.2),
    "+ own heading 0.4": heading_blend(0.4),
    "dense hubness-corrected (CSLS, beta 0.25)": csls(0.25),
    "dense hubness-corrected (CSLS, beta 0.5)": csls(0.5),
    "dense hubness-corrected (CSLS, beta 1.0)": csls(1.0),
}


def learned(all_cases: list[Case], folds: int = 5) -> list[dict[int, float]]:
    """Cross-validated logistic fusion: fold by gold document, standardised features, plain
    gradient descent (a few hundred steps on a few thousand candidates)."""
    groups = sorted({c.group for c in all_cases})
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    scored: list[dict[int, float]] = [{} for _ in all_cases]
    for fold in range(folds):
        train = [c for c in all_cases if fold_of[c.group] != fold]
        x = np.concatenate([c.features for c in train])
        y = np.concatenate([c.hits for c in train]).astype(np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
        xs = (x - mean) / std
        w, b = np.zeros(x.shape[1]), 0.0
        pos = max(y.mean(), 1e-6)
        sample = np.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))  # balanced classes
        for _ in range(400):
            p = 1 / (1 + np.exp(-(xs @ w + b)))
            g = (p - y) * sample
            w -= 0.5 * (xs.T @ g / len(y) + 1e-3 * w)
            b -= 0.5 * g.mean()
        for i, c in enumerate(all_cases):
            if fold_of[c.group] == fold:
                scored[i] = dict(zip(c.rows.tolist(), (((c.features - mean) / std) @ w + b).tolist()))
    return scored


def metrics(outcomes: list[Outcome]) -> dict[str, float]:
    m = summarize(outcomes, [1, 5, 10])
    return {"r1": m["recall@1"], "mrr": m["mrr@10"], "r2000": m[BUDGET_KEY]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--treaties", type=Path, required=True)
    parser.add_argument("--policies", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="Put the table into docs/benchmarks.md.")
    args = parser.parse_args()
    sets = {
        "treaties": (load_retriever(args.treaties), load_questions(SHARED / "qa/treaties-dev.jsonl").questions, False),
        "policies": (load_retriever(args.policies), load_questions(SHARED / "qa/policies-dev.jsonl").questions, True),
    }
    built = {name: cases(r, qs, per_doc) for name, (r, qs, per_doc) in sets.items()}
    headline = cases(sets["treaties"][0], [Question(id="headline", question=HEADLINE, answers=["x"])], False)[0]
    rows, results = [], {}
    for name, variant in VARIANTS.items():
        results[name] = {s: metrics([outcome(sets[s][0], c, variant(c)) for c in built[s]]) for s in sets}
        returned = outcome(sets["treaties"][0], headline, variant(headline)).returned
        ranks = [i for i, p in enumerate(returned, 1) if "Article 33" in (p.section or "")]
        results[name]["headline_rank"] = ranks[0] if ranks else "> 10"
    everything = built["treaties"] + built["policies"]
    cv = learned(everything)
    split = len(built["treaties"])
    results["learned logistic (5-fold CV by document)"] = {
        s: metrics([outcome(sets[s][0], c, with_boost(c, dict(sc), 0.0)) for c, sc in pairs])
        for s, pairs in (
            ("treaties", zip(built["treaties"], cv[:split])),
            ("policies", zip(built["policies"], cv[split:])),
        )
    }
    for name, r in results.items():
        t, p = r["treaties"], r["policies"]
        rows.append(
            [
                name,
                *(f"{v:.3f}" for v in (t["r1"], t["mrr"], t["r2000"], p["r1"], p["mrr"], p["r2000"])),
                r.get("headline_rank", "–"),
            ]
        )
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    headers = [
        "variant",
        "T R@1",
        "T MRR@10",
        "T R@2000c",
        "P R@1",
        "P MRR@10",
        "P R@2000c",
        "headline: rank of Article 33",
    ]
    text = md_table(headers, rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.write:
        write_block("rank_variants", text)


if __name__ == "__main__":
    main()
