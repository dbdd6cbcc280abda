"""Passages embedded by OpenVINO on the model's verified ONNX export: ingestion's fastest way
here (docs/benchmarks.md, *Embedding runtimes*: on the 2-core EPYC with AVX-512 bf16, 56.0
passages/s in bf16 against 44.4 for torch bf16 autocast and 23.4 for onnxruntime fp32, min
cosine to fp32 0.99997 for both bf16 ways).

The export is the one the query encoder uses (``INDEX/encoder``, or the user's copy of it), so
a build that finds one never imports torch or sentence-transformers. OpenVINO computes in bf16
where the CPU has bf16 instructions (and ``CLAUSEWISE_EMBED_BF16`` is on), else in fp32; either
way :meth:`OpenVinoEncoder.warm_up` embeds the fixed verification texts with it and with
onnxruntime on the same export, and refuses to embed (:class:`ModelError`, the caller falls
back to sentence-transformers) unless every cosine is at least :data:`PASSAGE_MIN_COSINE`, the
tolerance issue 12 allows ingestion.

Only ``clausewise ingest`` imports this module; the serving process never does. ``openvino``
itself (~0.3 s, ~20 MiB) is imported when the encoder is first loaded, so a run with nothing
to embed never pays for it.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from ingest.embedding.cache import ONNX_FILE
from ingest.embedding.onnx_encoder import OnnxEncoder
from ingest.embedding.verify import VERIFICATION_TEXTS, cosines
from ingest.errors import ModelError

PASSAGE_MIN_COSINE = 0.999
# Passages a forward pass: on the EPYC above 16 embedded 67 passages/s at a peak of 652 MiB, 8
# gave 61 at 493 MiB and 32 gave 59 at 843 MiB (OpenVINO keeps its buffers at the largest batch).
BATCH = 16


class _Compiled:
    """An OpenVINO compiled model behind onnxruntime's ``run(None, feed)``. One infer request,
    so one call at a time (ingestion embeds from one thread; the lock makes it safe anyway)."""

    def __init__(self, compiled: Any) -> None:
        self._request = compiled.create_infer_request()
        self._output = compiled.output(0)
        self._lock = threading.Lock()
        self.input_names = tuple(port.get_any_name() for port in compiled.inputs)

    def run(self, _outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            result = self._request.infer(feed, share_inputs=True)
            return [np.array(result[self._output])]  # the request's buffer is reused by the next call


class OpenVinoEncoder(OnnxEncoder):
    """:class:`OnnxEncoder`'s tokenising, padding and pooling, OpenVINO's forward pass.

    ``threads``: OpenVINO's inference threads (the cores ingestion may use); ``bf16``: compute
    in bf16 when the CPU can (``precision`` says what was chosen, once loaded)."""

    def __init__(
        self,
        cache_dir: Path | str,
        *,
        threads: int,
        bf16: bool = True,
        batch_size: int = BATCH,
        meta: dict | None = None,
    ) -> None:
        super().__init__(cache_dir, intra_op_threads=threads, batch_size=batch_size, query_cache_size=0, meta=meta)
        self.bf16 = bf16
        self.precision = ""

    def __repr__(self) -> str:
        state = f"loaded, {self.precision}" if self._session is not None else "not loaded"
        return f"OpenVinoEncoder({str(self.cache_dir)!r}, model={self.name!r}, {state})"

    def _open_session(self, lone: bool = False) -> tuple[Any, tuple[str, ...]]:
        """OpenVINO's compiled model (``lone`` changes nothing: it sizes its own threads, and
        the passage encoder is never given a lone session)."""
        import openvino as ov

        core = ov.Core()
        capable = "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        self.precision = "bf16" if self.bf16 and capable else "f32"
        compiled = core.compile_model(
            core.read_model(str(self.cache_dir / ONNX_FILE)),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": self.precision,
                "INFERENCE_NUM_THREADS": self.intra_op_threads,
                "PERFORMANCE_HINT": "LATENCY",
                "NUM_STREAMS": 1,
                "ENABLE_CPU_PINNING": False,  # the parse workers share these cores
            },
        )
        session = _Compiled(compiled)
        return session, session.input_names

    def _check(self, tokenizer: Tokenizer, session: Any) -> None:
        """The fixed verification texts, in padded batches of 8, against onnxruntime on this
        export one text at a time. (Batches of 32 of the longest texts would grow both
        runtimes' memory pools by hundreds of MiB for the rest of the run.)"""
        texts = list(VERIFICATION_TEXTS)
        reference = OnnxEncoder(
            self.cache_dir, intra_op_threads=self.intra_op_threads, query_cache_size=0, meta=self.meta
        )
        expected = np.vstack([reference.embed_single(text) for text in texts])
        del reference
        gc.collect()  # the reference's session, now, not at some later collection
        got = self._embed_sorted(tokenizer, session, texts, 8)
        cos = cosines(got, expected)
        worst = int(np.argmin(cos))
        least = float(cos[worst])
        if least < PASSAGE_MIN_COSINE:
            raise ModelError(
                f"OpenVINO ({self.precision}) does not reproduce the export in {self.cache_dir}: cosine "
                f"{least:.6f} < {PASSAGE_MIN_COSINE} on {texts[worst][:80]!r}"
            )
