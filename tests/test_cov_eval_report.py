"""The eval report: a self-contained HTML page (tables, bar charts) and the terminal table."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from prellm.eval.report import html_report, print_table


class _Page(HTMLParser):
    """The parts of the page the tests read: headings, table cells, bar widths and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.bars: list[float] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._open.append(tag)
        if tag == "rect":
            self.bars.append(float(dict(attrs)["width"]))

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.text.setdefault(self._open[-1], []).append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def test_the_page_has_a_table_and_a_chart_per_section():
    rows = [
        {"strategy": "structure", "wins": 3, "cost": 0.002},
        {"strategy": "classify", "wins": 1, "cost": 0.001},
    ]
    charts = {"win rate": {"structure": 0.75, "classify": 0.25}}
    page = html_report("Compare", [("Strategies", rows, charts)])
    parsed = _parse(page)
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert parsed.text["title"] == ["Compare"] and parsed.text["h1"] == ["Compare"]
    assert parsed.text["h2"] == ["Strategies"] and parsed.text["h3"] == ["win rate"]
    assert parsed.text["th"] == ["strategy", "wins", "cost"]
    assert parsed.text["td"] == ["structure", "3", "0.002", "classify", "1", "0.001"]
    # Bars scale to the largest value (360 px) and are labelled with three decimals.
    assert parsed.bars == [360.0, 120.0]
    assert parsed.text["text"] == ["structure", "0.750", "classify", "0.250"]
    assert "<script" not in page and "http" not in page  # self-contained


def test_cost_charts_are_labelled_in_dollars():
    page = html_report("r", [("s", [], {"Cost per task": {"a": 0.0001234, "b": 0.0002}})])
    labels = _parse(page).text["text"]
    assert "$0.000123" in labels and "$0.000200" in labels


def test_missing_values_are_left_out_and_an_empty_chart_is_not_drawn():
    page = html_report(
        "r",
        [("s", [{"k": 1}], {"accuracy": {"a": None, "b": 0.5}, "latency": {"a": None}})],
    )
    parsed = _parse(page)
    assert parsed.text["h3"] == ["accuracy"]  # "latency" had nothing to show
    assert parsed.text["text"] == ["b", "0.500"] and parsed.bars == [360.0]


def test_all_zero_values_draw_zero_width_bars():
    parsed = _parse(html_report("r", [("s", [], {"errors": {"a": 0.0, "b": 0.0}})]))
    assert parsed.bars == [0.0, 0.0]


def test_an_empty_section_has_its_heading_only():
    parsed = _parse(html_report("r", [("Nothing ran", [], {})]))
    assert parsed.text["h2"] == ["Nothing ran"]
    assert "table" not in parsed.tags and "svg" not in parsed.tags


def test_every_name_and_value_is_escaped():
    hostile = "<script>alert(1)</script>"
    page = html_report(
        hostile,
        [(hostile, [{hostile: hostile}], {hostile: {hostile: 1.0}})],
    )
    assert "<script>" not in page
    # title, h1, h2, the column, the cell, the chart title and the bar label
    assert page.count("&lt;script&gt;") == 7
    assert "script" not in _parse(page).tags


def test_print_table_shows_every_row_and_column(capsys):
    print_table(
        "Results", [{"model": "test/echo", "accuracy": 0.75}, {"model": "b", "accuracy": 1}]
    )
    out = capsys.readouterr().out
    assert "Results" in out
    assert re.search(r"model\s.*accuracy", out)
    assert re.search(r"test/echo\s.*0\.75", out) and re.search(r"\bb\s.*\b1\b", out)


def test_print_table_says_when_there_is_nothing(capsys):
    print_table("Results", [])
    assert capsys.readouterr().out.strip() == "Results: no results"
