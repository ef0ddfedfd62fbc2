"""Eval output: a rich table in the terminal and a self-contained HTML page with bar charts."""

from __future__ import annotations

import html
from typing import Any


def _bars(title: str, values: dict[str, float | None], fmt: str) -> str:
    shown = {k: v for k, v in values.items() if v is not None}
    if not shown:
        return ""
    top = max(shown.values()) or 1.0
    rows = []
    for i, (name, v) in enumerate(shown.items()):
        w = 360 * v / top
        y = 24 * i
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="13">{html.escape(name)}</text>'
            f'<rect x="170" y="{y + 3}" width="{w:.1f}" height="16" fill="#4c78a8"/>'
            f'<text x="{176 + w:.1f}" y="{y + 15}" font-size="12">{fmt.format(v)}</text>'
        )
    return f'<h3>{html.escape(title)}</h3><svg width="640" height="{24 * len(shown) + 6}">{"".join(rows)}</svg>'


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def html_report(
    title: str, sections: list[tuple[str, list[dict[str, Any]], dict[str, dict[str, float | None]]]]
) -> str:
    parts = []
    for heading, table, charts in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{_table(table)}")
        for chart_title, values in charts.items():
            parts.append(
                _bars(
                    chart_title,
                    values,
                    "{:.3f}" if "cost" not in chart_title.lower() else "${:.6f}",
                )
            )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>"


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    if not rows:
        Console().print(f"{title}: no results")
        return
    for c in rows[0]:
        table.add_column(str(c))
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    Console().print(table)
