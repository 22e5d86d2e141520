"""The council report's building blocks: the k rule for counts from outside the cube,
and renderers that escape what they are given (HTML and CSV alike)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from burgerwacht.council.report import (
    Count,
    Report,
    Row,
    Section,
    Table,
    Text,
    publish,
    render_csv,
    render_html,
)
from burgerwacht.council.svg import MapArea, choropleth


@pytest.mark.parametrize(
    ("n", "k", "round_to", "shown"),
    [
        (None, 5, 5, None),
        (0, 5, 5, None),  # zero is hidden too: a hidden count never says "at least one"
        (4, 5, 5, None),
        (5, 5, 5, 5),
        (7, 5, 5, 5),
        (8, 5, 5, 10),
        (27, 5, 5, 25),
        (7, 7, 5, 10),  # never shown below k
        (3, 1, 5, 5),  # never shown below round_to
        (12, 5, 1, 12),
    ],
)
def test_publish(n, k, round_to, shown):
    assert publish(n, k, round_to) == shown


def _report(label: str) -> Report:
    table = Table(
        "t", "Tabel", [("a", "Aantal"), ("b", "Tekst")], [Row("X", label, [Count(None), Text(label)])]
    )
    return Report(
        "GM9999", label, "2025", "2025", datetime(2026, 1, 1), 5, 5, [Section("s", label, label, [table])]
    )


def test_renderers_escape_what_they_are_given():
    nasty = '=HYPERLINK("http://x")<script>alert(1)</script>'
    html = render_html(_report(nasty))
    assert "<script>" not in html and "&lt;script&gt;" in html
    rows = list(csv.reader(io.StringIO(render_csv(_report(nasty)))))
    assert rows[0] == ["section", "table", "row_code", "row_label", "column", "kind", "value", "hidden"]
    assert rows[1] == ["s", "t", "X", "'" + nasty, "a", "count", "", "true"]
    assert rows[2][3] == "'" + nasty and rows[2][6] == "'" + nasty


def test_map_draws_hidden_areas_hatched_and_skips_broken_outlines():
    square = {"type": "Polygon", "coordinates": [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]]}
    other = {"type": "Polygon", "coordinates": [[[100, 0], [200, 0], [200, 100], [100, 100], [100, 0]]]}
    svg = choropleth(
        [
            MapArea("BU1", "Een <b>", square, 25),
            MapArea("BU2", "Twee", other, None),
            MapArea("BU3", "Kapot", {"type": "Polygon", "coordinates": "x"}, 10),
        ],
        title="Kaart",
    )
    assert svg.count("<path") == 2 and 'data-count="25"' in svg and 'data-hidden="1"' in svg
    assert "Een &lt;b&gt;: 25 signalen" in svg and "Twee: afgeschermd" in svg and "BU3" not in svg
    assert choropleth([], title="leeg") == ""
