"""Whether an export reproduces torch: fixed texts, embedded every way the encoder embeds.

:data:`VERIFICATION_TEXTS` — short questions, passages longer than the model's
``max_seq_length`` (truncation), an empty string, non-ASCII text — are embedded by the export
one by one (no padding), in padded batches of 32 and of 8, and through ``embed_query``; each is
compared with ``SentenceTransformer.encode`` in fp32 (:func:`reference_embeddings`). Every
cosine must be at least the threshold (0.9999), else :func:`fail_unless_passed` raises
:class:`ModelError` and the exporter writes nothing.

numpy only at import; :func:`reference_embeddings` imports torch when called.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ingest.embedding.cache import MIN_COSINE
from ingest.embedding.onnx_encoder import OnnxEncoder, normalise_question
from ingest.errors import ModelError

DEFAULT_THRESHOLD = MIN_COSINE

_QUESTIONS = (
    "What obligations do refugees have towards the country that has taken them in?",
    "Can a state expel a refugee who is lawfully in its territory?",
    "Who decides whether a person qualifies for refugee status?",
    "Is there a right to elementary education for refugee children?",
    "When does the convention stop applying to a person?",
    "How long do you keep my personal information after I close my account?",
    "Do you sell my data to advertisers?",
    "Can I opt out of targeted advertising?",
    "What cookies does the website set and why?",
    "Who can I contact about a privacy complaint?",
    "Are children under 13 allowed to use the service?",
    "Is my payment card number stored on your servers?",
    "Does the treaty apply to territories for whose international relations a state is responsible?",
    "Which court settles disputes between the parties?",
    "reservations",
    "Article 33",
    "Quels sont les droits des réfugiés en matière de logement ?",
    "¿Puedo solicitar la eliminación de mis datos personales?",
    "Dürfen Flüchtlinge einer nichtselbständigen Arbeit nachgehen?",
    "難民の定義は何ですか",
    "What happens to my data if the company is sold — or goes bankrupt?! (asking for 2 friends)",
    "",
)

_PASSAGES = (
    (
        "The Contracting States shall not expel a refugee lawfully in their territory save on grounds of "
        "national security or public order. The expulsion of such a refugee shall be only in pursuance of a "
        "decision reached in accordance with due process of law. Except where compelling reasons of national "
        "security otherwise require, the refugee shall be allowed to submit evidence to clear himself, and to "
        "appeal to and be represented for the purpose before competent authority."
    ),
    (
        "We collect information you provide directly to us, such as when you create an account, subscribe to a "
        "newsletter, participate in a survey, fill out a form, request customer support or otherwise "
        "communicate with us. The types of information we may collect include your name, email address, postal "
        "address, phone number, and any other information you choose to provide."
    ),
    (
        "Each Party shall take the legislative and administrative measures necessary to ensure that the rights "
        "recognised in this Chapter are enjoyed without discrimination as to race, religion or country of "
        "origin, and shall report to the Secretary-General on the measures adopted within two years of the "
        "entry into force of this Convention for that Party."
    ),
    (
        "Cookies are small text files placed on your device. We use strictly necessary cookies to keep you "
        "signed in, analytics cookies to understand how the site is used, and advertising cookies set by third "
        "parties. You can block or delete cookies in your browser settings;\nsome features will then stop working."
    ),
    (
        "Any dispute between parties to this Convention relating to its interpretation or application, which "
        "cannot be settled by other means, shall be referred to the International Court of Justice at the "
        "request of any one of the parties to the dispute."
    ),
    (
        "Section 4.2  —  Retention.\tWe keep account data for as long as the account is active and for up to "
        "thirty-six (36) months afterwards, unless a longer period is required by law (e.g. tax records: 10 "
        "years). Backups are overwritten on a rolling 90-day cycle."
    ),
)

# One passage of an ingested passage's usual length (~170 word pieces), and two well past 256,
# so that truncation is checked too.
_LONG = (
    " ".join(_PASSAGES[3:6]),
    " ".join(_PASSAGES[0:3]) + " " + " ".join(_PASSAGES[0:3]),
    " ".join(_PASSAGES[3:6]) + "\n\n" + " ".join(_PASSAGES[1:4]) + " " + " ".join(_QUESTIONS[:8]),
)

VERIFICATION_TEXTS: tuple[str, ...] = (
    _QUESTIONS + _PASSAGES + _LONG + ("ARTICLE 1 — DEFINITION OF THE TERM \u201cREFUGEE\u201d",)
)
assert len(VERIFICATION_TEXTS) == 32


@dataclass
class Verification:
    """How an export compares with torch on the fixed texts."""

    passed: bool
    threshold: float
    min_cosine: float
    worst_check: str
    worst_text: str
    checks: dict[str, float] = field(default_factory=dict)  # check → its least cosine
    texts: int = 0
    texts_sha256: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _texts_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


def reference_embeddings(st, texts: Sequence[str]) -> np.ndarray:
    """``SentenceTransformer.encode`` in fp32, L2-normalised (as ``Embedder`` embeds)."""
    import torch

    with torch.inference_mode():
        vectors = st.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    return np.asarray(vectors, dtype=np.float32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row by row cosine of two arrays of vectors."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def verify_encoder(
    encoder: OnnxEncoder,
    reference: np.ndarray,
    texts: Sequence[str] = VERIFICATION_TEXTS,
    threshold: float = DEFAULT_THRESHOLD,
) -> Verification:
    """Compare ``encoder`` with ``reference`` (torch's embeddings of ``texts``): one by one with
    no padding, in padded batches of 32 and 8, and through ``embed_query``."""
    texts = list(texts)
    if reference.shape[0] != len(texts):
        raise ValueError("one reference vector per text")
    results: dict[str, np.ndarray] = {
        "single": np.vstack([encoder.embed_single(t) for t in texts]),
        "batch32": encoder.embed(texts, batch_size=32),
        "batch8": encoder.embed(texts, batch_size=8),
    }
    if reference.shape[1] != results["single"].shape[1]:
        raise ModelError(f"the export gives {results['single'].shape[1]}-d vectors, torch {reference.shape[1]}-d")
    rows = {name: np.arange(len(texts)) for name in results}
    # embed_query embeds the whitespace-normalised question: checked on texts it leaves as they are
    rows["query"] = np.array([i for i, t in enumerate(texts) if normalise_question(t) == t], dtype=np.int64)
    if len(rows["query"]):
        results["query"] = np.vstack([encoder.embed_query(texts[i]) for i in rows["query"]])
    else:
        del rows["query"]
    cos = {name: cosines(results[name], reference[rows[name]]) for name in rows}
    worst_check = min(cos, key=lambda k: float(cos[k].min()))
    worst = int(rows[worst_check][cos[worst_check].argmin()])
    minimum = float(cos[worst_check].min())
    return Verification(
        passed=bool(minimum >= threshold),
        threshold=threshold,
        min_cosine=minimum,
        worst_check=worst_check,
        worst_text=texts[worst][:120],
        checks={k: float(v.min()) for k, v in cos.items()},
        texts=len(texts),
        texts_sha256=_texts_digest(texts),
    )


def fail_unless_passed(verification: Verification, what: str) -> None:
    if not verification.passed:
        raise ModelError(
            f"{what} does not reproduce the torch embeddings: cosine {verification.min_cosine:.6f} < "
            f"{verification.threshold} ({verification.worst_check}, on {verification.worst_text!r}); "
            "sentence-transformers stays in use"
        )
