"""Server-rendered SVG charts for the finance dashboard (no JavaScript, no CDN).

Each function returns a self-contained ``<svg>`` string. Every piece of text is escaped, every bar
or point carries a ``<title>`` so hovering shows its exact amount, and colours come from the Django
admin's CSS variables so the charts follow its light and dark themes. Amounts stay ``Decimal``;
floats are used only for pixel positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

from billing_project.money import quantize

WIDTH, HEIGHT = 640, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 72, 16, 16, 40
NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True)
class Point:
    """One bar or point: ``label`` on the x axis, ``title`` in the tooltip, ``amount`` in money."""

    label: str
    title: str
    amount: Decimal


def money_label(amount: Decimal, currency: str, *, compact: bool = False) -> str:
    """Return ``amount`` as "USD 1,234.56" (or "USD 1.2k" when ``compact``, for axis ticks)."""
    if compact and abs(amount) >= 1000:
        for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
            if abs(amount) >= size:
                scaled = (amount / size).normalize()
                text = f"{scaled:.1f}".rstrip("0").rstrip(".")
                return f"{currency} {text}{suffix}"
    if compact and amount == amount.to_integral_value():
        return f"{currency} {amount.to_integral_value():,f}"
    return f"{currency} {quantize(amount, currency):,f}"


def nice_ticks(maximum: Decimal, count: int = 4) -> list[Decimal]:
    """Return evenly spaced round tick values from 0 covering ``maximum`` (about ``count`` steps)."""
    if maximum <= 0:
        return [Decimal(0), Decimal(1)]
    raw = maximum / count
    magnitude = Decimal(10) ** (raw.adjusted())
    step = next(s * magnitude for s in NICE_STEPS if s * magnitude >= raw)
    ticks = [Decimal(0)]
    while ticks[-1] < maximum:
        ticks.append(ticks[-1] + step)
    return ticks


def _empty(title: str, message: str) -> SafeString:
    return mark_safe(
        f'<svg class="bo-chart bo-chart-empty" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(message)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{HEIGHT - 1}" rx="6" class="bo-empty-frame"/>'
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" dominant-baseline="middle" '
        f'class="bo-empty-text">{escape(message)}</text></svg>'
    )


def _frame(title: str, ticks: list[Decimal], currency: str, y_of) -> list[str]:
    """Return the opening tag, the horizontal grid lines and the y-axis labels."""
    parts = [
        f'<svg class="bo-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    whole = all(t == t.to_integral_value() for t in ticks)
    for tick in ticks:
        y = y_of(tick)
        label = money_label(tick, currency, compact=whole or abs(tick) >= 1000)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="{"bo-axis" if tick == 0 else "bo-grid"}"/>'
            f'<text x="{PAD_LEFT - 8}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'class="bo-tick">{escape(label)}</text>'
        )
    return parts


def _scale(points: Sequence[Point]):
    ticks = nice_ticks(max(p.amount for p in points))
    top = ticks[-1]
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_of(amount: Decimal) -> Decimal:
        # Pixel geometry, kept in Decimal like every amount it is drawn from.
        return (PAD_TOP + plot_h * (1 - max(amount, Decimal(0)) / top)).quantize(Decimal("0.1"))

    return ticks, y_of


def _x_labels(points: Sequence[Point], centers: list[float], every: int) -> list[str]:
    parts = []
    for i, (p, x) in enumerate(zip(points, centers, strict=False)):
        if i % every == 0 or i == len(points) - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 18}" text-anchor="middle" '
                f'class="bo-tick">{escape(p.label)}</text>'
            )
    return parts


def bar_chart(
    points: Sequence[Point], *, currency: str, title: str, empty_message: str = "No data yet", label_every: int = 1
) -> SafeString:
    """Return an SVG bar chart of ``points`` in ``currency``, or a "No data yet" panel when all are 0."""
    if not points or all(p.amount == 0 for p in points):
        return _empty(title, empty_message)
    ticks, y_of = _scale(points)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    slot = plot_w / len(points)
    bar_w = max(slot * 0.68, 1.0)
    parts = _frame(title, ticks, currency, y_of)
    centers = []
    base = y_of(Decimal(0))
    for i, p in enumerate(points):
        x = PAD_LEFT + slot * i + (slot - bar_w) / 2
        centers.append(x + bar_w / 2)
        y = y_of(p.amount)
        tooltip = f"{p.title}: {money_label(p.amount, currency)}"
        parts.append(
            f'<g class="bo-bar"><title>{escape(tooltip)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(base - y, 0):.1f}" rx="2"/>'
            f'<rect x="{PAD_LEFT + slot * i:.1f}" y="{PAD_TOP}" width="{slot:.1f}" height="{base - PAD_TOP:.1f}" '
            f'class="bo-hit"/></g>'
        )
    parts += _x_labels(points, centers, label_every)
    parts.append("</svg>")
    return mark_safe("".join(parts))


def line_chart(
    points: Sequence[Point], *, currency: str, title: str, empty_message: str = "No data yet", label_every: int = 1
) -> SafeString:
    """Return an SVG area/line chart of ``points`` with a dot (and tooltip) per point."""
    if not points or all(p.amount == 0 for p in points):
        return _empty(title, empty_message)
    ticks, y_of = _scale(points)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    slot = plot_w / len(points)
    centers = [PAD_LEFT + slot * i + slot / 2 for i in range(len(points))]
    ys = [y_of(p.amount) for p in points]
    base = y_of(Decimal(0))
    parts = _frame(title, ticks, currency, y_of)
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(centers, ys, strict=False))
    area = f"{centers[0]:.1f},{base:.1f} {line} {centers[-1]:.1f},{base:.1f}"
    parts.append(f'<polygon points="{area}" class="bo-area"/><polyline points="{line}" class="bo-line"/>')
    for p, x, y in zip(points, centers, ys, strict=False):
        tooltip = f"{p.title}: {money_label(p.amount, currency)}"
        parts.append(
            f'<g class="bo-point"><title>{escape(tooltip)}</title>'
            f'<rect x="{x - slot / 2:.1f}" y="{PAD_TOP}" width="{slot:.1f}" '
            f'height="{base - PAD_TOP:.1f}" class="bo-hit"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/></g>'
        )
    parts += _x_labels(points, centers, label_every)
    parts.append("</svg>")
    return mark_safe("".join(parts))
