"""Inline SVG charts for the HTML reports: line charts, histograms, heatmaps.

Plain SVG text (no scripts, fonts or network), so a report is one self-contained file that any
browser renders. Every chart has a <title> and role="img" for accessibility and for tests.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
W, H = 560, 260
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 28, 40


def _e(text: object) -> str:
    return html.escape(str(text))


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= scale:
            return f"{v / (1e3 if suffix == 'k' else scale):.4g}{suffix}"
    if abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def _frame(title: str, body: str, xlabel: str, ylabel: str, cls: str) -> str:
    return (f'<svg class="chart {cls}" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>'
            f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>'
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>'
            f'{body}<text x="{(W + PAD_L) / 2}" y="{H - 6}" text-anchor="middle" font-size="11">{_e(xlabel)}</text>'
            f'<text x="14" y="{H / 2}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 14 {H / 2})">{_e(ylabel)}</text></svg>')


def _axes(x0: float, x1: float, y0: float, y1: float, sx, sy) -> str:
    parts = [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#333"/>',
             f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#333"/>']
    for t in _ticks(y0, y1):
        y = sy(t)
        parts.append(f'<line x1="{PAD_L - 4}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{H - PAD_B}" x2="{x:.1f}" y2="{H - PAD_B + 4}" stroke="#333"/>'
                     f'<text x="{x:.1f}" y="{H - PAD_B + 15}" text-anchor="middle" font-size="10">{_fmt(t)}</text>')
    return "".join(parts)


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def line_chart(series: dict[str, Sequence[tuple[float, float]]], title: str, xlabel: str, ylabel: str, *,
               bands: dict[str, Sequence[float]] | None = None, reference: dict[str, float] | None = None) -> str:
    """Lines (x, y) per named series; ``bands`` gives ± a standard error per point;
    ``reference`` draws dashed horizontal lines (e.g. chance level)."""
    pts = [(x, y) for s in series.values() for x, y in s if math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return f'<p class="empty">{_e(title)}: no data</p>'
    ys = [y for _, y in pts] + [v for v in (reference or {}).values() if math.isfinite(v)]
    for name, err in (bands or {}).items():
        ys += [y + e * s for (_, y), e in zip(series[name], err, strict=False) for s in (-1, 1) if math.isfinite(e)]
    x0, x1 = min(x for x, _ in pts), max(x for x, _ in pts)
    y0, y1 = min(ys), max(ys)
    if y0 == y1:
        y0, y1 = y0 - 0.5, y1 + 0.5
    sx, sy = _scale(x0, x1, PAD_L, W - PAD_R), _scale(y0, y1, H - PAD_B, PAD_T)
    body = [_axes(x0, x1, y0, y1, sx, sy)]
    for i, (name, value) in enumerate((reference or {}).items()):
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{sy(value):.1f}" y2="{sy(value):.1f}" stroke="#999" '
                    f'stroke-dasharray="4 3"/><text x="{W - PAD_R - 2}" y="{sy(value) - 3 - 10 * i:.1f}" '
                    f'text-anchor="end" font-size="10" fill="#666">{_e(name)}</text>')
    for i, (name, s) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in s if math.isfinite(x) and math.isfinite(y)]
        err = (bands or {}).get(name)
        if err:
            upper = [(sx(x), sy(y + e)) for (x, y), e in zip(s, err, strict=False) if math.isfinite(e)]
            lower = [(sx(x), sy(y - e)) for (x, y), e in zip(s, err, strict=False) if math.isfinite(e)]
            poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in upper + lower[::-1])
            body.append(f'<polygon points="{poly}" fill="{color}" opacity="0.15"/>')
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
        body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        if len(good) <= 40:
            body.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>' for x, y in good)
        body.append(f'<text x="{PAD_L + 8}" y="{PAD_T + 12 + 12 * i}" font-size="10" fill="{color}">{_e(name)}</text>')
    return _frame(title, "".join(body), xlabel, ylabel, "line")


def histogram(values: Sequence[float], title: str, xlabel: str, bins: int = 30) -> str:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return f'<p class="empty">{_e(title)}: no data</p>'
    lo, hi = min(vals), max(vals)
    if hi == lo:
        hi = lo + 1.0
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    sx, sy = _scale(lo, hi, PAD_L, W - PAD_R), _scale(0, max(counts), H - PAD_B, PAD_T)
    body = [_axes(lo, hi, 0, max(counts), sx, sy)]
    for i, c in enumerate(counts):
        xa, xb = sx(lo + i * width), sx(lo + (i + 1) * width)
        body.append(f'<rect class="bar" x="{xa:.1f}" y="{sy(c):.1f}" width="{max(xb - xa - 1, 1):.1f}" '
                    f'height="{sy(0) - sy(c):.1f}" fill="{PALETTE[0]}"/>')
    return _frame(title, "".join(body), xlabel, "documents", "histogram")


def heatmap(matrix: Sequence[Sequence[float | None]], rows: Sequence[str], cols: Sequence[str], title: str,
            xlabel: str, ylabel: str, *, marks: Sequence[Sequence[bool]] | None = None) -> str:
    """Cells coloured from white (0) to dark blue (the maximum); ``marks`` outlines cells (e.g.
    data the checkpoint had seen). Values are printed in cells when the grid is small."""
    finite = [v for r in matrix for v in r if v is not None and math.isfinite(v)]
    if not finite:
        return f'<p class="empty">{_e(title)}: no data</p>'
    top = max(finite) or 1.0
    left, cw = 110, max(8.0, min(60.0, (W + 200 - 130) / max(1, len(cols))))
    ch = max(8.0, min(28.0, 360 / max(1, len(rows))))
    width, height = left + cw * len(cols) + 20, PAD_T + ch * len(rows) + 50
    body = []
    for i, (name, r) in enumerate(zip(rows, matrix, strict=True)):
        y = PAD_T + i * ch
        body.append(f'<text x="{left - 4}" y="{y + ch / 2 + 4:.1f}" text-anchor="end" font-size="10">{_e(name)}</text>')
        for j, v in enumerate(r):
            x = left + j * cw
            if v is None or not math.isfinite(v):
                fill, label = "#f4f4f4", ""
            else:
                t = v / top
                fill = f"rgb({int(255 - 225 * t)},{int(255 - 180 * t)},{int(255 - 80 * t)})"
                label = f"{v:.2f}"
            stroke = ' stroke="#000" stroke-width="1.5"' if marks and marks[i][j] else ' stroke="#fff"'
            body.append(f'<rect class="cell" x="{x:.1f}" y="{y:.1f}" width="{cw:.1f}" height="{ch:.1f}" '
                        f'fill="{fill}"{stroke}><title>{_e(name)} / {_e(cols[j])}: {label or "n/a"}</title></rect>')
            if label and cw >= 30 and ch >= 14:
                color = "#fff" if v / top > 0.6 else "#000"
                body.append(f'<text x="{x + cw / 2:.1f}" y="{y + ch / 2 + 4:.1f}" text-anchor="middle" '
                            f'font-size="9" fill="{color}">{label}</text>')
    for j, name in enumerate(cols):
        x = left + j * cw + cw / 2
        body.append(f'<text x="{x:.1f}" y="{PAD_T + ch * len(rows) + 12}" text-anchor="middle" '
                    f'font-size="9">{_e(name)}</text>')
    return (f'<svg class="chart heatmap" role="img" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>'
            f'<rect width="100%" height="100%" fill="#fff"/>'
            f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{_e(title)}</text>'
            f'{"".join(body)}<text x="{(left + width) / 2:.0f}" y="{height - 8:.0f}" text-anchor="middle" '
            f'font-size="11">{_e(xlabel)}</text><text x="12" y="{height / 2:.0f}" font-size="11" '
            f'transform="rotate(-90 12 {height / 2:.0f})" text-anchor="middle">{_e(ylabel)}</text></svg>')
