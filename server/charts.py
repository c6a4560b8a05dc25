"""Inline SVG charts drawn on the server: no script, no CDN, readable at any width."""

from __future__ import annotations

from markupsafe import Markup, escape

from sheets_sync.core import bands

# The grade bands drawn as zones and grid lines (bands.py holds the thresholds).
_ZONES = (("red", 0.0, bands.GRADE_YELLOW), ("yellow", bands.GRADE_YELLOW, bands.GRADE_GREEN),
          ("green", bands.GRADE_GREEN, 1.0))


def band(score: float | None) -> str:
    """The grade band of a score (green, yellow, red), grey when unscored: the end-of-cycle colours."""
    return bands.grade_band(score) or "grey"


def fmt(score: float | None) -> str:
    """A score as people read it: 0.58, or an em dash when there is none."""
    return "—" if score is None else f"{score:.2f}"


def bar_chart(items: list[tuple[str, str, float | None, str]], title: str) -> Markup:
    """Horizontal bars, one per (label, tooltip, score, tone), with the grade bands' lines."""
    left, right, top, row_h = 130, 56, 30, 32
    width = 560
    plot = width - left - right
    height = top + row_h * max(len(items), 1) + 8
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for mark in (0.0, bands.GRADE_YELLOW, bands.GRADE_GREEN, 1.0):
        x = left + plot * mark
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{top - 10}" text-anchor="middle">{mark:.1f}</text>'
        )
    for i, (name, tip, score, tone) in enumerate(items):
        y = top + i * row_h
        w = plot * max(0.0, min(score or 0.0, 1.0))
        parts.append(
            f'<g class="bar b-{escape(tone)}"><title>{escape(tip)}: {fmt(score)}</title>'
            f'<text class="label" x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(name)}</text>'
            f'<rect x="{left}" y="{y + 5}" width="{max(w, 2):.1f}" height="{row_h - 10}" rx="3"/>'
            f'<text class="value" x="{left + max(w, 2) + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">'
            f"{fmt(score)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(points: list[tuple[str, float | None]], title: str) -> Markup:
    """A small line of one unit's score over the cycle, on the three colour bands."""
    width, height, pad = 220, 84, 6
    scored = [(d, s) for d, s in points if s is not None]
    parts = [
        f'<svg class="chart spark" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]

    def y_of(score: float) -> float:
        return pad + (height - 2 * pad) * (1 - max(0.0, min(score, 1.0)))

    for name, lo, hi in _ZONES:
        parts.append(
            f'<rect class="zone z-{name}" x="0" y="{y_of(hi):.1f}" width="{width}" height="{y_of(lo) - y_of(hi):.1f}"/>'
        )
    if scored:
        n = len(scored)
        xs = [pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
        coords = " ".join(f"{x:.1f},{y_of(s):.1f}" for x, (_, s) in zip(xs, scored, strict=True))
        if n > 1:
            parts.append(f'<polyline class="line" points="{coords}"/>')
        for x, (day, s) in zip(xs, scored, strict=True):
            parts.append(
                f'<circle class="dot b-{band(s)}" cx="{x:.1f}" cy="{y_of(s):.1f}" r="3.5">'
                f"<title>{escape(day)}: {fmt(s)}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def cycle_chart(points: list[tuple[str, float | None, bool]], title: str) -> Markup:
    """One column per cycle (cycle, score, final): a unit's trend across quarters; open cycles drawn lighter."""
    width, height, top, bottom = 220, 104, 18, 18
    plot = height - top - bottom
    n = max(len(points), 1)
    slot = width / n
    parts = [
        f'<svg class="chart cycles" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for mark in (bands.GRADE_YELLOW, bands.GRADE_GREEN):
        y = top + plot * (1 - mark)
        parts.append(f'<line class="grid" x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"/>')
    for i, (cycle, score, final) in enumerate(points):
        h = plot * max(0.0, min(score or 0.0, 1.0))
        x = i * slot + slot * 0.2
        kind = "final" if final else "open"
        parts.append(
            f'<g class="col b-{band(score)} {kind}"><title>{escape(cycle)}: {fmt(score)}'
            f'{" (final)" if final else ""}</title>'
            f'<rect x="{x:.1f}" y="{top + plot - max(h, 2):.1f}" width="{slot * 0.6:.1f}" '
            f'height="{max(h, 2):.1f}" rx="2"/>'
            f'<text class="value" x="{i * slot + slot / 2:.1f}" y="{top + plot - max(h, 2) - 3:.1f}" '
            f'text-anchor="middle">{fmt(score)}</text>'
            f'<text class="tick" x="{i * slot + slot / 2:.1f}" y="{height - 5}" text-anchor="middle">'
            f"{escape(cycle)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
