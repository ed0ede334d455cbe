"""How the bot does, from the archive (README "Analytics" defines every figure).

``analytics`` reads the archive's tables (``desk.schema``: conversations, turns, messages,
feedback) over a range of whole days in one time zone and answers a :class:`Report`: the
figures of the whole range, of each channel and of each day. Each figure is counted once,
in cells of (channel, day), and the cells are added up: the database groups the counts
(``GROUP BY``), and the day of a row is a ``CASE`` over the range's midnights in UTC, which
this module computes with ``zoneinfo`` — so PostgreSQL and SQLite (which knows no time
zones) put a row in the same day, daylight saving included; the confidence histogram's bin
is a ``CASE`` too. What cannot be added up comes as values and is computed here: the
latency percentiles (one fetch of the user messages' latencies) and the form funnel (a walk
through the turns of the conversations where a form started, in order: ``desk.analytics_forms``).

Rates are ``None`` when their denominator is 0: no data is not 0 %.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, Select, Text, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.analytics_forms import FormTally, FormWalk
from desk.database import Database
from desk.errors import RecordError
from desk.schema import ArchivedMessageRow, AuthorKind, ConversationRow, FeedbackRow, TurnRow

__all__ = ["CHANNEL_NAME", "FIRST_DAY", "LAST_DAY", "MAX_DAYS", "PERCENTILE_METHOD",
           "TOP_INTENTS", "AnalyticsRangeError", "DayFigures", "Figures", "FormFunnel",
           "IntentCount", "Report", "SlotCount", "Window", "analytics", "default_range",
           "nearest_rank", "parse_day", "time_zone", "window"]

MAX_DAYS = 366
TOP_INTENTS = 10
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)  # the next midnight must exist
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
PERCENTILE_METHOD = "nearest-rank"
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HISTOGRAM_BINS = 10
_SATISFIED = (4, 5)  # CSAT answers that count as satisfied


class AnalyticsRangeError(RecordError):
    """The range, channel or time zone asked for cannot be reported on (→ 400, as the
    desk's middleware answers every ``RecordError``)."""


# --- the report ------------------------------------------------------------------------------

class IntentCount(msgspec.Struct, frozen=True):
    intent: str
    count: int


class SlotCount(msgspec.Struct, frozen=True):
    slot: str | None  # None: the form ended before it asked for anything
    count: int


class FormFunnel(msgspec.Struct, frozen=True):
    """A form's starts, completions, and where the others stopped (``dropped``: the slot
    it was asking for when it was cancelled or left, most first)."""

    form: str
    started: int
    completed: int
    completion_rate: float | None
    dropped: list[SlotCount]


class Figures(msgspec.Struct, frozen=True):
    """Every figure of one slice (the range, a channel or a day); README "Analytics"."""

    conversations: int
    resolved: int
    handed_off: int
    abandoned: int
    containment_rate: float | None
    handoff_rate: float | None
    abandonment_rate: float | None
    user_messages: int
    bot_messages: int
    agent_messages: int
    fallbacks: int
    fallback_rate: float | None
    out_of_scope: int
    out_of_scope_rate: float | None
    thumbs_up: int
    thumbs_down: int
    thumbs_up_share: float | None
    csat_answers: int
    csat_counts: list[int]  # answers 1, 2, 3, 4, 5
    csat_satisfied_share: float | None
    csat_mean: float | None
    intents: list[IntentCount]  # the most frequent first, at most ``top``
    intents_other: int  # the other user messages: other intents and none
    confidence_histogram: list[int]  # [0, 0.1), [0.1, 0.2), ... [0.9, 1.0]
    latency_count: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    forms: list[FormFunnel]


class DayFigures(msgspec.Struct, frozen=True):
    day: date
    figures: Figures


class Report(msgspec.Struct, frozen=True):
    start: date
    end: date
    tz: str
    channel: str | None
    percentile_method: str
    total: Figures
    channels: dict[str, Figures]
    days: list[DayFigures]  # every day of the range, the empty ones too

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready builtins (dates as ISO strings): the API's answer."""
        found: dict[str, Any] = msgspec.to_builtins(self)
        return found


# --- the range --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Window:
    """Whole days ``start``..``end`` (inclusive) in ``zone``; ``bounds``: each day's first
    instant in UTC, then the instant after the last day."""

    start: date
    end: date
    tz: str
    bounds: tuple[datetime, ...]

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(len(self.bounds) - 1)]


