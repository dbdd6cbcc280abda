"""Helpers of the ONNX encoder tests: altered copies of an exported cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ingest.embedding.cache import META_FILE, ONNX_FILE, TOKENIZER_FILE, WEIGHTS_FILE


def clone_cache(src: Path, dst: Path, *, copy_onnx: bool = False) -> Path:
    """A copy of a cache folder to alter. ``model.onnx``, its weights and ``tokenizer.json``
    are hard links (same size and mtime, no 90 MB copy) unless ``copy_onnx``: never write into
    a linked file."""
    dst.mkdir(parents=True)
    for name in (ONNX_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        if copy_onnx:
            shutil.copy2(src / name, dst / name)
        else:
            os.link(src / name, dst / name)
    shutil.copy2(src / META_FILE, dst / META_FILE)
    return dst


def edit_meta(cache: Path, change) -> None:
    meta = json.loads((cache / META_FILE).read_text())
    change(meta)
    (cache / META_FILE).write_text(json.dumps(meta))
