"""A team's business hours: a weekly schedule in one timezone, plus dates closed all day.

The schedule is wall-clock time in the team's zone, as a shop writes it on its door:
"09:00-17:00" means 09:00 to 17:00 local time on every date, whatever the UTC offset that
day. So on the day clocks go forward (Europe/London, last Sunday of March) a range that
starts inside the skipped hour opens when the clock jumps (02:00 BST), and on the day
they go back a range that covers the repeated hour is open both times it passes.
Ranges are half-open, ``[start, end)``; ``24:00`` may end a range (to midnight). A range
never crosses midnight: "22:00-02:00" is written as "22:00-24:00" on one day and
"00:00-02:00" on the next.

``read_business_hours`` turns the ``business_hours:`` block of ``desk.yml`` into a
``BusinessHours``, reporting every defect with its line; ``BusinessHours`` answers
``is_open``, ``next_opening`` and ``text`` for any aware datetime.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from brain.yaml_source import YamlMap, YamlSeq

__all__ = ["DAY_NAMES", "BusinessHours", "TimeRange", "read_business_hours"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_INDEX = {name: index for index, name in enumerate(DAY_NAMES)}
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
_DAY_KEY_HELP = ("day keys are mon tue wed thu fri sat sun, ranges like mon-fri, "
                 "lists like sat,sun")
# Offsets change at most a few times a year; probing every 6 hours cannot miss a change
# and its reversal in between, and bisection then finds the instant to the second.
_PROBE = timedelta(hours=6)

Report = Callable[[int, str], None]


@dataclass(frozen=True, slots=True, order=True)
class TimeRange:
    """``[start, end)`` in minutes after local midnight; ``end`` may be 1440 (24:00)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)}"

    def to_text(self) -> str:
        """The form ``desk.yml`` uses, ``09:00-17:00``."""
        return f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When a team is open. ``days[0]`` is Monday's ranges, sorted and disjoint."""

    timezone: str
    days: tuple[tuple[TimeRange, ...], ...]
    closed_on: frozenset[date] = frozenset()

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (an aware datetime, any zone) falls in the schedule."""
        return self._open_at_wall(_wall(_require_aware(at), self.zone))

    def next_opening(self, at: datetime) -> datetime | None:
        """The first instant at or after ``at`` when the team is open: ``at`` itself when
        open now, None when the schedule never opens.

        The answer is in ``at``'s timezone (``.astimezone(hours.zone)`` shows it in the
        team's). Not in the team's zone by default: an instant in the repeated hour of a
        ZoneInfo zone (``fold=1``) compares unequal to every datetime of another zone, so
        ``next_opening(t) == t`` would fail for such a ``t``."""
        zone = self.zone
        if self._open_at_wall(_wall(_require_aware(at), zone)):
            return at
        instant = at.astimezone(UTC)
        while True:
            offset = _offset(instant, zone)
            wall = (instant + offset).replace(tzinfo=None)
            target = self._next_wall_open(wall)
            if target is None:
                return None
            if target == wall:  # only after a change of offset, into an open range
                return instant.astimezone(at.tzinfo)
            candidate = (target - offset).replace(tzinfo=UTC)
            change = _first_offset_change(instant, candidate, offset, zone)
            if change is None:
                return candidate.astimezone(at.tzinfo)
            # The clocks change before the candidate: the wall time jumps, maybe into an
            # open range (the repeated hour), so look again from the change.
            instant = change

    def text(self) -> str:
        """``Mon–Fri 09:00–17:00, Sat 10:00–13:00 (Europe/Berlin time)``."""
        groups: list[str] = []
        index = 0
        while index < 7:
            end = index
            while end + 1 < 7 and self.days[end + 1] == self.days[index]:
                end += 1
            if self.days[index]:
                label = _DAY_LABELS[index] if end == index else (
                    f"{_DAY_LABELS[index]}–{_DAY_LABELS[end]}")
                groups.append(f"{label} {' and '.join(str(r) for r in self.days[index])}")
            index = end + 1
        if not groups:
            return "closed"
        return f"{', '.join(groups)} ({self.timezone} time)"

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "days": {name: [r.to_text() for r in self.days[i]]
                     for i, name in enumerate(DAY_NAMES)},
            "closed_on": sorted(d.isoformat() for d in self.closed_on),
            "text": self.text(),
        }

    def _open_at_wall(self, wall: datetime) -> bool:
        if wall.date() in self.closed_on:
            return False
        minute = wall.hour * 60 + wall.minute
        return any(r.start <= minute < r.end for r in self.days[wall.weekday()])

    def _next_wall_open(self, wall: datetime) -> datetime | None:
        """The first local wall time ≥ ``wall`` inside the schedule, None if there is none.
        The seven days after the last closed date hold every weekday, unblocked: a
        weekday's range not found by then is never open."""
        if self._open_at_wall(wall):
            return wall
        day = wall.date()
        last = max((d for d in self.closed_on if d >= day), default=day) + timedelta(days=7)
        while day <= last:
            if day not in self.closed_on:
                for period in self.days[day.weekday()]:
                    start = datetime.combine(day, _to_time(period.start))
                    if start > wall:
                        return start
            day += timedelta(days=1)
        return None


