"""Report pages: a chart spec per report (pure, so series counts are unit-tested) and the HTML that
embeds it for the vendored Chart.js (``analytics_static/``) to draw.

The page carries its data as ``<script type="application/json">`` (escaped so no text in it can close
the element), its only scripts are our two static files, and a Content-Security-Policy forbids anything
else, so a hostile campaign name in the data cannot run as script.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from contracts.read.analytics import ChannelRow, SegmentPoint, StaffRow

STATIC = Path(__file__).parent / "analytics_static"
#: The files the static route serves, with their media types; anything else is 404.
STATIC_FILES = {"chart.umd.min.js": "text/javascript", "report.js": "text/javascript"}
CHART_JS_VERSION = "4.6.1"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGES = ("funnel", "revenue", "staff", "segments")


@dataclass(frozen=True)
class Series:
    label: str
    data: list[float | None]


@dataclass(frozen=True)
class ChartSpec:
    title: str
    type: str
    labels: list[str]
    y_label: str
    datasets: list[Series] = field(default_factory=list)


def _number(value: Decimal | float | int | None) -> float | None:
    return None if value is None else float(value)


def funnel_chart(rows: Sequence[ChannelRow]) -> ChartSpec:
    """Per channel: customers reached, purchasers, deals opened, deals won (last touch): four series."""
    labels = [row.channel for row in rows]
    stages = [
        ("customers reached", "customers_reached"),
        ("purchasers", "purchasers"),
        ("deals opened", "deals_opened"),
        ("deals won (last touch)", "deals_won_last_touch"),
    ]
    datasets = [Series(name, [float(getattr(row, attr)) for row in rows]) for name, attr in stages]
    return ChartSpec("Funnel by channel", "bar", labels, "customers / deals", datasets)


def revenue_chart(rows: Sequence[ChannelRow], currency: str) -> ChartSpec:
    """Net revenue (last-touch attribution) per period, one series per channel that earned any."""
    periods = sorted({row.period_start for row in rows if row.period_start is not None})
    channels = sorted({row.channel for row in rows if currency in row.revenue_last_touch})
    by_key = {(row.period_start, row.channel): row.revenue_last_touch.get(currency) for row in rows}
    datasets = [
        Series(channel, [_number(by_key.get((period, channel)) or Decimal(0)) for period in periods])
        for channel in channels
    ]
    labels = [period.isoformat() for period in periods]
    return ChartSpec(f"Revenue by channel ({currency}, last touch)", "line", labels, currency, datasets)


def revenue_charts(
    rows: Sequence[ChannelRow], currency: str | None, default: str
) -> tuple[list[ChartSpec], str | None]:
    """One revenue chart per currency earned in the rows (only ``currency`` when one is asked for), and
    a note when there is none: then one empty chart of ``currency`` (or ``default``) stands in."""
    present = sorted({code for row in rows for code in row.revenue_last_touch})
    charts = [revenue_chart(rows, code) for code in present if currency in (None, code)]
    if charts:
        return charts, None
    shown = currency or default
    note = f"No revenue in {currency} in this period." if currency else "No revenue in this period."
    return [revenue_chart(rows, shown)], note


def staff_chart(rows: Sequence[StaffRow]) -> ChartSpec:
    """Per staff member: median and p90 response time, first response median: three series."""
    people = [row for row in rows if row.staff_id is not None and row.replies > 0]
    labels = [row.staff_id or "" for row in people]
    datasets = [
        Series("response median (s)", [_number(row.response_median_s) for row in people]),
        Series("response p90 (s)", [_number(row.response_p90_s) for row in people]),
        Series("first response median (s)", [_number(row.first_response_median_s) for row in people]),
    ]
    return ChartSpec("Staff response times", "bar", labels, "seconds", datasets)


def segments_chart(series: Mapping[str, Sequence[SegmentPoint]]) -> ChartSpec:
    """Members per day, one series per segment."""
    days = sorted({point.day for points in series.values() for point in points})
    datasets = []
    for name, points in series.items():
        by_day = {point.day: point.members for point in points}
        datasets.append(Series(name, [float(by_day.get(day, 0)) for day in days]))
    return ChartSpec("Segment sizes over time", "line", [d.isoformat() for d in days], "customers", datasets)


def _embedded(charts: Sequence[ChartSpec]) -> str:
    """JSON safe inside a script element: no ``<``, ``>`` or ``&`` survives unescaped."""
    text = json.dumps([asdict(chart) for chart in charts])
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(title: str, charts: Sequence[ChartSpec], download: str, note: str | None = None) -> str:
    """The HTML of a report page with one canvas per chart, a link to the report's CSV and ``note`` (say,
    that the period holds no data, so an empty chart is not mistaken for a broken one)."""
    remark = f'<p class="note">{html.escape(note)}</p>\n' if note else ""
    canvases = "\n".join(
        f'<figure><canvas id="chart-{n}" aria-label="{html.escape(c.title)}"></canvas></figure>'
        for n, c in enumerate(charts)
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>body {{ font-family: sans-serif; margin: 2em; max-width: 1000px; }}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p><a href="{html.escape(download)}">Download as CSV</a></p>
{remark}{canvases}
<script type="application/json" id="report-charts">{_embedded(charts)}</script>
<script src="/v1/analytics/static/chart.umd.min.js"></script>
<script src="/v1/analytics/static/report.js"></script>
</body>
</html>
"""