def window(start: date, end: date, tz: str) -> Window:
    """The range, checked: ``start`` ≤ ``end``, at most :data:`MAX_DAYS` days, between
    :data:`FIRST_DAY` and :data:`LAST_DAY`, in an IANA time zone (``Europe/Paris``)."""
    if start > end:
        raise AnalyticsRangeError(f"the range starts ({start}) after it ends ({end})")
    if start < FIRST_DAY or end > LAST_DAY:
        raise AnalyticsRangeError(f"dates are between {FIRST_DAY} and {LAST_DAY}")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise AnalyticsRangeError(f"the range is {count} days; at most {MAX_DAYS}")
    zone = time_zone(tz)
    days = [start + timedelta(days=i) for i in range(count + 1)]
    bounds = tuple(datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC) for d in days)
    return Window(start=start, end=end, tz=tz, bounds=bounds)


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or :class:`AnalyticsRangeError` saying it is unknown."""
    if not 0 < len(name) <= 64 or "\x00" in name:
        raise AnalyticsRangeError("tz is an IANA time zone name such as UTC or Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ValueError, LookupError, OSError) as exc:  # malformed, unknown, a folder
        raise AnalyticsRangeError(f"unknown time zone {name!r} (an IANA name such as UTC "
                                  "or Europe/Paris)") from exc


def parse_day(text: str, name: str) -> date:
    """A date as ``YYYY-MM-DD`` exactly (``date.fromisoformat`` would also take week dates
    and ``20260101``), or :class:`AnalyticsRangeError` naming ``name``."""
    if _ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise AnalyticsRangeError(f"{name} is a date as YYYY-MM-DD, not {text[:40]!r}")


def default_range(start: date | None, end: date | None, tz: str) -> tuple[date, date]:
    """The range a caller means when they leave a bound out: ``end`` today (in ``tz``),
    ``start`` six days before ``end`` — the last 7 days."""
    if end is None:
        end = datetime.now(time_zone(tz)).date()
    if start is None:
        start = max(end - timedelta(days=6), FIRST_DAY)
    return start, end


def nearest_rank(values: Sequence[float], percentile: int) -> float | None:
    """The nearest-rank percentile of sorted ``values``: the smallest value with at least
    ``percentile`` % of the values at or below it (``None`` for no values)."""
    if not values:
        return None
    rank = max(1, -(-percentile * len(values) // 100))  # ceil(p/100 · n)
    return values[rank - 1]


# --- counting in cells of (channel, day) ------------------------------------------------------

@dataclass(slots=True)
class _Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    intents: Counter[str | None] = field(default_factory=Counter)
    fallbacks: int = 0
    out_of_scope: int = 0
    authors: Counter[str] = field(default_factory=Counter)
    thumbs: Counter[int] = field(default_factory=Counter)
    csat: Counter[int] = field(default_factory=Counter)
    confidence_bins: list[int] = field(default_factory=lambda: [0] * _HISTOGRAM_BINS)
    latencies: list[float] = field(default_factory=list)
    forms: defaultdict[str, FormTally] = field(default_factory=lambda: defaultdict(FormTally))

    def add(self, other: _Tally) -> None:
        self.outcomes.update(other.outcomes)
        self.intents.update(other.intents)
        self.authors.update(other.authors)
        self.thumbs.update(other.thumbs)
        self.csat.update(other.csat)
        self.fallbacks += other.fallbacks
        self.out_of_scope += other.out_of_scope
        self.confidence_bins = [a + b for a, b in zip(self.confidence_bins,
                                                      other.confidence_bins, strict=True)]
        self.latencies += other.latencies
        for name, form in other.forms.items():
            self.forms[name].add(form)


_Cells = defaultdict[tuple[str, int], _Tally]


def _day(column: Any, span: Window) -> ColumnElement[Any]:
    """The index of the range's day ``column`` falls in (rows outside are filtered)."""
    return _bisect(column, span.bounds[1:-1], 0)


def _bisect(column: Any, bounds: Sequence[datetime], first: int) -> ColumnElement[Any]:
    """How many of ``bounds`` (sorted) are ≤ ``column``, plus ``first``: a tree of CASEs,
    so that a row of a year's range is compared 9 times, not up to 365."""
    if not bounds:
        return literal_column(str(first))
    middle = len(bounds) // 2
    return case((column < bounds[middle], _bisect(column, bounds[:middle], first)),
                else_=_bisect(column, bounds[middle + 1:], first + middle + 1))


def _in(column: Any, span: Window) -> list[ColumnElement[bool]]:
    return [column >= span.bounds[0], column < span.bounds[-1]]


async def _grouped(session: AsyncSession, inner: Select[Any], keys: Sequence[str]
                   ) -> list[Any]:
    """``inner``'s rows counted by ``keys`` (a subquery: PostgreSQL would not see the CASE
    of the select and of the GROUP BY as one expression, their parameters differ)."""
    sub = inner.subquery()
    columns = [sub.c[k] for k in keys]
    return list(await session.execute(select(*columns, func.count()).group_by(*columns)))


