"""Charts drawn on the server as inline SVG: no JavaScript, nothing from another site.

Each chart carries its own labels, values and legend, and tells its series apart by
marker shape, line dash or hatching as well as by colour, so it reads the same on a
black-and-white printout and to a screen reader (role="img" with a title).
Pure functions of their figures; numbers are formatted for the active language
(12,3% in Vietnamese).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

POOR_COLOUR = "#b02a37"
NEAR_POOR_COLOUR = "#9a6700"
GRID_COLOUR = "#d0d4d9"
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Series:
    label: str
    values: list[Decimal | None]
    colour: str
    marker: str = "circle"  # or "square"
    dashed: bool = False


def percent_label(value: Decimal | None) -> str:
    return "–" if value is None else f"{number_format(value, decimal_pos=1)}%"


def _nice_top(largest: Decimal) -> int:
    """The top of the value axis: a round number above the largest value (at least 10%)."""
    for top in (10, 20, 30, 40, 50, 60, 80, 100):
        if largest <= top:
            return top
    return int(largest) + 10


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return (f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="#fff" stroke="{colour}" '
                f'stroke-width="2"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'


def line_chart(title: str, years: list[int], series: list[Series], *, width: int = 640,
               height: int = 280) -> SafeString:
    """Rates year by year: one line per series, each point labelled with its value."""
    left, right, top, bottom = 44, 16, 40, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values if v is not None]
    top_value = _nice_top(max(values, default=Decimal(0)))
    step = plot_w / max(len(years), 1)

    def x_of(index: int) -> float:
        return left + step * (index + 0.5)

    def y_of(value: Decimal) -> float:
        return top + plot_h - float(value) / top_value * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" {FONT} font-size="12"><title>{escape(title)}</title>']
    for tick in range(0, top_value + 1, max(top_value // 5, 1)):
        y = y_of(Decimal(tick))
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{tick}%</text>')
    for index, year in enumerate(years):
        parts.append(f'<text x="{x_of(index):.1f}" y="{height - 12}" text-anchor="middle" fill="#000">{year}</text>')
    # Legend along the top: the marker and the line style of each series, then its name.
    legend_x = left
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 28}" y1="14" y2="14" stroke="{s.colour}" '
                     f'stroke-width="2"{dash}/>')
        parts.append(_marker(s.marker, legend_x + 14, 14, s.colour))
        parts.append(f'<text x="{legend_x + 34}" y="18" fill="#000">{escape(s.label)}</text>')
        legend_x += 44 + 7 * len(s.label)
    for number, s in enumerate(series):
        points = [(x_of(i), y_of(v), v) for i, v in enumerate(s.values) if v is not None]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>')
        for x, y, value in points:
            parts.append(_marker(s.marker, x, y, s.colour))
            # The first series' labels above its points, the others' below, so they do not collide.
            label_y = y - 9 if number == 0 else y + 18
            parts.append(f'<text x="{x:.1f}" y="{label_y:.1f}" text-anchor="middle" fill="#000" '
                         f'font-weight="600">{escape(percent_label(value))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


@dataclass(frozen=True)
class BarRow:
    label: str
    values: list[Decimal | None]  # one per series, in percent


def bar_chart(title: str, rows: list[BarRow], series: list[Series], *, width: int = 640,
              pattern_id: str = "hatch") -> SafeString:
    """Shares in percent as horizontal bars: a label over each group, one bar per series, its value beside."""
    left, right, bar_h, gap = 8, 64, 12, 12
    plot_w = width - left - right
    row_h = 18 + bar_h * len(series) + gap
    legend_h = 30
    height = legend_h + row_h * len(rows) + 8

    def fill(s: Series, index: int) -> str:
        return f"url(#{pattern_id})" if index % 2 else s.colour

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" {FONT} font-size="12"><title>{escape(title)}</title>']
    # Hatching tells the second series apart from the first without colour.
    if len(series) > 1:
        parts.append(f'<defs><pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
                     f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
                     f'<line x1="0" y1="0" x2="0" y2="6" stroke="{series[1].colour}" stroke-width="3"/>'
                     f'</pattern></defs>')
    legend_x = left
    for index, s in enumerate(series):
        parts.append(f'<rect x="{legend_x}" y="6" width="16" height="12" fill="{fill(s, index)}" '
                     f'stroke="{s.colour}"/>')
        parts.append(f'<text x="{legend_x + 22}" y="16" fill="#000">{escape(s.label)}</text>')
        legend_x += 40 + 7 * len(s.label)
    for r, row in enumerate(rows):
        y0 = legend_h + r * row_h
        parts.append(f'<text x="{left}" y="{y0 + 12}" fill="#000">{escape(row.label)}</text>')
        for index, (s, value) in enumerate(zip(series, row.values, strict=True)):
            y = y0 + 18 + index * bar_h
            length = 0 if value is None else float(value) / 100 * plot_w
            parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{bar_h - 2}" fill="#f3f4f6"/>')
            parts.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_h - 2}" '
                         f'fill="{fill(s, index)}" stroke="{s.colour}" stroke-width="{1 if length else 0}"/>')
            parts.append(f'<text x="{left + plot_w + 6}" y="{y + bar_h - 3}" fill="#000">'
                         f'{escape(percent_label(value))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
