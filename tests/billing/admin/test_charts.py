"""The SVG charts: scaled bars and points, exact amounts in tooltips, escaped text, "No data yet"."""

from decimal import Decimal

from billing.admin.charts import Point, bar_chart, line_chart, money_label, nice_ticks


def test_money_label_formats_with_the_currencys_places_and_compact_ticks():
    assert money_label(Decimal("1234.5"), "USD") == "USD 1,234.50"
    assert money_label(Decimal("1234"), "JPY") == "JPY 1,234"
    assert money_label(Decimal("2500"), "USD", compact=True) == "USD 2.5k"
    assert money_label(Decimal("3000000"), "EUR", compact=True) == "EUR 3M"
    assert money_label(Decimal("250"), "USD", compact=True) == "USD 250"


def test_nice_ticks_cover_the_maximum_in_round_steps():
    assert nice_ticks(Decimal("730")) == [Decimal(0), Decimal(200), Decimal(400), Decimal(600), Decimal(800)]
    assert nice_ticks(Decimal("1.2"))[-1] >= Decimal("1.2")


def test_bar_chart_has_one_bar_per_point_with_its_exact_amount_and_escaped_text():
    points = [Point("Jan", "January <2026>", Decimal("100.5")), Point("Feb", "February & co", Decimal("50"))]
    svg = bar_chart(points, currency="USD", title='Revenue "USD"')
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="bo-bar"') == 2
    assert "<title>January &lt;2026&gt;: USD 100.50</title>" in svg
    assert "<title>February &amp; co: USD 50.00</title>" in svg
    assert 'aria-label="Revenue &quot;USD&quot;"' in svg
    assert "No data yet" not in svg


def test_bar_heights_are_proportional():
    import re

    svg = bar_chart([Point("a", "a", Decimal("100")), Point("b", "b", Decimal("50"))], currency="USD", title="t")
    heights = [
        float(h) for h in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" rx="2"/>', svg)
    ]
    assert len(heights) == 2 and abs(heights[0] - 2 * heights[1]) < 0.2


def test_empty_charts_say_no_data_yet():
    for chart in (bar_chart, line_chart):
        assert "No data yet" in chart([], currency="USD", title="t")
        assert "No data yet" in chart([Point("1", "1", Decimal(0))], currency="USD", title="t")


def test_line_chart_has_a_point_per_day():
    points = [Point(str(d), f"Day {d}", Decimal(d)) for d in range(1, 11)]
    svg = line_chart(points, currency="USD", title="Usage", label_every=3)
    assert svg.count('class="bo-point"') == 10
    assert "<title>Day 10: USD 10.00</title>" in svg