async def _conversations(session: AsyncSession, span: Window, channel: str | None,
                         cells: _Cells) -> None:
    c = ConversationRow
    inner = select(c.channel, _day(c.first_at, span).label("day"), c.outcome).where(
        *_in(c.first_at, span), c.user_messages >= 1, *_channel(c.channel, channel))
    for name, day, outcome, count in await _grouped(session, inner,
                                                    ("channel", "day", "outcome")):
        cells[name, day].outcomes[outcome] += count


async def _user_turns(session: AsyncSession, span: Window, channel: str | None,
                      cells: _Cells) -> None:
    t = TurnRow
    where = (t.user_message.is_(True), *_in(t.at, span), *_channel(t.channel, channel))
    inner = select(t.channel, _day(t.at, span).label("day"), t.intent, t.fallback,
                   t.out_of_scope, _confidence_bin(t.confidence).label("bin")).where(*where)
    keys = ("channel", "day", "intent", "fallback", "out_of_scope", "bin")
    for name, day, intent, fallback, out_of_scope, bin_, count in await _grouped(
            session, inner, keys):
        cell = cells[name, day]
        cell.intents[intent] += count
        cell.fallbacks += count if fallback else 0
        cell.out_of_scope += count if out_of_scope else 0
        if bin_ is not None:
            cell.confidence_bins[int(bin_)] += count
    latencies = select(t.channel, _day(t.at, span), t.latency_ms).where(
        *where, t.latency_ms.is_not(None))
    connection = await session.connection()  # Core rows: no ORM work per row
    for name, day, latency in await connection.execute(latencies):
        cells[name, day].latencies.append(float(latency))


def _confidence_bin(column: Any) -> ColumnElement[Any]:
    """Bin k holds k/10 ≤ confidence < (k+1)/10; the last one also 1 (and anything
    above), the first anything below 0; no confidence, no bin."""
    edges: list[tuple[ColumnElement[bool], Any]] = [
        (column < k / _HISTOGRAM_BINS, literal_column(str(k - 1)))
        for k in range(1, _HISTOGRAM_BINS)]
    return case((column.is_(None), None), *edges,
                else_=literal_column(str(_HISTOGRAM_BINS - 1)))


async def _replies(session: AsyncSession, span: Window, channel: str | None,
                   cells: _Cells) -> None:
    m, c = ArchivedMessageRow, ConversationRow
    inner = select(c.channel, _day(m.at, span).label("day"), m.author_kind).join(
        c, c.id == m.conversation_id).where(
        *_in(m.at, span), c.user_messages >= 1, *_channel(c.channel, channel),
        m.author_kind.in_((AuthorKind.BOT.value, AuthorKind.AGENT.value)))
    for name, day, author, count in await _grouped(session, inner,
                                                   ("channel", "day", "author_kind")):
        cells[name, day].authors[author] += count


async def _feedback(session: AsyncSession, span: Window, channel: str | None,
                    cells: _Cells) -> None:
    f = FeedbackRow
    inner = select(f.channel, _day(f.at, span).label("day"), f.kind, f.value).where(
        *_in(f.at, span), *_channel(f.channel, channel))
    for name, day, kind, value, count in await _grouped(session, inner,
                                                        ("channel", "day", "kind", "value")):
        (cells[name, day].thumbs if kind == "thumbs" else cells[name, day].csat)[value] += count


def _channel(column: Any, channel: str | None) -> list[ColumnElement[bool]]:
    return [] if channel is None else [column == channel]


# --- forms --------------------------------------------------------------------------------------

async def _forms(session: AsyncSession, span: Window, channel: str | None,
                 cells: _Cells) -> None:
    """Each form started in the range, followed through its conversation's later turns
    (past the range's end too: a form started on its last evening may end the next day)."""
    t = TurnRow
    # The plain form events (the record is encrypted); a coarse filter, the walk reads them.
    started = select(t.conversation_id).where(
        *_in(t.at, span), *_channel(t.channel, channel),
        cast(t.form_events, Text).like("%form_start%")).distinct()
    # Only the turns that can matter to a form: those it is open after, and those with a
    # form's or a restart's event.
    turns = select(t.conversation_id, t.channel, t.at, t.form_events, t.requested_slot).where(
        t.conversation_id.in_(started), t.at >= span.bounds[0],
        t.active_form.is_not(None) | t.form_events.is_not(None)).order_by(
        t.conversation_id, t.sequence)

    def tally_for(form: str, name: str, at: datetime) -> FormTally | None:
        if not span.bounds[0] <= at < span.bounds[-1]:
            return None  # a later start, after the range
        day = sum(1 for bound in span.bounds[1:-1] if at >= bound)
        return cells[name, day].forms[form]

    walk = FormWalk(tally_for)
    for conversation, name, at, events, asked in await session.execute(turns):
        walk.turn(conversation, name, at, events, {"requested_slot": asked})
    walk.finish()


