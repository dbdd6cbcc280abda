"""Parsers that misbehave on purpose, run by real parse workers in test_parse_pool.py: what a
hostile file can do to a parser (crash it, exhaust its memory, hang it, raise), made
deterministic. The file's name says which; any other file is parsed for real."""

from __future__ import annotations

import ctypes
import os
import time

from ingest.chunker import ChunkParams
from ingest.workers.parse import Failed, Parsed, ParseJob, parse_file


def misbehave(job: ParseJob, offsets, params: ChunkParams) -> Parsed | Failed:
    name = job.path.stem
    if name == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if name == "exits":
        os._exit(3)
    if name == "hangs":
        time.sleep(3600)
    if name == "hungry":
        blocks = []
        while True:
            blocks.append(bytearray(64 << 20))
    if name == "raises":
        raise ZeroDivisionError("division by zero in a parser")
    return parse_file(job, offsets, params)
