"""The answer's plain parts: label entries, confidence in words, people's numbers, the chart."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_assets.serve.answers import confidence, data_age_days, label_entry
from eth_assets.serve.charts import activity_svg, months_between
from eth_assets.serve.page import amount, percent
from eth_assets.serve.screening import parse_addresses


def test_label_entries_are_records_even_from_old_text() -> None:
    assert label_entry("mew_darklist: phishing — Fake MEW (2018-01-02)") == {
        "source": "mew_darklist",
        "category": "phishing",
        "name": "Fake MEW",
        "date": "2018-01-02",
    }
    assert label_entry("etherscan: listed") == {
        "source": "etherscan",
        "category": "listed",
        "name": None,
        "date": None,
    }


def test_confidence_is_said_from_the_interval_and_the_threshold() -> None:
    assert confidence(0.9, 0.8, 0.95, 0.5).startswith("confident: the whole interval")
    assert "is below the threshold" in confidence(0.1, 0.05, 0.2, 0.5)
    assert confidence(0.5, 0.3, 0.7, 0.5).startswith("uncertain")
    assert confidence(0.5, 0.5, 0.5, 0.5).startswith("no interval")
    assert confidence(None, None, None, 0.5) == "no score"


def test_numbers_are_rounded_for_people() -> None:
    assert percent(1.0) == "100.0 %" and percent(0.99995) == "> 99.9 %"
    assert percent(0.00004) == "< 0.1 %" and percent(0.123) == "12.3 %"
    assert amount(51.07811342592593, "ETH") == "51.1 ETH" and amount(12345.6) == "12,346"
    now = datetime(2021, 7, 10, tzinfo=UTC)
    assert data_age_days("2021-06-30T00:00:00+00:00", now) == 10.0


def test_the_chart_has_every_month_and_no_script() -> None:
    assert months_between("2020-11", "2021-02") == ["2020-11", "2020-12", "2021-01", "2021-02"]
    monthly = [
        {"month": "2020-11", "transactions_in": 3, "transactions_out": 1, "eth_in": 2.0},
        {"month": "2021-02", "transactions_in": 0, "transactions_out": 4, "eth_out": 1.5},
    ]
    svg = activity_svg(monthly)
    assert svg.startswith("<svg") and "<script" not in svg and 'width="100%"' in svg
    assert "2020-11: 3 in, 1 out" in svg and "2021-02: 0 in, 4 out" in svg
    assert svg.count("<rect") == 5  # December and January have no bars
    assert activity_svg([]) == ""


def test_a_screening_upload_keeps_its_line_numbers() -> None:
    lines, header = parse_addresses(b"\xef\xbb\xbfnote,Address\nx,0xabc\n\n y , 0xdef \n", 10)
    assert [(line.number, line.text) for line in lines] == [(2, "0xabc"), (4, "0xdef")]
    assert header[0].number == 1
    plain, none = parse_addresses(b"0xabc\nnot an address\n", 10)
    assert [line.text for line in plain] == ["0xabc", "not an address"] and none == []
