"""Line charts as SVG, with no plotting library: panels of polylines with axes, ticks and a legend."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 460, 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 58, 14, 34, 46


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False


@dataclass
class Panel:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    log_x: bool = False
    x_ticks: list[float] | None = None
    y_range: tuple[float, float] | None = None
    y_percent: bool = False
    legend_below: bool = False  # the legend in the lower right corner, where the lines are not

    def line(self, label: str, points: list[tuple[float, float]], colour: str, dashed: bool = False) -> None:
        self.series.append(Series(label, points, colour, dashed))


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = max(high - low, 1e-9)
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.0%}"
    return f"{value:g}" if abs(value) < 10_000 else f"{value:.0f}"


def panel_svg(panel: Panel, left: float, top: float) -> str:
    xs = [x for s in panel.series for x, _ in s.points if not panel.log_x or x > 0]
    ys = [y for s in panel.series for _, y in s.points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = panel.y_range or (min(0.0, min(ys)), max(ys) * 1.05)

    def fx(x: float) -> float:
        if panel.log_x:
            share = (math.log10(x) - math.log10(x_low)) / (math.log10(x_high) - math.log10(x_low))
        else:
            share = (x - x_low) / (x_high - x_low)
        return left + MARGIN_LEFT + share * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def fy(y: float) -> float:
        share = (y - y_low) / (y_high - y_low)
        return top + HEIGHT - MARGIN_BOTTOM - share * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

    out = [f'<text x="{left + WIDTH / 2}" y="{top + 20}" text-anchor="middle" font-size="14" '
           f'font-weight="bold">{escape(panel.title)}</text>']
    x0, x1 = fx(x_low), fx(x_high)
    y0, y1 = fy(y_low), fy(y_high)
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="#999"/>')
    for tick in panel.x_ticks or _nice_ticks(x_low, x_high):
        if x_low <= tick <= x_high:
            out.append(f'<line x1="{fx(tick)}" y1="{y0}" x2="{fx(tick)}" y2="{y0 + 4}" stroke="#555"/>')
            out.append(f'<text x="{fx(tick)}" y="{y0 + 16}" text-anchor="middle" font-size="11">'
                       f'{_label(tick, False)}</text>')
    for tick in _nice_ticks(y_low, y_high):
        out.append(f'<line x1="{x0}" y1="{fy(tick)}" x2="{x1}" y2="{fy(tick)}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 5}" y="{fy(tick) + 4}" text-anchor="end" font-size="11">'
                   f'{_label(tick, panel.y_percent)}</text>')
    out.append(f'<text x="{(x0 + x1) / 2}" y="{top + HEIGHT - 10}" text-anchor="middle" font-size="12">'
               f'{escape(panel.x_label)}</text>')
    out.append(f'<text x="{left + 14}" y="{(y0 + y1) / 2}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 {left + 14} {(y0 + y1) / 2})">{escape(panel.y_label)}</text>')
    for index, series in enumerate(panel.series):
        path = " ".join(f"{fx(x):.1f},{fy(min(max(y, y_low), y_high)):.1f}" for x, y in series.points
                        if not panel.log_x or x > 0)
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{series.colour}" stroke-width="2"{dash}/>')
        ly = (y0 - 8 - (len(panel.series) - 1 - index) * 16) if panel.legend_below else y1 + 14 + index * 16
        out.append(f'<line x1="{x1 - 150}" y1="{ly - 4}" x2="{x1 - 128}" y2="{ly - 4}" stroke="{series.colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{x1 - 124}" y="{ly}" font-size="11">{escape(series.label)}</text>')
    return "\n".join(out)


def figure_svg(panels: list[Panel], columns: int = 2, title: str = "") -> str:
    rows = math.ceil(len(panels) / columns)
    head = 30 if title else 0
    width, height = columns * WIDTH, rows * HEIGHT + head
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        parts.append(f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
                     f'{escape(title)}</text>')
    for index, panel in enumerate(panels):
        parts.append(panel_svg(panel, (index % columns) * WIDTH, head + (index // columns) * HEIGHT))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
