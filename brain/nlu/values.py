"""Dates and times, numbers and amounts of money in a message, normalised like Rasa's
Duckling entities (``time``, ``number``, ``amount_of_money``) so that slots, forms and
responses written for Rasa keep working.

This runs on every message inside a 5 ms NLU budget. dateparser's ``search_dates`` on
the whole message costs 0.5–2 ms and reads "may", "sat", "sun", "march" or "the 3rd" as
dates, so instead a precompiled regex grammar finds date and time *phrases* (weekday and
month names, today/tomorrow/tonight, next/last/this + unit, "in N units", clock times,
numeric dates, "on the 5th"), adjacent pieces are merged ("next friday" + "at 2pm"), and
only those phrases go to ``dateparser.parse``, one call each. A message without such a
phrase never reaches dateparser, and one without a digit or a date, money or number word
runs no big regex at all. Weak words ("sat", "may", "morning", "at 3") count only next to
a strong one ("sat at 3pm", "tomorrow morning", "tomorrow at 3") or after "on" ("on sat").

Times are dateparser's English reading with ``PREFER_DATES_FROM="future"``, relative to
the reference time in the bot's timezone. For a reference on a Wednesday:
  * "friday", "this friday" and "next friday" are all the coming Friday (in two days);
    "wednesday" and "next wednesday" are a week later, "this wednesday" is today.
  * "tomorrow", "in 3 days", "next week" keep the reference's clock time; a weekday or a
    date is midnight; morning 09:00, afternoon 15:00, evening 18:00, night/tonight 20:00.
  * "12/03" is month first (3 December), dateparser's English order; a dotted
    "05.12.2026" is day first; "december" alone is the 1st; "3:30" is 24-hour (03:30).
  * "on the 3rd" is the next 3rd of a month, today included (dateparser alone reads a
    bare "3rd" as March); "at 3" or "3 o'clock" without am/pm is read as office hours,
    1–7 and 12 pm, 8–11 am, unless the phrase says morning or afternoon/evening/night.
  * Results carry the UTC offset the timezone has *on that date*: dateparser's aware
    results keep the reference's offset across a DST change, so its wall-clock result is
    localised here instead.

Amounts: a symbol or ISO code before or after a number ("$40", "40$", "EUR 12",
"12.50 eur", "$40k"), or a money word after it ("40 dollars", "5 quid", "forty euros").
"bucks" is ``default_currency`` when set, else USD; a bare number is never an amount. In
an amount a comma followed by one or two digits is a decimal comma ("€12,50" = 12.5) and
three digits after the last separator mean thousands ("€1.234" = "€1,234" = 1234).

Numbers: digits ("3", "-2.5", "1,000") that are not part of a token such as "ORD-55821",
"AB12", "v1.2", "#12" or "3pm", and English number words ("twenty five", "a dozen",
"three hundred and five"). A number inside an amount or a date phrase is never reported
as a number, whichever dimensions are asked for.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dateparser

__all__ = ["ExtractedValue", "ValueSettings", "extract_values", "warm_up"]


@dataclass(frozen=True, slots=True)
class ExtractedValue:
    """One value; ``text == message[start:end]``. ``value`` has Duckling's shape: an ISO
    8601 string with offset (time), an int or float (number), or ``{"amount": float,
    "currency": "USD"}`` (amount_of_money)."""

    entity: str
    value: object
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ValueSettings:
    """What to extract and how to read it: one per bot, from its NLU config."""

    dimensions: frozenset[str] = frozenset({"time", "number", "amount_of_money"})
    timezone: str = "UTC"  # IANA name; relative dates resolve in it
    default_currency: str | None = None  # what "bucks" means (USD when unset)


def extract_values(text: str, *, reference_time: datetime,
                   settings: ValueSettings) -> list[ExtractedValue]:
    """All values in ``text`` ordered by position; ``reference_time`` must be aware.

    Amounts win over dates and dates over numbers where spans overlap."""
    if reference_time.utcoffset() is None:
        raise ValueError("reference_time must be timezone-aware")
    wanted = settings.dimensions
    words = frozenset(_TOKEN.findall(text.lower()))
    spoken = list(_WORD_NUMBER.finditer(text)) if not words.isdisjoint(_NUMBER_TOKENS) else []
    # Spans are found whatever the dimensions (regexes, microseconds), so that "$40" or
    # "in 3 days" never yields a number; only dateparser waits for "time" to be wanted.
    amounts = _amounts(text, words, spoken, settings.default_currency)
    taken = [(a.start, a.end) for a in amounts]
    groups = [g for g in _time_groups(text, words) if not _overlaps_any(_span(g), taken)]
    found = list(amounts) if "amount_of_money" in wanted else []
    if "time" in wanted and groups:
        zone = ZoneInfo(settings.timezone)
        local = reference_time.astimezone(zone).replace(tzinfo=None, microsecond=0)
        found += [v for g in groups for v in _resolve(text, g, local, zone)]
    if "number" in wanted:
        taken += [_span(g) for g in groups]
        found += [n for n in _numbers(text, spoken) if not _overlaps_any((n.start, n.end), taken)]
    return sorted(found, key=lambda v: v.start)


def warm_up(timezone: str = "UTC") -> None:
    """Load dateparser's data now: the first dates in a process cost ~80 ms and the first
    in a non-UTC zone ~8 ms more, which belongs to model loading (with the bot's zone),
    not to the first user who mentions a date."""
    reference = datetime(2026, 1, 7, 12, 0, tzinfo=ZoneInfo("UTC"))
    extract_values("next friday at 2pm, in 3 days, on 12/03 or the 5th of may",
                   reference_time=reference, settings=ValueSettings(timezone=timezone))


def _overlaps_any(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


_TOKEN = re.compile(r"[a-z]+")
_HAS_DIGIT = re.compile(r"\d")
# Not after or before anything that makes digits part of a token: ORD-558, AB12, v1.2,
# 12/03, 14:30, #12, 3pm, $40 (the amount regex owns currency symbols).
_BEFORE = r"(?<![\w\-/.,:#@$€£¥])"
_AFTER = r"(?![\w\-/@$€£¥]|[.,:]\d)"

# --- numbers ---------------------------------------------------------------------------

_UNIT_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
               "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TEN_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUES = ({w: i for i, w in enumerate(_UNIT_WORDS)}
                | {w: 20 + 10 * i for i, w in enumerate(_TEN_WORDS)})
_NUMBER_TOKENS = frozenset((*_WORD_VALUES, "dozen", "hundred", "thousand"))
# longest first, so that "seventeen" is tried before "seven"
_SMALL = (rf"(?:(?:{'|'.join(_TEN_WORDS)})(?:[\s-]+(?:{'|'.join(_UNIT_WORDS[9:0:-1])}))?"
          rf"|{'|'.join(_UNIT_WORDS[19:0:-1])})")
_HUNDREDS = rf"(?:(?:a|{_SMALL})\s+hundred(?:\s+(?:and\s+)?{_SMALL})?)"
_NUMBER_WORDS = (rf"(?:(?:{_HUNDREDS}|{_SMALL}|a)\s+thousand(?:\s+(?:and\s+)?(?:{_HUNDREDS}|"
                 rf"{_SMALL}))?|{_HUNDREDS}|(?:a\s+|{_SMALL}\s+)?dozen|{_SMALL}|zero|hundred|"
                 r"thousand)")
_WORD_NUMBER = re.compile(rf"(?<![\w-]){_NUMBER_WORDS}(?![\w-])", re.IGNORECASE)  # not "one-off"
_DIGIT_NUMBER = re.compile(rf"{_BEFORE}-?(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?{_AFTER}")


def _numbers(text: str, spoken: list[re.Match[str]]) -> Iterator[ExtractedValue]:
    for match in _DIGIT_NUMBER.finditer(text):
        raw = match.group().replace(",", "")
        value: float = float(raw) if "." in raw else int(raw)
        yield ExtractedValue("number", value, match.group(), match.start(), match.end())
    for match in spoken:
        yield ExtractedValue("number", _words_value(match.group()), match.group(),
                             match.start(), match.end())


def _words_value(phrase: str) -> int:
    total = current = 0
    for word in _TOKEN.findall(phrase.lower()):
        if word == "hundred":
            current = (current or 1) * 100
        elif word == "thousand":
            total, current = total + (current or 1) * 1000, 0
        elif word == "dozen":
            current = (current or 1) * 12
        else:  # "a" and "and" count nothing
            current += _WORD_VALUES.get(word, 0)
    return total + current


# --- amounts ---------------------------------------------------------------------------

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_CODES = ("usd", "eur", "gbp", "jpy", "chf", "cad", "aud")
_MONEY_WORDS = {"dollars": "USD", "dollar": "USD", "bucks": "", "buck": "", "euros": "EUR",
                "euro": "EUR", "pounds": "GBP", "pound": "GBP", "quid": "GBP", "yen": "JPY"}
_MONEY_TOKENS = frozenset((*_MONEY_WORDS, *_CODES))
_HAS_SYMBOL = re.compile(r"[$€£¥]")
_UNIT = rf"(?:{'|'.join((*_MONEY_WORDS, *_CODES))})(?![a-z])"
_UNIT_AFTER = re.compile(rf"\s+({_UNIT})", re.IGNORECASE)
# 1,234.56 | 1.234,56 | 12,50 | 12.5 | 40; never followed by more digits
_MONEY_NUMBER = (r"(?:\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?"
                 r"|\d+(?:[.,]\d{1,2})?)(?![.,]?\d)")
_AMOUNT = re.compile(
    rf"(?P<pre>[$€£¥]|(?<![a-z])(?:{'|'.join(_CODES)})(?![a-z]))\s?"
    rf"(?P<n1>{_MONEY_NUMBER})(?P<k1>[km])?(?!\w)"
    rf"|{_BEFORE}(?P<n2>{_MONEY_NUMBER})(?P<k2>[km])?\s?(?P<post>[$€£¥]|{_UNIT})",
    re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}


def _amounts(text: str, words: frozenset[str], spoken: list[re.Match[str]],
             default_currency: str | None) -> list[ExtractedValue]:
    if words.isdisjoint(_MONEY_TOKENS) and not _HAS_SYMBOL.search(text):
        return []
    found = []
    for match in _AMOUNT.finditer(text):
        scale = _SCALE[(match["k1"] or match["k2"] or "").lower()]
        amount = _money_value(match["n1"] or match["n2"]) * scale
        currency = _currency(match["pre"] or match["post"], default_currency)
        found.append(ExtractedValue("amount_of_money", {"amount": amount, "currency": currency},
                                    match.group(), match.start(), match.end()))
    for number in spoken:  # "forty dollars"
        unit = _UNIT_AFTER.match(text, number.end())
        if unit:
            value = {"amount": float(_words_value(number.group())),
                     "currency": _currency(unit[1], default_currency)}
            found.append(ExtractedValue("amount_of_money", value, text[number.start():unit.end()],
                                        number.start(), unit.end()))
    return found


def _currency(unit: str, default_currency: str | None) -> str:
    unit = unit.lower()
    currency = _SYMBOLS.get(unit) or _MONEY_WORDS.get(unit, unit.upper())
    return currency or default_currency or "USD"  # "" is "bucks"


def _money_value(raw: str) -> float:
    """Three digits after the last separator: thousands; one or two: decimals."""
    cut = max(raw.rfind(","), raw.rfind("."))
    if cut < 0 or len(raw) - cut - 1 == 3:
        return float(re.sub(r"[.,]", "", raw))
    return float(re.sub(r"[.,]", "", raw[:cut]) + "." + raw[cut + 1:])


# --- times -----------------------------------------------------------------------------

_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = ("january february march april may june july august september october november "
           "december").split()
_SHORT = {"mon": "monday", "tues": "tuesday", "tue": "tuesday", "wed": "wednesday",
          "thurs": "thursday", "thur": "thursday", "thu": "thursday", "fri": "friday",
          "sat": "saturday", "sun": "sunday"}
_MONTH_SHORT = "jan feb mar apr jun jul aug sept sep oct nov dec".split()
_PERIODS = "minute min hour hr day week fortnight month year".split()
_DAY_WORDS = ("today tonight tomorrow tmrw tmr yesterday morning afternoon evening night noon "
              "midday midnight").split()
_TIME_TOKENS = frozenset((*_WEEKDAYS, *_SHORT, *_MONTHS, *_MONTH_SHORT, *_DAY_WORDS,
                          *_PERIODS, *(p + "s" for p in _PERIODS)))
_WEEKDAY = "|".join(_WEEKDAYS)
_WEEKDAY_SHORT = "|".join(_SHORT)
_MONTH = rf"(?:{'|'.join((*_MONTHS, *_MONTH_SHORT))})\.?"
_PLAIN_MONTH = "|".join(m for m in _MONTHS if m not in ("march", "may"))  # also verbs
_DAY_NUMBER = r"(?:3[01]|[12]\d|0?[1-9])"
_MONTH_NUMBER = _HOUR12 = r"(?:1[0-2]|0?[1-9])"
_DAY = rf"{_DAY_NUMBER}(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d\d"
_COUNT = rf"\d{{1,3}}|an?|{'|'.join(_UNIT_WORDS[12:0:-1])}|fifteen|twenty|thirty|forty|fifty"
_PERIOD = rf"(?:{'|'.join(_PERIODS)})s?"
_CLOCK = (r"(?:[01]?\d|2[0-3]):[0-5]\d(?:\s?[ap]\.?m\b\.?)?"
          rf"|{_HOUR12}\s?(?:[ap]\.?m\b\.?|o['’]?clock)|noon|midday|midnight")
_STRONG = "|".join((
    r"(?:the\s+)?day\s+(?:after\s+tomorrow|before\s+yesterday)",
    rf"(?:next|last|this|coming)\s+(?:{_WEEKDAY}|{_WEEKDAY_SHORT}|{_PLAIN_MONTH}|week|month"
    r"|year)",
    r"(?:this|last)\s+(?:morning|afternoon|evening|night)",
    r"today|tonight|tomorrow|tmrw|tmr|yesterday",
    rf"{_MONTH}\s+{_YEAR}",
    rf"{_MONTH}\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?",
    rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?",
    _PLAIN_MONTH,
    _WEEKDAY,
    rf"\d{{4}}-\d\d?-\d\d?|(?!24/7\b)(?:{_MONTH_NUMBER}/{_DAY_NUMBER}|{_DAY_NUMBER}/"
    rf"{_MONTH_NUMBER})(?:/(?:\d{{4}}|\d\d))?|{_DAY_NUMBER}\.{_MONTH_NUMBER}\.\d{{4}}",
    rf"in\s+(?:{_COUNT})\s+{_PERIOD}|in\s+half\s+an\s+hour"
    rf"|(?:{_COUNT})\s+{_PERIOD}\s+(?:from\s+now|ago)",
    _CLOCK,
))
_WEAK = rf"(?:in\s+the\s+|at\s+)?(?:morning|afternoon|evening|night)|{_WEEKDAY_SHORT}|{_MONTH}"
_TIME_PART = re.compile(
    rf"{_BEFORE}(?P<prefix>(?:on|at)\s+)?(?:(?P<strong>{_STRONG})|(?P<weak>{_WEAK})"
    rf"|(?P<ordinal>(?:the\s+)?{_DAY_NUMBER}(?:st|nd|rd|th))|(?P<hour>at\s+{_HOUR12}))"
    rf"{_AFTER}", re.IGNORECASE)
# every part starts a word (see _BEFORE) with one of these or a digit: trying the big
# pattern only there is 2-3x faster than finditer trying it at every word
_PART_STARTS = _TIME_TOKENS | frozenset(_WORD_VALUES) | frozenset(
    "on at the in day next last this coming a an".split())
_WORD_START = re.compile(r"\w+")
_GAP = re.compile(r"[\s,]*")
_Group = list[re.Match[str]]


def _span(group: _Group) -> tuple[int, int]:
    return group[0].start(), group[-1].end()


def _time_groups(text: str, words: frozenset[str]) -> list[_Group]:
    """Runs of adjacent time parts ("next friday" "at 2pm") with at least one strong part."""
    if words.isdisjoint(_TIME_TOKENS) and not _HAS_DIGIT.search(text):
        return []
    groups: list[_Group] = [[]]
    for part in _time_parts(text):
        run = groups[-1]
        if run and not _GAP.fullmatch(text, run[-1].end(), part.start()):
            groups.append([])
        groups[-1].append(part)
    return [g for g in groups if any(_is_strong(p) for p in g)]


def _time_parts(text: str) -> Iterator[re.Match[str]]:
    """What ``_TIME_PART.finditer`` finds, trying the pattern only where it can start."""
    end = 0
    for word in _WORD_START.finditer(text):
        first = word.group()
        if word.start() >= end and (first[0].isdigit() or first.lower() in _PART_STARTS):
            part = _TIME_PART.match(text, word.start())
            if part:
                end = part.end()
                yield part


def _is_strong(part: re.Match[str]) -> bool:
    """A strong part is a date on its own; "on" makes one of a weak word ("on sat")."""
    return bool(part["strong"]) or (part["prefix"] or "").lower().startswith("on")


def _resolve(text: str, group: _Group, local: datetime, zone: ZoneInfo) -> list[ExtractedValue]:
    """One value for the run or, when dateparser cannot read the run as a whole ("next
    week friday"), one for each strong part it can read."""
    whole = _value(text, group, local, zone)
    if whole is not None or len(group) == 1:
        return [whole] if whole is not None else []
    parts = (_value(text, [p], local, zone) for p in group if _is_strong(p))
    return [v for v in parts if v is not None]


def _value(text: str, run: _Group, local: datetime, zone: ZoneInfo) -> ExtractedValue | None:
    start, end = _span(run)
    settings = {"RELATIVE_BASE": local, "TIMEZONE": zone.key, "RETURN_AS_TIMEZONE_AWARE": False,
                "PREFER_DATES_FROM": "future", "PREFER_DAY_OF_MONTH": "first"}
    phrase = _rewrite(text[start:end], local.date())
    parsed: datetime | None = dateparser.parse(phrase, languages=["en"], settings=settings)
    if parsed is None:
        return None
    # naive wall-clock time in the bot's zone, localised here for the right DST offset
    return ExtractedValue("time", parsed.replace(tzinfo=zone).isoformat(), text[start:end],
                          start, end)


_SPELLED = _SHORT | {"tmrw": "tomorrow", "tmr": "tomorrow", "coming": "next",
                     "half an hour": "30 minutes"}
_SPELL = re.compile(rf"\b(?:{'|'.join(_SPELLED)})\b")
_LEADING = re.compile(r"^(?:on|at)\s+")
_DOTTED = re.compile(r"\b(\d\d?)\.(\d\d?)\.(\d{4})\b")
_ORDINAL = re.compile(r"\b(?:the\s+)?(\d\d?)(?:st|nd|rd|th)\b")
_HAS_MONTH = re.compile(rf"\b{_MONTH}(?!\w)")
_BARE_HOUR = re.compile(r"\bat\s+(\d\d?)\b(?!\s*(?:[:.]\d|[ap]\.?m\b|o['’]?clock))"
                        r"|\b(?:at\s+)?(\d\d?)\s*o['’]?clock")


def _rewrite(phrase: str, today: date) -> str:
    """Say what dateparser misreads in words it reads right: "sat" → "saturday",
    "05.12.2026" → "2026-12-05", "the 3rd" → "3 december 2026", "at 3" → "at 3 pm"."""
    phrase = _LEADING.sub("", phrase.lower())  # "on the 5th of may" parses 2x slower
    phrase = _SPELL.sub(lambda m: _SPELLED[m.group()], phrase)
    phrase = _DOTTED.sub(r"\3-\2-\1", phrase)
    if not _HAS_MONTH.search(phrase):
        phrase = _ORDINAL.sub(lambda m: _next_day_of_month(int(m[1]), today), phrase)
    return _BARE_HOUR.sub(lambda m: _clock_hour(int(m[1] or m[2]), phrase), phrase)


def _clock_hour(hour: int, phrase: str) -> str:
    """An hour without am/pm as a customer means it: the part of the day the phrase
    names, else office hours."""
    if "morning" in phrase:
        meridiem = "am"
    elif re.search(r"afternoon|evening|night", phrase):
        meridiem = "pm"
    else:
        meridiem = "pm" if hour <= 7 or hour == 12 else "am"
    return f"at {hour} {meridiem}"


def _next_day_of_month(day: int, today: date) -> str:
    """The first date on or after ``today`` whose day of the month is ``day``, in words."""
    year, month = today.year, today.month
    for _ in range(13):  # any day of the month 1–31 recurs within three months
        if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= today:
            return f"{day} {_MONTHS[month - 1]} {year}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{day}th"  # not a day of any month: dateparser rejects it
