"""Every output of ``clausewise eval`` and ``eval --sweep``, in one place.

- :mod:`~evaluation.render.format`: metric labels, number formats, colours, the shared sentences;
- :mod:`~evaluation.render.tables`: the tables, built once (metrics per mode, per question type,
  the sweep's settings and winners) and drawn by each format below;
- :mod:`~evaluation.render.terminal`, :mod:`~evaluation.render.markdown`,
  :mod:`~evaluation.render.html`, :mod:`~evaluation.render.svg`, :mod:`~evaluation.render.json`:
  one module a format;
- :mod:`~evaluation.render.files`: the report folders and their file names.
"""

from evaluation.render.files import write_reports, write_sweep_reports
from evaluation.render.markdown import markdown_table
from evaluation.render.terminal import print_sweep, print_table

__all__ = ["markdown_table", "print_sweep", "print_table", "write_reports", "write_sweep_reports"]
