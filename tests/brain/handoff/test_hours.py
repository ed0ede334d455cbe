"""Business hours: wall-clock ranges in the team's zone, whatever zone the question is in,
through the days the clocks change; ``next_opening`` agrees with ``is_open``."""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brain.handoff import BusinessHours, TeamSettings, TimeRange, load_desk_settings

BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def _team(tmp_path: Path, hours: str) -> TeamSettings:
    block = textwrap.indent(textwrap.dedent(hours), " " * 6)
    (tmp_path / "desk.yml").write_text(f"teams:\n  support:\n    business_hours:\n{block}",
                                       encoding="utf-8")
    return load_desk_settings(tmp_path).teams["support"]


@pytest.fixture
def berlin(tmp_path: Path) -> TeamSettings:
    return _team(tmp_path, """\
        timezone: Europe/Berlin
        mon-fri: "09:00-12:00, 13:00-17:00"
        sat: "10:00-13:00"
        sun: closed
        closed_on: ["2026-12-24", 2026-12-25]
        """)


def test_ranges_include_their_start_and_exclude_their_end(berlin: TeamSettings) -> None:
    monday = datetime(2026, 6, 1, tzinfo=BERLIN)
    opens = {hm: berlin.is_open(monday.replace(hour=hm[0], minute=hm[1]))
             for hm in [(8, 59), (9, 0), (11, 59), (12, 0), (12, 59), (13, 0), (16, 59),
                        (17, 0)]}
    assert opens == {(8, 59): False, (9, 0): True, (11, 59): True, (12, 0): False,
                     (12, 59): False, (13, 0): True, (16, 59): True, (17, 0): False}
    assert berlin.is_open(datetime(2026, 6, 1, 16, 59, 59, 999999, tzinfo=BERLIN))


def test_closed_days_and_dates(berlin: TeamSettings) -> None:
    assert berlin.is_open(datetime(2026, 6, 6, 11, 0, tzinfo=BERLIN))  # Saturday
    assert not berlin.is_open(datetime(2026, 6, 6, 13, 0, tzinfo=BERLIN))
    assert not berlin.is_open(datetime(2026, 6, 7, 11, 0, tzinfo=BERLIN))  # Sunday
    assert berlin.is_open(datetime(2026, 12, 23, 10, 0, tzinfo=BERLIN))
    assert not berlin.is_open(datetime(2026, 12, 24, 10, 0, tzinfo=BERLIN))  # quoted date
    assert not berlin.is_open(datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN))  # YAML date
    assert berlin.hours is not None
    assert berlin.hours.closed_on == {date(2026, 12, 24), date(2026, 12, 25)}


def test_the_question_may_come_in_any_zone(berlin: TeamSettings) -> None:
    # 03:30 in New York: 09:30 in Berlin while both keep standard time (2 March), but only
    # 08:30 between the American and the European change (16 March).
    assert berlin.is_open(datetime(2026, 3, 2, 3, 30, tzinfo=NEW_YORK))
    assert not berlin.is_open(datetime(2026, 3, 16, 3, 30, tzinfo=NEW_YORK))
    assert berlin.is_open(datetime(2026, 3, 16, 4, 0, tzinfo=NEW_YORK))
    # summer: Berlin is UTC+2
    assert not berlin.is_open(datetime(2026, 6, 1, 6, 59, tzinfo=UTC))
    assert berlin.is_open(datetime(2026, 6, 1, 7, 0, tzinfo=UTC))
    # the local date decides a closed date: 23:30 UTC on 23 December is the 24th in Berlin
    late = _team_all_day(berlin)
    assert not late.is_open(datetime(2026, 12, 23, 23, 30, tzinfo=UTC))
    assert late.is_open(datetime(2026, 12, 23, 22, 30, tzinfo=UTC))


def _team_all_day(team: TeamSettings) -> BusinessHours:
    assert team.hours is not None
    return BusinessHours(team.hours.timezone, tuple((TimeRange(0, 1440),) for _ in range(7)),
                         team.hours.closed_on)


def test_naive_datetimes_are_refused(berlin: TeamSettings) -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        berlin.is_open(datetime(2026, 6, 1, 10, 0))
    with pytest.raises(ValueError, match="aware datetime"):
        berlin.next_opening(datetime(2026, 6, 1, 10, 0))


