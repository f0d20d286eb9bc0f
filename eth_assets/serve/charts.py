"""Server-rendered SVG charts for the address page: no script, no external file, scaled to the
width of the screen (a viewBox and width 100 %)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

WIDTH, PANEL, GAP, LEFT = 600, 80, 34, 70
IN_COLOUR, OUT_COLOUR = "#2b7bb9", "#e07b24"


def months_between(first: str, last: str) -> list[str]:
    """Every month "YYYY-MM" from `first` to `last`, both included."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    months = []
    while (year, month) <= end:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


def _panel(
    top: float,
    title: str,
    months: Sequence[str],
    ins: Sequence[float],
    outs: Sequence[float],
    unit: str,
) -> str:
    """Mirrored bars: what came in above the axis, what went out below it."""
    axis = top + PANEL / 2
    largest = max([*ins, *outs, 0.0]) or 1.0
    step = (WIDTH - LEFT - 10) / max(len(months), 1)
    bar = min(max(step * 0.8, 0.6), 40.0)
    parts = [
        f'<text x="0" y="{top + 10:.0f}" class="t">{html.escape(title)}</text>',
        f'<text x="0" y="{top + 24:.0f}" class="s">max {_short(largest)} {unit}</text>',
        f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{axis}" y2="{axis}" stroke="#999"/>',
    ]
    for index, (month, came, went) in enumerate(zip(months, ins, outs, strict=True)):
        x = LEFT + index * step
        up = (PANEL / 2 - 2) * came / largest
        down = (PANEL / 2 - 2) * went / largest
        label = html.escape(f"{month}: {_short(came)} in, {_short(went)} out {unit}")
        if came > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{axis - up:.1f}" width="{bar:.1f}" height="{up:.1f}" '
                f'fill="{IN_COLOUR}"><title>{label}</title></rect>'
            )
        if went > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="{axis:.1f}" width="{bar:.1f}" height="{down:.1f}" '
                f'fill="{OUT_COLOUR}"><title>{label}</title></rect>'
            )
    return "".join(parts)


def activity_svg(monthly: Sequence[Mapping[str, object]]) -> str:
    """Transactions and ether per month, in (blue, up) and out (orange, down), every month from
    the first to the last with activity; "" when there is none."""
    if not monthly:
        return ""
    by_month = {str(m["month"]): m for m in monthly}
    months = months_between(min(by_month), max(by_month))

    def series(key: str) -> list[float]:
        return [float(by_month.get(m, {}).get(key) or 0.0) for m in months]  # type: ignore[union-attr]

    transactions_in = [
        a + b for a, b in zip(series("transactions_in"), series("token_transfers_in"), strict=True)
    ]
    transactions_out = [
        a + b
        for a, b in zip(series("transactions_out"), series("token_transfers_out"), strict=True)
    ]
    height = 2 * PANEL + GAP + 24
    second = PANEL + GAP
    label_y = height - 4
    return (
        f'<svg id="activity-chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="transactions and ether per month, {months[0]} to {months[-1]}" '
        'xmlns="http://www.w3.org/2000/svg"><style>.t{font:bold 13px sans-serif}'
        ".s,.m{font:11px sans-serif;fill:#555}</style>"
        + _panel(0, "transfers", months, transactions_in, transactions_out, "")
        + _panel(second, "ether", months, series("eth_in"), series("eth_out"), "ETH")
        + f'<text x="{LEFT}" y="{label_y}" class="m">{months[0]}</text>'
        f'<text x="{WIDTH - 10}" y="{label_y}" class="m" text-anchor="end">{months[-1]}</text>'
        f'<text x="{WIDTH / 2 + 20:.0f}" y="{label_y}" class="m" text-anchor="middle">'
        f'<tspan fill="{IN_COLOUR}">■ in</tspan> <tspan fill="{OUT_COLOUR}">■ out</tspan>'
        "</text></svg>"
    )
