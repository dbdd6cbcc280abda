"""Retrieval evaluation on question sets with gold answers (`clausewise eval`).

A tool beside the service, not part of it. Its dependencies go one way: it uses the write side
(``ingest``: settings, errors, the pipeline and the index store, to re-ingest for ``--sweep``)
and the search layer (``service.search``: the engine and its retriever) as libraries, and
nothing in it imports the main CLI or the HTTP layer; ``service/cli.py`` registers the command
(``tests/evaluation/test_eval_package.py`` keeps both rules).

- :mod:`~evaluation.qa`: question sets; :mod:`~evaluation.hits`: what counts as a hit;
  :mod:`~evaluation.metrics`: per-question outcomes and the metrics of a mode;
- :mod:`~evaluation.runner`: asking every question, in-process or over HTTP;
- :mod:`~evaluation.grid` and :mod:`~evaluation.sweep`: the ``--sweep`` grid, its results, its run;
- :mod:`~evaluation.render`: every output, for ``eval`` and ``--sweep`` alike;
- :mod:`~evaluation.cli`: the command.
"""