def test_next_opening_across_a_weekend(berlin: TeamSettings) -> None:
    friday_evening = datetime(2026, 6, 5, 17, 30, tzinfo=BERLIN)
    opening = berlin.next_opening(friday_evening)
    assert opening == datetime(2026, 6, 6, 10, 0, tzinfo=BERLIN)  # Saturday morning
    saturday_afternoon = datetime(2026, 6, 6, 13, 0, tzinfo=BERLIN)
    opening = berlin.next_opening(saturday_afternoon)
    assert opening == datetime(2026, 6, 8, 9, 0, tzinfo=BERLIN)  # Monday
    # asked in UTC on Sunday: answered in UTC, and 09:00 in the team's zone
    opening = berlin.next_opening(datetime(2026, 6, 7, 12, 0, tzinfo=UTC))
    assert opening == datetime(2026, 6, 8, 7, 0, tzinfo=UTC) and opening.tzinfo is UTC
    assert berlin.hours is not None
    assert opening.astimezone(berlin.hours.zone).hour == 9


def test_next_opening_skips_closed_dates_and_lunch(berlin: TeamSettings) -> None:
    opening = berlin.next_opening(datetime(2026, 12, 23, 17, 0, tzinfo=BERLIN))
    assert opening == datetime(2026, 12, 26, 10, 0, tzinfo=BERLIN)  # Sat after Christmas
    lunch = datetime(2026, 6, 1, 12, 15, tzinfo=BERLIN)
    assert berlin.next_opening(lunch) == datetime(2026, 6, 1, 13, 0, tzinfo=BERLIN)


def test_next_opening_past_closed_dates_on_the_only_open_day(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: UTC
        wed: "10:00-11:00"
        closed_on: ["2026-01-07", "2026-01-14", "2026-01-21"]
        """)
    opening = team.next_opening(datetime(2026, 1, 1, tzinfo=UTC))
    assert opening == datetime(2026, 1, 28, 10, 0, tzinfo=UTC)


def test_next_opening_when_open_is_now(berlin: TeamSettings) -> None:
    now = datetime(2026, 6, 1, 8, 17, 3, 5, tzinfo=UTC)  # 10:17 in Berlin
    assert berlin.next_opening(now) is now


def test_a_schedule_that_never_opens(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: UTC
        mon-sun: closed
        """)
    at = datetime(2026, 6, 1, tzinfo=UTC)
    assert not team.is_open(at) and team.next_opening(at) is None
    assert team.hours_text() == "closed"


def test_day_keys_wrap_list_and_ignore_case(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: UTC
        Fri-Mon: "10:00-11:00"
        "wed, tue": "09:00-10:00"
        """)
    assert team.hours is not None
    assert [bool(day) for day in team.hours.days] == [True, True, True, False, True, True,
                                                      True]
    assert team.hours_text() == ("Mon 10:00–11:00, Tue–Wed 09:00–10:00, Fri–Sun 10:00–11:00 "
                                 "(UTC time)")


def test_hours_text_groups_days_with_the_same_hours(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: Europe/Berlin
        mon-fri: "09:00-17:00"
        sat: "10:00-13:00"
        """)
    assert team.hours_text() == "Mon–Fri 09:00–17:00, Sat 10:00–13:00 (Europe/Berlin time)"


# --- the days the clocks change (Europe/London: 29 March and 25 October 2026) ------------


@pytest.fixture
def london_sundays(tmp_path: Path) -> TeamSettings:
    return _team(tmp_path, """\
        timezone: Europe/London
        sun: "08:00-20:00"
        """)


