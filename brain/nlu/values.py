"""Values in a message, normalised like Rasa's Duckling entities: ``time``, ``number``,
``amount_of_money``.

Dates and times go through ``dateparser`` relative to a reference time in the bot's
timezone, preferring the future ("friday" on a Wednesday is this week's Friday; "next
friday" is dateparser's reading, the coming Friday too). dateparser is slow (a millisecond
or more per call) and finds dates in things like "$40", so it runs only when a cheap
regex sees a date or time word, and only fragments containing such a word are kept.
Amounts and numbers are plain regexes: a decimal comma counts when exactly two digits
follow it ("€12,50"); otherwise a comma separates thousands ("1,000").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dateparser.search import search_dates

__all__ = ["ExtractedValue", "ValueSettings", "extract_values"]

_WEEKDAYS = (r"mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|"
             r"sat(?:urday)?|sun(?:day)?")
_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_DATE_HINT = re.compile(
    rf"\b(?:{_WEEKDAYS}|{_MONTHS}|today|tomorrow|tonight|yesterday|noon|midnight|morning|"
    r"afternoon|evening|weekend|(?:next|last|this)\s+(?:week|month|year)|"
    r"in\s+\d+\s+(?:minutes?|hours?|days?|weeks?|months?))\b|"
    r"\b\d{1,2}(?::\d{2})?\s?(?:am|pm)\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?"
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_WORDS = {"usd": "USD", "dollar": "USD", "dollars": "USD", "bucks": "USD", "eur": "EUR",
          "euro": "EUR", "euros": "EUR", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
          "quid": "GBP", "jpy": "JPY", "yen": "JPY"}
_AMOUNT = re.compile(
    rf"(?P<sym1>[$€£¥])\s?(?P<n1>{_NUMBER})|(?P<n2>{_NUMBER})\s?(?P<sym2>[$€£¥])|"
    rf"(?P<n3>{_NUMBER})\s?(?P<word>{'|'.join(_WORDS)})\b|"
    rf"\b(?P<code>usd|eur|gbp|jpy)\s?(?P<n4>{_NUMBER})", re.IGNORECASE)
_DIGITS = re.compile(rf"(?<![\w\-/.,:$€£¥])(?:{_NUMBER})(?![\w\-/$€£¥]|[.,]\d)")
_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten "
                                     "eleven twelve thirteen fourteen fifteen sixteen "
                                     "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split())}
_NUMBER_WORDS = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-](?P<unit>{'|'.join(list(_UNITS)[1:10])}))?|"
    rf"(?P<single>{'|'.join(_UNITS)}|a dozen|dozen|hundred|a hundred|thousand|a thousand))\b",
    re.IGNORECASE)
_SPECIAL = {"a dozen": 12, "dozen": 12, "hundred": 100, "a hundred": 100, "thousand": 1000,
            "a thousand": 1000}


@dataclass(frozen=True, slots=True)
class ExtractedValue:
    entity: str
    value: Any
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ValueSettings:
    dimensions: frozenset[str] = field(
        default_factory=lambda: frozenset({"time", "number", "amount_of_money"}))
    timezone: str = "UTC"
    default_currency: str | None = None  # what "bucks" means; USD when unset


def extract_values(text: str, *, reference_time: datetime,
                   settings: ValueSettings) -> list[ExtractedValue]:
    """All values in ``text``; a span used by an amount or a date is not also a number."""
    found: list[ExtractedValue] = []
    if "amount_of_money" in settings.dimensions:
        found += _amounts(text, settings.default_currency)
    if "time" in settings.dimensions and _DATE_HINT.search(text):
        found += [v for v in _times(text, reference_time, settings.timezone)
                  if not any(_overlaps(v, other) for other in found)]
    if "number" in settings.dimensions:
        found += [v for v in _numbers(text) if not any(_overlaps(v, other) for other in found)]
    return sorted(found, key=lambda v: v.start)


def _overlaps(a: ExtractedValue, b: ExtractedValue) -> bool:
    return a.start < b.end and b.start < a.end


def _to_number(raw: str) -> float:
    if re.fullmatch(r"\d+,\d{2}", raw):  # decimal comma: "12,50"
        return float(raw.replace(",", "."))
    return float(raw.replace(",", ""))


def _amounts(text: str, default_currency: str | None) -> list[ExtractedValue]:
    values = []
    for match in _AMOUNT.finditer(text):
        groups = match.groupdict()
        number = groups["n1"] or groups["n2"] or groups["n3"] or groups["n4"]
        unit = groups["sym1"] or groups["sym2"] or groups["word"] or groups["code"]
        currency = _SYMBOLS.get(unit) or _WORDS[unit.lower()]
        if unit.lower() == "bucks" and default_currency:
            currency = default_currency
        values.append(ExtractedValue("amount_of_money",
                                     {"amount": _to_number(number), "currency": currency},
                                     match.group(), match.start(), match.end()))
    return values


def _times(text: str, reference: datetime, timezone: str) -> list[ExtractedValue]:
    base = reference.astimezone(_zone(timezone)).replace(tzinfo=None)
    settings = {"RELATIVE_BASE": base, "TIMEZONE": timezone, "RETURN_AS_TIMEZONE_AWARE": True,
                "PREFER_DATES_FROM": "future"}
    results = search_dates(text, languages=["en"], settings=settings) or []
    values, cursor = [], 0
    for fragment, when in results:
        start = text.find(fragment, cursor)
        if start < 0 or not _DATE_HINT.search(fragment):
            continue
        cursor = start + len(fragment)
        values.append(ExtractedValue("time", when.isoformat(), fragment, start, cursor))
    return values


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _numbers(text: str) -> list[ExtractedValue]:
    values = []
    for match in _DIGITS.finditer(text):
        number = _to_number(match.group())
        values.append(ExtractedValue("number", int(number) if number.is_integer() else number,
                                     match.group(), match.start(), match.end()))
    for match in _NUMBER_WORDS.finditer(text):
        word = match.group().lower()
        if match.group("tens"):
            number = _TENS[match.group("tens").lower()] + _UNITS.get(
                (match.group("unit") or "zero").lower(), 0)
        else:
            number = _SPECIAL.get(word, _UNITS.get(word, 0))
        values.append(ExtractedValue("number", number, match.group(), match.start(), match.end()))
    return values
