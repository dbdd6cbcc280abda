"""sentence-transformers' ``Pooling`` and ``Normalize`` in numpy, for the ONNX encoder.

The exported graph stops at the transformer's ``last_hidden_state``; these turn it into the
sentence embedding exactly as the torch modules do (``tests/ingest/embedding`` compares every
mode, with right and left padding, against sentence-transformers' own ``Pooling``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.errors import ModelError

POOLING_MODES = ("mean", "mean_sqrt_len_tokens", "cls", "max", "lasttoken", "weightedmean")


def pool(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """``hidden`` (batch, seq, dim) float32 and ``mask`` (batch, seq) of 0/1 pooled by each of
    ``modes``; the modes' vectors concatenated in the order given."""
    hidden = hidden.astype(np.float32, copy=False)
    maskf = mask.astype(np.float32)[:, :, None]
    out = []
    batch, seq = mask.shape
    rows = np.arange(batch)
    for mode in modes:
        if mode in ("mean", "mean_sqrt_len_tokens"):
            total = (hidden * maskf).sum(axis=1)
            count = np.clip(maskf.sum(axis=1), 1e-9, None)
            out.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "cls":  # the first real token (left padding included)
            out.append(hidden[rows, mask.argmax(axis=1)])
        elif mode == "max":
            out.append(np.where(maskf > 0, hidden, -np.inf).max(axis=1))
        elif mode == "lasttoken":  # the last real token, whichever side the padding is on
            flipped = mask[:, ::-1]
            last = seq - 1 - flipped.argmax(axis=1)
            last = np.where(flipped.max(axis=1) == 0, seq - 1, last)
            out.append((hidden * maskf)[rows, last])
        elif mode == "weightedmean":  # position weights from the first real token
            weights = np.arange(1, seq + 1, dtype=np.float32)[None, :] - mask.argmax(axis=1)[:, None]
            weighted = maskf[:, :, 0] * weights
            total = (hidden * weighted[:, :, None]).sum(axis=1)
            out.append(total / np.clip(weighted.sum(axis=1, keepdims=True), 1e-9, None))
        else:
            raise ModelError(f"pooling mode {mode!r} is not supported by the ONNX encoder")
    return out[0] if len(out) == 1 else np.concatenate(out, axis=1)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)  # torch.nn.functional.normalize's eps