def test_spring_forward_keeps_wall_clock_hours(london_sundays: TeamSettings) -> None:
    # the week before, on GMT, 08:00 is 08:00 UTC; on the change day it is 07:00 UTC
    assert london_sundays.is_open(datetime(2026, 3, 22, 8, 0, tzinfo=UTC))
    assert not london_sundays.is_open(datetime(2026, 3, 29, 6, 59, tzinfo=UTC))
    assert london_sundays.is_open(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
    assert london_sundays.is_open(datetime(2026, 3, 29, 18, 59, tzinfo=UTC))
    assert not london_sundays.is_open(datetime(2026, 3, 29, 19, 0, tzinfo=UTC))
    saturday_night = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert london_sundays.next_opening(saturday_night) == datetime(2026, 3, 29, 7, 0,
                                                                   tzinfo=UTC)


def test_a_range_starting_in_the_skipped_hour_opens_when_the_clock_jumps(
        tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: Europe/London
        sun: "01:30-03:00"
        """)
    opening = team.next_opening(datetime(2026, 3, 29, 0, 10, tzinfo=LONDON))  # 00:10 GMT
    assert opening == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert opening is not None and (opening.hour, opening.minute) == (2, 0)  # BST
    assert not team.is_open(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    assert team.is_open(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))


def test_a_range_inside_the_skipped_hour_does_not_open_that_day(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: Europe/London
        sun: "01:10-01:50"
        """)
    opening = team.next_opening(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert opening == datetime(2026, 4, 5, 1, 10, tzinfo=LONDON)


def test_fall_back_counts_the_repeated_hour_twice(tmp_path: Path) -> None:
    team = _team(tmp_path, """\
        timezone: Europe/London
        sun: "01:00-01:30"
        """)
    first = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 01:15 BST
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 01:15 GMT
    between = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)  # 01:45 BST
    assert team.is_open(first) and team.is_open(second) and not team.is_open(between)
    opening = team.next_opening(between)
    assert opening == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # the clock goes back
    local = team.next_opening(between.astimezone(LONDON))
    assert local is not None and (local.hour, local.minute, local.fold) == (1, 0, 1)
    assert team.next_opening(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == datetime(
        2026, 11, 1, 1, 0, tzinfo=UTC)


def test_fall_back_day_hours_are_local(london_sundays: TeamSettings) -> None:
    assert not london_sundays.is_open(datetime(2026, 10, 25, 7, 59, tzinfo=UTC))
    assert london_sundays.is_open(datetime(2026, 10, 25, 8, 0, tzinfo=UTC))  # 08:00 GMT
    assert london_sundays.is_open(datetime(2026, 10, 25, 19, 59, tzinfo=UTC))
    assert not london_sundays.is_open(datetime(2026, 10, 25, 20, 0, tzinfo=UTC))


# --- properties --------------------------------------------------------------------------

_ZONES = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York", "America/Santiago",
          "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham", "Pacific/Apia"]


@st.composite
def _schedules(draw: st.DrawFn) -> BusinessHours:
    days = []
    for _ in range(7):
        cuts = sorted(draw(st.sets(st.integers(0, 48), max_size=4)))
        minutes = [c * 30 for c in cuts]
        days.append(tuple(TimeRange(a, b) for a, b in zip(minutes[::2], minutes[1::2],
                                                             strict=False) if b > a))
    closed = draw(st.frozensets(st.dates(date(2026, 1, 1), date(2026, 2, 15)), max_size=10))
    return BusinessHours(draw(st.sampled_from(_ZONES)), tuple(days), closed)


_INSTANTS = st.integers(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
                        int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())).map(
    lambda s: datetime.fromtimestamp(s, UTC))


@given(_schedules(), _INSTANTS, st.sampled_from(_ZONES))
def test_next_opening_agrees_with_is_open(hours: BusinessHours, at: datetime,
                                          asked_in: str) -> None:
    at = at.astimezone(ZoneInfo(asked_in))
    opening = hours.next_opening(at)
    assert hours.is_open(at) == (opening is at)
    if opening is None:
        assert not any(hours.days)
        return
    assert opening.tzinfo is at.tzinfo
    # (compared as UTC: within one ZoneInfo zone Python compares wall times, fold ignored)
    opening, at = opening.astimezone(UTC), at.astimezone(UTC)
    assert opening >= at and hours.is_open(opening)
    if opening > at:
        # closed from ``at`` until the opening: on every minute boundary (ranges start on
        # them, and these zones change offset on them) and just before it
        if opening - timedelta(seconds=1) >= at:
            assert not hours.is_open(opening - timedelta(seconds=1))
        minute = at.replace(second=0) + timedelta(minutes=1)
        step = max(timedelta(minutes=1), (opening - at) / 400)
        while minute < opening:
            assert not hours.is_open(minute)
            minute += step


@given(_schedules(), _INSTANTS)
def test_the_zone_of_the_question_does_not_matter(hours: BusinessHours, at: datetime) -> None:
    answers = {hours.is_open(at.astimezone(ZoneInfo(zone))) for zone in _ZONES}
    assert len(answers) == 1
