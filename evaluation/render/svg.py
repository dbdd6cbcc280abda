"""The recall@k curves as inline SVG: no script, no external file, so that ``report.html``
stays self-contained and ``recall-curve.svg`` opens anywhere."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from evaluation.render.format import color

if TYPE_CHECKING:
    from evaluation.runner import EvalRun


WIDTH, HEIGHT = 700, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 180, 36, 44
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
e = html.escape


class _Plot:
    """The geometry of a chart of k = 1..n against a share in [0, 1], and its parts."""

    def __init__(self, n: int) -> None:
        self.n = n

    def x(self, k: int) -> float:
        return LEFT + (PLOT_W * (k - 1) / (self.n - 1) if self.n > 1 else PLOT_W / 2)

    def y(self, v: float) -> float:
        return TOP + PLOT_H * (1 - v)

    def frame(self, title: str, y_label: str, marks: list[int]) -> list[str]:
        """The title, the grid every 20 %, dashed guides at ``marks``, the axes and their ticks."""
        x, y, n = self.x, self.y, self.n
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
            f'role="img" aria-label="{e(title)}" font-family="system-ui, sans-serif" font-size="12">',
            f"<title>{e(title)}</title>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
            f'<text x="{LEFT}" y="{TOP - 14}" font-size="14" font-weight="600">{e(title)}</text>',
        ]
        for i in range(0, 11, 2):
            v = i / 10
            out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + PLOT_W}" y2="{y(v):.1f}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#444">{i * 10}%</text>')
        for k in marks:
            if 1 < k <= n:
                out.append(
                    f'<line x1="{x(k):.1f}" y1="{TOP}" x2="{x(k):.1f}" y2="{TOP + PLOT_H}" stroke="#b0b0b0" stroke-dasharray="4 4"/>'
                )
        step = 1 if n <= 20 else 5
        for k in range(1, n + 1):
            if k == 1 or k % step == 0 or k == n:
                out.append(
                    f'<line x1="{x(k):.1f}" y1="{TOP + PLOT_H}" x2="{x(k):.1f}" y2="{TOP + PLOT_H + 4}" stroke="#444"/>'
                )
                out.append(f'<text x="{x(k):.1f}" y="{TOP + PLOT_H + 18}" text-anchor="middle" fill="#444">{k}</text>')
        out.append(f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + PLOT_W}" y2="{TOP + PLOT_H}" stroke="#444"/>')
        out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}" stroke="#444"/>')
        out.append(
            f'<text x="{LEFT + PLOT_W / 2}" y="{HEIGHT - 8}" text-anchor="middle" fill="#222">k (passages returned)</text>'
        )
        out.append(
            f'<text transform="translate(14 {TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle" fill="#222">{e(y_label)}</text>'
        )
        return out

    def line(self, i: int, name: str, values: list[float], stroke: str, y_label: str) -> list[str]:
        """The ``i``-th series: its line, a point per k (with its value on hover), its legend."""
        x, y = self.x, self.y
        points = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in enumerate(values, 1))
        out = [f'<polyline points="{points}" fill="none" stroke="{stroke}" stroke-width="2.5"/>']
        for k, v in enumerate(values, 1):
            out.append(
                f'<circle cx="{x(k):.1f}" cy="{y(v):.1f}" r="3.5" fill="{stroke}"><title>{e(name)} {e(y_label.removesuffix("k"))}{k} = {v:.3f}</title></circle>'
            )
        ly = TOP + 10 + 22 * i
        lx = LEFT + PLOT_W + 16
        final = f": {values[-1]:.2f} at k={len(values)}" if values else ""
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{stroke}" stroke-width="2.5"/>')
        out.append(f'<circle cx="{lx + 11}" cy="{ly}" r="3.5" fill="{stroke}"/>')
        out.append(f'<text x="{lx + 28}" y="{ly + 4}" fill="#222">{e(name)}{final}</text>')
        return out


def svg_curve(
    series: list[tuple[str, list[float], str]], title: str, marks: list[int] | None = None, y_label: str = "recall@k"
) -> str:
    """A line chart of recall@k (k = 1..n) with one line per ``(name, values, colour)``,
    as an inline SVG: no script, no external file. ``marks`` get dashed guide lines."""
    plot = _Plot(max((len(values) for _, values, _ in series), default=1))
    out = plot.frame(title, y_label, marks or [])
    for i, (name, values, stroke) in enumerate(series):
        out += plot.line(i, name, values, stroke, y_label)
    out.append("</svg>")
    return "\n".join(out)


def recall_svg(run: EvalRun) -> str:
    marks = sorted(set(run.ks))
    return svg_curve(
        [(r.mode, r.curve(), color(r.mode, i)) for i, r in enumerate(run.results)], "Passage recall@k per mode", marks
    )


def doc_recall_svg(run: EvalRun) -> str | None:
    """The document-level curve; none when every question is asked of its own document
    (every passage then comes from it)."""
    if run.per_doc or not any("doc_recall@1" in r.metrics for r in run.results):
        return None
    marks = sorted(set(run.ks))
    return svg_curve(
        [(r.mode, r.doc_curve(), color(r.mode, i)) for i, r in enumerate(run.results)],
        "Document recall@k per mode",
        marks,
        y_label="doc recall@k",
    )
