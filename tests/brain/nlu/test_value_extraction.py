"""Dates, times, amounts and numbers, normalised against a fixed reference time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from brain.nlu.values import ValueSettings, extract_values

BERLIN = ValueSettings(timezone="Europe/Berlin")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def _values(text: str, settings: ValueSettings = BERLIN) -> list[tuple[str, object, str]]:
    found = extract_values(text, reference_time=WEDNESDAY, settings=settings)
    for value in found:
        assert text[value.start:value.end] == value.text
    return [(v.entity, v.value, v.text) for v in found]


@pytest.mark.parametrize(("text", "iso", "fragment"), [
    ("can it come next friday at 2pm", "2026-11-27T14:00:00+01:00", "next friday at 2pm"),
    ("tomorrow at 2pm please", "2026-11-26T14:00:00+01:00", "tomorrow at 2pm"),
    ("deliver on the 5th of december", "2026-12-05T00:00:00+01:00", "on the 5th of december"),
    ("in 3 days", "2026-11-28T10:00:00+01:00", "in 3 days"),
    ("call me at 14:30", "2026-11-25T14:30:00+01:00", "at 14:30"),
    ("tonight", "2026-11-25T20:00:00+01:00", "tonight"),
])
def test_relative_dates_resolve_against_the_reference(text: str, iso: str, fragment: str) -> None:
    assert _values(text) == [("time", iso, fragment)]


def test_timezone_of_the_bot_is_used() -> None:
    tokyo = ValueSettings(timezone="Asia/Tokyo")
    # 10:00 in Berlin is 18:00 in Tokyo: "tomorrow" is the 26th there too, at 14:00 +09:00
    assert _values("tomorrow at 2pm", tokyo) == [
        ("time", "2026-11-26T14:00:00+09:00", "tomorrow at 2pm")]


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("it cost $40", 40.0, "USD"), ("$ 40.50 please", 40.5, "USD"), ("40$", 40.0, "USD"),
    ("40 dollars", 40.0, "USD"), ("€12,50", 12.5, "EUR"), ("12.50 eur", 12.5, "EUR"),
    ("EUR 12", 12.0, "EUR"), ("£5", 5.0, "GBP"), ("5 quid", 5.0, "GBP"),
    ("¥300", 300.0, "JPY"), ("1,000 dollars", 1000.0, "USD"),
])
def test_amounts(text: str, amount: float, currency: str) -> None:
    found = [v for v in _values(text) if v[0] == "amount_of_money"]
    assert [v[1] for v in found] == [{"amount": amount, "currency": currency}]


def test_bucks_follow_the_default_currency() -> None:
    settings = ValueSettings(default_currency="CAD")
    assert _values("40 bucks", settings) == [
        ("amount_of_money", {"amount": 40.0, "currency": "CAD"}, "40 bucks")]


def test_numbers_in_digits_and_words() -> None:
    assert _values("2 items, twenty five pens and a dozen eggs") == [
        ("number", 2, "2"), ("number", 25, "twenty five"), ("number", 12, "a dozen")]
    assert _values("2.5 kg") == [("number", 2.5, "2.5")]


@pytest.mark.parametrize("text", ["where is ORD-55821", "status of AB1234567", "hello there",
                                  "i want a refund"])
def test_nothing_in_order_ids_or_plain_text(text: str) -> None:
    assert _values(text) == []


def test_a_number_inside_an_amount_or_date_is_not_reported_twice() -> None:
    assert _values("tomorrow at 2pm for $40") == [
        ("time", "2026-11-26T14:00:00+01:00", "tomorrow at 2pm"),
        ("amount_of_money", {"amount": 40.0, "currency": "USD"}, "$40")]


def test_dimensions_are_honoured() -> None:
    only_numbers = ValueSettings(dimensions=frozenset({"number"}))
    assert _values("3 shirts for $40 tomorrow", only_numbers) == [("number", 3, "3")]
