"""Values against a fixed reference: Wednesday 2026-11-25 10:00 in Berlin (UTC+01:00)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dateparser
import pytest

from brain.nlu.values import ExtractedValue, ValueSettings, extract_values, warm_up

BERLIN_TZ = ZoneInfo("Europe/Berlin")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN_TZ)
BERLIN = ValueSettings(timezone="Europe/Berlin")


def _extract(text: str, settings: ValueSettings = BERLIN,
             reference: datetime = WEDNESDAY) -> list[ExtractedValue]:
    found = extract_values(text, reference_time=reference, settings=settings)
    for value in found:
        assert text[value.start:value.end] == value.text
    return found


def _values(text: str, settings: ValueSettings = BERLIN,
            reference: datetime = WEDNESDAY) -> list[tuple[str, object, str]]:
    return [(v.entity, v.value, v.text) for v in _extract(text, settings, reference)]


def _times(text: str, settings: ValueSettings = BERLIN,
           reference: datetime = WEDNESDAY) -> list[tuple[object, str]]:
    return [(v.value, v.text) for v in _extract(text, settings, reference) if v.entity == "time"]


@pytest.mark.parametrize(("text", "iso", "fragment"), [
    ("can it come next friday at 2pm?", "2026-11-27T14:00:00+01:00", "next friday at 2pm"),
    ("tomorrow morning works", "2026-11-26T09:00:00+01:00", "tomorrow morning"),
    ("ship it in 3 days", "2026-11-28T10:00:00+01:00", "in 3 days"),
    ("deliver on the 5th of december", "2026-12-05T00:00:00+01:00", "on the 5th of december"),
    ("call me at 14:30", "2026-11-25T14:30:00+01:00", "at 14:30"),
    ("tonight please", "2026-11-25T20:00:00+01:00", "tonight"),
    ("wed at noon", "2026-12-02T12:00:00+01:00", "wed at noon"),
    ("sat at 3pm", "2026-11-28T15:00:00+01:00", "sat at 3pm"),
    ("on sat", "2026-11-28T00:00:00+01:00", "on sat"),
    ("the day after tomorrow", "2026-11-27T10:00:00+01:00", "the day after tomorrow"),
    ("2 days ago", "2026-11-23T10:00:00+01:00", "2 days ago"),
    ("in half an hour", "2026-11-25T10:30:00+01:00", "in half an hour"),
    ("tmrw 9am", "2026-11-26T09:00:00+01:00", "tmrw 9am"),
    ("on monday, december 7 at 9:30 am", "2026-12-07T09:30:00+01:00",
     "on monday, december 7 at 9:30 am"),
    ("on 2026-12-05 at 14:00", "2026-12-05T14:00:00+01:00", "on 2026-12-05 at 14:00"),
    ("TOMORROW AT 2PM", "2026-11-26T14:00:00+01:00", "TOMORROW AT 2PM"),
])
def test_relative_dates_resolve_against_the_reference(text: str, iso: str, fragment: str) -> None:
    assert _times(text) == [(iso, fragment)]


@pytest.mark.parametrize(("text", "iso"), [
    ("friday", "2026-11-27T00:00:00+01:00"),
    ("this friday", "2026-11-27T00:00:00+01:00"),
    ("next friday", "2026-11-27T00:00:00+01:00"),  # the coming one, not the week after
    ("coming friday", "2026-11-27T00:00:00+01:00"),
    ("last friday", "2026-11-20T00:00:00+01:00"),
    ("wednesday", "2026-12-02T00:00:00+01:00"),  # the reference's own weekday: a week on
    ("next wednesday", "2026-12-02T00:00:00+01:00"),
    ("this wednesday", "2026-11-25T00:00:00+01:00"),
])
def test_weekdays_follow_dateparser_on_a_wednesday(text: str, iso: str) -> None:
    assert _times(text) == [(iso, text)]


@pytest.mark.parametrize(("text", "iso"), [
    ("12/03", "2026-12-03T00:00:00+01:00"),  # month first
    ("31/12", "2026-12-31T00:00:00+01:00"),  # only a day first reading exists
    ("05.12.2026", "2026-12-05T00:00:00+01:00"),  # dotted: day first
    ("december", "2026-12-01T00:00:00+01:00"),
    ("may 5", "2027-05-05T00:00:00+02:00"),  # future, and summer time then
    ("on the 3rd", "2026-12-03T00:00:00+01:00"),  # dateparser alone says March
    ("on the 25th", "2026-11-25T00:00:00+01:00"),  # today counts
    ("on the 24th", "2026-12-24T00:00:00+01:00"),
    ("tomorrow at 3", "2026-11-26T15:00:00+01:00"),  # office hours: pm
    ("tomorrow at 9", "2026-11-26T09:00:00+01:00"),  # office hours: am
    ("tonight at 9", "2026-11-25T21:00:00+01:00"),
    ("tomorrow morning at 7", "2026-11-26T07:00:00+01:00"),
    ("tomorrow at 8 o'clock in the evening", "2026-11-26T20:00:00+01:00"),
    ("at 8 o'clock", "2026-11-26T08:00:00+01:00"),  # 08:00 today is past: tomorrow
    ("3:30", "2026-11-26T03:30:00+01:00"),  # 24-hour clock: the next 03:30
])
def test_ambiguous_forms_are_read_as_documented(text: str, iso: str) -> None:
    assert _times(text) == [(iso, text)]


def test_the_31st_skips_months_without_one() -> None:
    february = datetime(2027, 2, 10, 10, 0, tzinfo=BERLIN_TZ)
    assert _times("on the 31st", reference=february) == [
        ("2027-03-31T00:00:00+02:00", "on the 31st")]


def test_a_run_dateparser_cannot_read_falls_back_to_its_parts() -> None:
    assert _times("next week friday") == [
        ("2026-12-02T10:00:00+01:00", "next week"), ("2026-11-27T00:00:00+01:00", "friday")]


def test_separate_dates_stay_separate() -> None:
    assert _times("from monday to friday") == [
        ("2026-11-30T00:00:00+01:00", "monday"), ("2026-11-27T00:00:00+01:00", "friday")]


def test_the_bot_timezone_is_used_not_the_reference_one() -> None:
    tokyo = ValueSettings(timezone="Asia/Tokyo")
    # 10:00 in Berlin is 18:00 in Tokyo, 20:00 in Berlin is already the 26th there
    assert _times("tomorrow at 2pm", tokyo) == [("2026-11-26T14:00:00+09:00", "tomorrow at 2pm")]
    late = datetime(2026, 11, 25, 20, 0, tzinfo=BERLIN_TZ)
    assert _times("tomorrow at 2pm", tokyo, late) == [
        ("2026-11-27T14:00:00+09:00", "tomorrow at 2pm")]
    utc_evening = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert _times("today", BERLIN, utc_evening) == [("2026-11-26T00:30:00+01:00", "today")]


def test_the_offset_is_the_one_on_the_resolved_date() -> None:
    before_dst = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN_TZ)  # summer time from the 29th
    assert _times("in 3 days", reference=before_dst) == [
        ("2026-03-30T10:00:00+02:00", "in 3 days")]


def test_sub_second_reference_precision_is_dropped() -> None:
    reference = datetime(2026, 11, 25, 10, 0, 30, 123456, tzinfo=BERLIN_TZ)
    assert _times("in 2 hours", ValueSettings(timezone="UTC"), reference) == [
        ("2026-11-25T11:00:30+00:00", "in 2 hours")]


@pytest.mark.parametrize("text", ["sat", "I sat down", "the sun is out", "may i get a refund",
                                  "this may be wrong", "march forward", "the 3rd one",
                                  "in the morning", "we are open 24/7", "13/13"])
def test_weak_or_ambiguous_words_alone_are_not_dates(text: str) -> None:
    assert _times(text) == []


@pytest.mark.parametrize(("text", "amount", "currency", "fragment"), [
    ("it cost $40", 40.0, "USD", "$40"),
    ("$ 40.50 please", 40.5, "USD", "$ 40.50"),
    ("40$", 40.0, "USD", "40$"),
    ("40 dollars", 40.0, "USD", "40 dollars"),
    ("€12,50", 12.5, "EUR", "€12,50"),  # one or two digits after a comma: decimals
    ("12,5 eur", 12.5, "EUR", "12,5 eur"),
    ("€1.234,56", 1234.56, "EUR", "€1.234,56"),
    ("€1.234", 1234.0, "EUR", "€1.234"),  # three digits after the separator: thousands
    ("1,000 dollars", 1000.0, "USD", "1,000 dollars"),
    ("12.50 eur", 12.5, "EUR", "12.50 eur"),
    ("EUR 12", 12.0, "EUR", "EUR 12"),
    ("USD40", 40.0, "USD", "USD40"),
    ("40 €", 40.0, "EUR", "40 €"),
    ("£5", 5.0, "GBP", "£5"),
    ("5 quid", 5.0, "GBP", "5 quid"),
    ("¥300", 300.0, "JPY", "¥300"),
    ("100 yen", 100.0, "JPY", "100 yen"),
    ("20 chf", 20.0, "CHF", "20 chf"),
    ("$40k", 40000.0, "USD", "$40k"),
    ("forty dollars", 40.0, "USD", "forty dollars"),
    ("a hundred euros", 100.0, "EUR", "a hundred euros"),
    ("40 bucks", 40.0, "USD", "40 bucks"),
])
def test_amounts(text: str, amount: float, currency: str, fragment: str) -> None:
    assert _values(text) == [
        ("amount_of_money", {"amount": amount, "currency": currency}, fragment)]


def test_bucks_are_the_default_currency_when_set() -> None:
    canadian = ValueSettings(default_currency="CAD")
    assert _values("40 bucks", canadian) == [
        ("amount_of_money", {"amount": 40.0, "currency": "CAD"}, "40 bucks")]
    assert _values("40 dollars", canadian) == [
        ("amount_of_money", {"amount": 40.0, "currency": "USD"}, "40 dollars")]


def test_a_bare_number_is_never_an_amount() -> None:
    assert _values("I paid 40", ValueSettings(default_currency="EUR")) == [("number", 40, "40")]


@pytest.mark.parametrize(("text", "expected"), [
    ("3", [3]), ("2.5 kg", [2.5]), ("1,000", [1000]), ("1,000,000.5", [1000000.5]),
    ("-5 degrees", [-5]), ("10%", [10]), ("48291", [48291]), ("2 items", [2]),
    ("zero", [0]), ("seventeen", [17]), ("twenty five", [25]), ("twenty-five", [25]),
    ("ninety nine", [99]), ("a dozen eggs", [12]), ("two dozen", [24]),
    ("one hundred", [100]), ("three hundred and five", [305]),
    ("twenty one thousand", [21000]), ("a thousand", [1000]),
    ("one, two and three", [1, 2, 3]), ("2 items, twenty five pens", [2, 25]),
])
def test_numbers_in_digits_and_words(text: str, expected: list[object]) -> None:
    found = _extract(text)
    assert [v.entity for v in found] == ["number"] * len(expected)
    assert [v.value for v in found] == expected
    assert all(type(v.value) is type(e) for v, e in zip(found, expected, strict=True))


@pytest.mark.parametrize("text", [
    "i want a refund for order ORD-55821", "status of AB1234567", "call 555-1234",
    "running v1.2.3", "ticket #123", "room 12b", "mail user@x1.com", "where is my package",
    "hello there", "a one-off fee", "the 2nd item",
])
def test_nothing_in_identifiers_or_plain_text(text: str) -> None:
    assert _values(text) == []


def test_a_number_inside_an_amount_or_a_date_is_not_reported_again() -> None:
    assert _values("in 3 days") == [("time", "2026-11-28T10:00:00+01:00", "in 3 days")]
    assert _values("tomorrow at 2pm for $40") == [
        ("time", "2026-11-26T14:00:00+01:00", "tomorrow at 2pm"),
        ("amount_of_money", {"amount": 40.0, "currency": "USD"}, "$40")]


def test_offsets_point_into_the_original_message() -> None:
    text = "Hi! I paid €12,50 on 12/03 for 3 items, ORD-55821, deliver tomorrow at 3pm"
    found = _extract(text)
    assert [(v.entity, v.start, v.end, v.text) for v in found] == [
        ("amount_of_money", 11, 17, "€12,50"),
        ("time", 18, 26, "on 12/03"),
        ("number", 31, 32, "3"),
        ("time", 59, 74, "tomorrow at 3pm"),
    ]
    assert [v.value for v in found if v.entity == "time"] == [
        "2026-12-03T00:00:00+01:00", "2026-11-26T15:00:00+01:00"]


@pytest.mark.parametrize(("dimensions", "expected"), [
    ({"number"}, [("number", 3, "3")]),
    ({"amount_of_money"}, [("amount_of_money", {"amount": 40.0, "currency": "USD"}, "$40")]),
    ({"time"}, [("time", "2026-11-28T10:00:00+01:00", "in 3 days")]),
    ({"number", "time"}, [("number", 3, "3"),
                          ("time", "2026-11-28T10:00:00+01:00", "in 3 days")]),
    (set(), []),
])
def test_dimensions_are_honoured(dimensions: set[str], expected: list[object]) -> None:
    """A number inside "$40" or "in 3 days" stays unreported even when only numbers are
    wanted: it belongs to the amount or the date."""
    settings = ValueSettings(dimensions=frozenset(dimensions), timezone="Europe/Berlin")
    assert _values("3 shirts for $40 in 3 days", settings) == expected


def test_a_naive_reference_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        extract_values("tomorrow", reference_time=datetime(2026, 11, 25, 10, 0), settings=BERLIN)


def test_warm_up_fails_at_load_on_an_unknown_timezone() -> None:
    warm_up("Europe/Berlin")
    with pytest.raises(ZoneInfoNotFoundError):
        warm_up("Mars/Olympus_Mons")


def test_messages_without_dates_never_reach_dateparser(monkeypatch: pytest.MonkeyPatch) -> None:
    """No date word, no dateparser: what keeps extraction within microseconds (its cost is
    measured by ``bench/nlu_clinc150.py``, not here: a timed test fails on a loaded machine).
    A date phrase still does reach it."""
    calls: list[str] = []
    parse = dateparser.parse

    def counting(phrase: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(phrase)
        return parse(phrase, *args, **kwargs)

    monkeypatch.setattr(dateparser, "parse", counting)
    for text in ["i want a refund for order ORD-55821", "where is my package",
                 "may i speak to a human, I paid $40 for 2 items"]:
        extract_values(text, reference_time=WEDNESDAY, settings=BERLIN)
    assert calls == []
    extract_values("can it come tomorrow", reference_time=WEDNESDAY, settings=BERLIN)
    assert calls == ["tomorrow"]