# --- from cells to figures ----------------------------------------------------------------------

def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _figures(tally: _Tally, top: int) -> Figures:
    conversations = sum(tally.outcomes.values())
    resolved, handed_off, abandoned = (tally.outcomes[k] for k in
                                       ("resolved", "handed_off", "abandoned"))
    user_messages = sum(tally.intents.values())
    named = Counter({k: v for k, v in tally.intents.items() if k is not None})
    intents = [IntentCount(intent=k, count=v)
               for k, v in sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    up, down = tally.thumbs[1], tally.thumbs[0]
    csat_counts = [tally.csat[score] for score in range(1, 6)]
    answers = sum(csat_counts)
    latencies = sorted(tally.latencies)
    return Figures(
        conversations=conversations, resolved=resolved, handed_off=handed_off,
        abandoned=abandoned, containment_rate=_rate(resolved, conversations),
        handoff_rate=_rate(handed_off, conversations),
        abandonment_rate=_rate(abandoned, conversations),
        user_messages=user_messages, bot_messages=tally.authors[AuthorKind.BOT.value],
        agent_messages=tally.authors[AuthorKind.AGENT.value],
        fallbacks=tally.fallbacks, fallback_rate=_rate(tally.fallbacks, user_messages),
        out_of_scope=tally.out_of_scope,
        out_of_scope_rate=_rate(tally.out_of_scope, user_messages),
        thumbs_up=up, thumbs_down=down, thumbs_up_share=_rate(up, up + down),
        csat_answers=answers, csat_counts=csat_counts,
        csat_satisfied_share=_rate(sum(tally.csat[s] for s in _SATISFIED), answers),
        csat_mean=(sum(s * n for s, n in zip(range(1, 6), csat_counts, strict=True)) / answers
                   if answers else None),
        intents=intents, intents_other=user_messages - sum(i.count for i in intents),
        confidence_histogram=list(tally.confidence_bins),
        latency_count=len(latencies), latency_p50_ms=nearest_rank(latencies, 50),
        latency_p95_ms=nearest_rank(latencies, 95),
        forms=[_funnel(name, form) for name, form in sorted(tally.forms.items())])


def _funnel(name: str, form: FormTally) -> FormFunnel:
    dropped = sorted(form.dropped.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    return FormFunnel(form=name, started=form.started, completed=form.completed,
                      completion_rate=_rate(form.completed, form.started),
                      dropped=[SlotCount(slot=slot, count=n) for slot, n in dropped])


def _sum(tallies: Iterable[_Tally]) -> _Tally:
    total = _Tally()
    for tally in tallies:
        total.add(tally)
    return total


# --- the entry point ----------------------------------------------------------------------------

async def analytics(db: Database, *, start: date, end: date, channel: str | None,
                    tz: str = "UTC", top: int = TOP_INTENTS) -> Report:
    """The figures of the days ``start``..``end`` (inclusive, in ``tz``), of one channel or
    all (``None``): for the whole range, per channel and per day. Raises
    :class:`AnalyticsRangeError` for a range, channel or zone that cannot be reported on."""
    span = window(start, end, tz)
    if channel is not None and not CHANNEL_NAME.fullmatch(channel):
        raise AnalyticsRangeError("channel is a channel's name: a lowercase letter, then up "
                                  "to 31 lowercase letters, digits or _ (web, slack, ...)")
    cells: _Cells = defaultdict(_Tally)
    async with db.reads() as session:
        for count in (_conversations, _user_turns, _replies, _feedback, _forms):
            await count(session, span, channel, cells)
    by_channel: defaultdict[str, list[_Tally]] = defaultdict(list)
    by_day: defaultdict[int, list[_Tally]] = defaultdict(list)
    for (name, day), tally in cells.items():
        by_channel[name].append(tally)
        by_day[day].append(tally)
    return Report(
        start=span.start, end=span.end, tz=span.tz, channel=channel,
        percentile_method=PERCENTILE_METHOD, total=_figures(_sum(cells.values()), top),
        channels={name: _figures(_sum(by_channel[name]), top) for name in sorted(by_channel)},
        days=[DayFigures(day=day, figures=_figures(_sum(by_day.get(i, ())), top))
              for i, day in enumerate(span.days)])