def read_business_hours(node: Any, line: int, report: Report) -> BusinessHours | None:
    """The ``business_hours:`` block (``node``, written at ``line``); None after reporting
    a defect (every defect is reported, not only the first)."""
    if not isinstance(node, YamlMap):
        report(line, "'business_hours' must be a mapping of day keys to hours, with a "
               "'timezone' (leave business_hours out for a team that is always open)")
        return None
    ok = True
    timezone = node.get("timezone")
    if "timezone" not in node:
        report(node.line, "'business_hours' needs a 'timezone' (an IANA name such as "
               "Europe/Berlin)")
        ok = False
    elif not _valid_timezone(timezone, node.line_of("timezone"), report):
        ok = False
    days: list[tuple[TimeRange, ...]] = [() for _ in DAY_NAMES]
    given: dict[int, tuple[str, int]] = {}
    for key in node:
        if key in ("timezone", "closed_on"):
            continue
        key_line = node.line_of(key)
        indexes = _day_indexes(key, key_line, report)
        ranges = _ranges(node[key], key, key_line, report)
        if indexes is None or ranges is None:
            ok = False
            continue
        for index in indexes:
            if index in given:
                first_key, first_line = given[index]
                report(key_line, f"'{DAY_NAMES[index]}' is given twice: by '{first_key}' "
                       f"(line {first_line}) and by '{key}'")
                ok = False
            given[index] = (key, key_line)
            days[index] = ranges
    closed = _closed_dates(node, report)
    if not ok or closed is None:
        return None
    return BusinessHours(str(timezone), tuple(days), closed)


def _valid_timezone(value: Any, line: int, report: Report) -> bool:
    if isinstance(value, str) and value:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return True
    close = difflib.get_close_matches(str(value), sorted(zoneinfo.available_timezones()), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    report(line, f"unknown timezone {value!r}: use an IANA name such as Europe/Berlin{hint}")
    return False


def _day_indexes(key: str, line: int, report: Report) -> tuple[int, ...] | None:
    indexes: list[int] = []
    for token in key.lower().split(","):
        token = token.strip()
        first, _, last = (part.strip() for part in token.partition("-"))
        if first not in _DAY_INDEX or (last and last not in _DAY_INDEX):
            unknown = first if first not in _DAY_INDEX else last
            report(line, f"unknown day {unknown!r} in business_hours key '{key}' "
                   f"({_DAY_KEY_HELP}; other keys: timezone, closed_on)")
            return None
        start = _DAY_INDEX[first]
        span = (_DAY_INDEX[last] - start) % 7 if last else 0  # "fri-mon" wraps the weekend
        indexes.extend((start + step) % 7 for step in range(span + 1))
    return tuple(indexes)


def _ranges(value: Any, key: str, line: int, report: Report) -> tuple[TimeRange, ...] | None:
    """``"09:00-12:00, 13:00-17:00"`` (or a list of such texts) or ``closed``."""
    texts: list[str]
    if isinstance(value, str):
        texts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        texts = [part for item in value for part in item.split(",")]
    else:
        report(line, f"business_hours '{key}': expected quoted hours such as "
               f"\"09:00-17:00\" or \"closed\", got {value!r}")
        return None
    texts = [text.strip() for text in texts]
    if [text.lower() for text in texts] == ["closed"]:
        return ()
    ranges: list[TimeRange] = []
    for text in texts:
        start, sep, end = (part.strip() for part in text.replace("–", "-").partition("-"))
        if not sep or not _TIME.match(start) or not _TIME.match(end) or start == "24:00":
            report(line, f"business_hours '{key}': {text!r} is not a range of 24-hour "
                   "HH:MM times such as 09:00-17:00 (or write \"closed\")")
            return None
        period = TimeRange(_minutes(start), _minutes(end))
        if period.end <= period.start:
            report(line, f"business_hours '{key}': {text!r} ends before it starts; a range "
                   "cannot cross midnight (write 22:00-24:00 and 00:00-02:00 on the next day)")
            return None
        ranges.append(period)
    ranges.sort()
    for before, after in itertools.pairwise(ranges):
        if after.start < before.end:
            report(line, f"business_hours '{key}': ranges {before} and {after} overlap")
            return None
    return tuple(ranges)


def _closed_dates(node: YamlMap, report: Report) -> frozenset[date] | None:
    if "closed_on" not in node:
        return frozenset()
    items, line = node["closed_on"], node.line_of("closed_on")
    if not isinstance(items, YamlSeq):
        report(line, "'closed_on' must be a list of ISO dates such as [\"2026-12-25\"]")
        return None
    dates: set[date] = set()
    ok = True
    for item, item_line in zip(items, items.item_lines, strict=True):
        parsed = _iso_date(item)
        if parsed is None:
            report(item_line, f"'closed_on': {item!r} is not a date (write YYYY-MM-DD)")
            ok = False
        else:
            dates.add(parsed)
    return frozenset(dates) if ok else None


def _iso_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a timestamp is not a whole day
    if isinstance(value, date):
        return value  # YAML reads an unquoted 2026-12-25 as a date
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()) if len(value.strip()) == 10 else None
        except ValueError:
            return None
    return None


def _require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed (with a timezone), got {at!r}")
    return at


def _wall(at: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def _offset(instant: datetime, zone: zoneinfo.ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _first_offset_change(start: datetime, end: datetime, offset: timedelta,
                         zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The first instant in ``(start, end]`` whose UTC offset differs from ``offset``."""
    low = start
    while low < end:
        high = min(low + _PROBE, end)
        if _offset(high, zone) != offset:
            return _bisect_change(low, high, offset, zone)
        low = high
    return None


def _bisect_change(low: datetime, high: datetime, offset: timedelta,
                   zone: zoneinfo.ZoneInfo) -> datetime:
    # Offsets change on whole seconds, so bisect whole seconds: offset(lo) is ``offset``,
    # offset(hi) is not, until they are one second apart.
    lo = int(low.timestamp())
    hi = math.ceil(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(datetime.fromtimestamp(mid, UTC), zone) == offset:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _to_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)
