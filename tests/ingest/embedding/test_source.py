"""What is read of a model folder without loading the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.embedder import Embedder
from ingest.embedding.source import configured_max_seq_length, resolve_source


@pytest.mark.slow
def test_the_window_read_from_the_folder_is_the_loaded_models(embedder: Embedder) -> None:
    """A first build cuts passages to the window before the model has loaded: it must be the
    window the loaded model then embeds with."""
    assert configured_max_seq_length(resolve_source(embedder.spec.location).path) == embedder.model.max_seq_length
    fresh = Embedder()
    assert fresh.max_seq_length == embedder.model.max_seq_length
    assert fresh._model is None  # told without loading the model


def test_a_folder_that_does_not_say_its_window_needs_the_model(tmp_path: Path) -> None:
    bundled = resolve_source("all-MiniLM-L6-v2").path
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy2(bundled / "modules.json", folder / "modules.json")
    assert configured_max_seq_length(folder) is None  # no sentence_bert_config.json
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 384}))
    assert configured_max_seq_length(folder) == 384
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": None}))
    assert configured_max_seq_length(folder) is None
    (folder / "modules.json").write_text("not json")
    assert configured_max_seq_length(folder) is None
