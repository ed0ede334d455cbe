"""``desk.yml``: what it says, where handoffs go, and every defect with its file:line."""

from __future__ import annotations

import json
import logging
import pickle
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brain.dialogue.domain_reader import load_domain
from brain.errors import BotDataError
from brain.handoff import DeskSettings, load_desk_settings, validate_desk
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "support_bot"

FULL = """\
default_team: support
teams:
  support:
    business_hours:
      timezone: Europe/Berlin
      mon-fri: "09:00-17:00"
      sat: "10:00-13:00, 14:00-16:00"
      closed_on: ["2026-12-25"]
    first_response_minutes: 2
    queue_timeout_minutes: 15
    capacity_per_agent: 3
    auto_assign: false
  billing:
    first_response_minutes: 0.5
    queue_timeout_minutes: 30
    capacity_per_agent: 1
    auto_assign: true
  sales:
routes:
  - intent: request_refund
    team: billing
  - slot: topic
    value: billing
    team: billing
  - channel: whatsapp
    team: sales
  - intents: [buy, pricing]
    team: sales
  - slot: vip
    value: [true]
    team: billing
"""


def _bot(tmp_path: Path, text: str, name: str = "desk.yml") -> Path:
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def _errors(bot: Path, **domain: list[str]) -> list[str]:
    with pytest.raises(BotDataError) as caught:
        load_desk_settings(bot, **domain)
    return [str(p).removeprefix(f"{bot}/") for p in caught.value.problems]


# --- what the file says ------------------------------------------------------------------


def test_without_desk_yml_one_support_team_always_open(tmp_path: Path) -> None:
    desk = load_desk_settings(tmp_path)
    assert list(desk.teams) == ["support"] and desk.default_team == "support"
    support = desk.teams["support"]
    assert (support.hours, support.first_response_seconds, support.queue_timeout_seconds,
            support.capacity_per_agent, support.auto_assign) == (None, 120, 900, 3, False)
    assert support.is_open(datetime(2026, 1, 4, 3, 0, tzinfo=UTC))  # a Sunday, at night
    at = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)
    assert support.next_opening(at) == at
    assert support.hours_text() == "24/7"
    assert desk.route(intent="request_refund", slots={}, channel="slack") is support
    assert desk.source is None


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    desk = load_desk_settings(_bot(tmp_path, "# nothing yet\n"))
    assert list(desk.teams) == ["support"] and desk.source == str(tmp_path / "desk.yml")


def test_a_full_file_is_read(tmp_path: Path) -> None:
    desk = load_desk_settings(_bot(tmp_path, FULL))
    assert list(desk.teams) == ["support", "billing", "sales"]
    support, billing, sales = (desk.teams[n] for n in ("support", "billing", "sales"))
    assert support.hours is not None and support.hours.timezone == "Europe/Berlin"
    assert support.hours_text() == ("Mon–Fri 09:00–17:00, Sat 10:00–13:00 and 14:00–16:00 "
                                     "(Europe/Berlin time)")
    assert (billing.first_response_seconds, billing.queue_timeout_seconds,
            billing.capacity_per_agent, billing.auto_assign) == (30, 1800, 1, True)
    assert sales.hours is None and sales.first_response_seconds == 120
    assert [r.line for r in desk.routes] == [20, 22, 25, 27, 29]


def test_to_json_is_plain_data_of_every_team(tmp_path: Path) -> None:
    data = load_desk_settings(_bot(tmp_path, FULL)).to_json()
    assert json.loads(json.dumps(data)) == data
    assert set(data["teams"]) == {"support", "billing", "sales"}
    support = data["teams"]["support"]
    assert support["hours"]["days"]["sat"] == ["10:00-13:00", "14:00-16:00"]
    assert support["hours"]["days"]["sun"] == []
    assert support["hours"]["closed_on"] == ["2026-12-25"]
    assert support["first_response_seconds"] == 120
    assert data["teams"]["sales"]["hours"] is None
    assert data["routes"][1] == {"slot": "topic", "values": ["billing"], "team": "billing"}


# --- routing -----------------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path) -> DeskSettings:
    return load_desk_settings(_bot(tmp_path, FULL))


def _team(desk: DeskSettings, **kw: object) -> str:
    args: dict[str, object] = {"intent": None, "slots": {}, "channel": "webchat"} | kw
    return desk.route(**args).name  # type: ignore[arg-type]


def test_routes_by_intent_slot_and_channel(desk: DeskSettings) -> None:
    assert _team(desk, intent="request_refund") == "billing"
    assert _team(desk, slots={"topic": "billing"}) == "billing"
    assert _team(desk, slots={"topic": "shipping"}) == "support"
    assert _team(desk, channel="whatsapp") == "sales"
    assert _team(desk, intent="pricing") == "sales"
    assert _team(desk, intent="greet", slots={"topic": None}) == "support"


def test_first_match_wins(desk: DeskSettings) -> None:
    # the intent route (billing) comes before the channel route (sales)
    assert _team(desk, intent="request_refund", channel="whatsapp") == "billing"
    assert _team(desk, intent="buy", channel="whatsapp") == "sales"


def test_slot_values_compare_as_text(desk: DeskSettings) -> None:
    assert _team(desk, slots={"vip": True}) == "billing"
    assert _team(desk, slots={"vip": "true"}) == "billing"
    assert _team(desk, slots={"vip": False}) == "support"
    assert _team(desk, slots={"topic": ["shipping", "billing"]}) == "billing"


def test_numbers_match_whatever_their_type(tmp_path: Path) -> None:
    desk = load_desk_settings(_bot(tmp_path, """\
        teams: {support: {}, gold: {}}
        routes:
          - slot: tier
            value: 3
            team: gold
        """))
    assert _team(desk, slots={"tier": 3.0}) == "gold"
    assert _team(desk, slots={"tier": "3"}) == "gold"
    assert _team(desk, slots={"tier": 3.5}) == "support"


def test_an_existing_requested_team_wins(desk: DeskSettings) -> None:
    assert _team(desk, intent="request_refund", requested_team="sales") == "sales"


def test_an_unknown_requested_team_is_routed_with_a_warning(
        desk: DeskSettings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="parley.brain.handoff"):
        assert _team(desk, intent="request_refund", requested_team="legal") == "billing"
    assert "'legal'" in caplog.text and "routing it instead" in caplog.text
    caplog.clear()
    assert _team(desk, requested_team="") == "support"
    assert caplog.text == ""


def test_default_team_takes_the_rest(tmp_path: Path) -> None:
    desk = load_desk_settings(_bot(tmp_path, """\
        default_team: general
        teams: {general: {}, billing: {}}
        """))
    assert _team(desk, intent="anything") == "general"


# --- the example bot ---------------------------------------------------------------------


def test_the_example_routes_refunds_to_billing() -> None:
    domain = load_domain(EXAMPLE)
    desk = load_desk_settings(EXAMPLE, intents=domain.intents, slots=domain.slots)
    assert set(desk.teams) == {"support", "billing"} and desk.default_team == "support"
    assert _team(desk, intent="request_refund") == "billing"
    # asking for a person while the refund form asks its questions
    assert _team(desk, intent="talk_to_human",
                 slots={"requested_slot": "refund_reason"}) == "billing"
    assert _team(desk, intent="talk_to_human", slots={"requested_slot": "order_id"}) == "support"
    assert _team(desk, intent="talk_to_human") == "support"
    assert validate_desk(EXAMPLE, domain.intents, domain.slots) == []


def test_the_example_reaches_support_at_night_and_billing_on_weekdays() -> None:
    desk = load_desk_settings(EXAMPLE)
    sunday_night = datetime(2026, 6, 7, 1, 30, tzinfo=UTC)
    assert desk.teams["support"].is_open(sunday_night)
    billing = desk.teams["billing"]
    assert not billing.is_open(sunday_night)
    opening = billing.next_opening(sunday_night)
    assert opening == datetime(2026, 6, 8, 7, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    assert billing.hours_text() == "Mon–Fri 09:00–17:00 (Europe/Berlin time)"


# --- defects, each with file:line --------------------------------------------------------


def test_unknown_keys_name_the_allowed_ones(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        default_team: support
        team: {}
        teams:
          support:
            sla_minutes: 3
        routes:
          - intent: greet
            team: support
            priority: 1
        """)) == [
        "desk.yml:2: unknown key 'team' in desk.yml (allowed: default_team, teams, routes)",
        "desk.yml:5: unknown key 'sla_minutes' in team 'support' (allowed: business_hours, "
        "first_response_minutes, queue_timeout_minutes, capacity_per_agent, auto_assign)",
        "desk.yml:9: unknown key 'priority' in a route (allowed: intent, intents, slot, "
        "value, channel, team)",
    ]


def test_unknown_teams(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        default_team: helpdesk
        teams:
          support: {}
          billing: {}
        routes:
          - intent: request_refund
            team: biling
          - channel: slack
        """)) == [
        "desk.yml:1: default_team 'helpdesk' is not a team (teams: support, billing)",
        "desk.yml:7: route to unknown team 'biling' (teams: support, billing)",
        "desk.yml:8: a route needs a 'team'",
    ]


def test_without_default_team_a_support_team_is_needed(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          billing: {}
        """)) == ["desk.yml:1: the default team 'support' is not a team (teams: billing); "
                  "set default_team"]


def test_teams_must_be_a_mapping_with_valid_names(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, "teams: [support]\n")) == [
        "desk.yml:1: 'teams' must be a mapping of team names to their settings, with at "
        "least one team"]
    assert _errors(_bot(tmp_path, """\
        default_team: sup port
        teams:
          sup port: {}
          billing: fast
        """)) == [
        "desk.yml:3: team name 'sup port': use letters, digits, '_', '-' or '.' (up to 64, "
        "starting with a letter or digit)",
        "desk.yml:4: team 'billing' must be a mapping of settings (business_hours, "
        "first_response_minutes, queue_timeout_minutes, capacity_per_agent, auto_assign)",
    ]


def test_bad_timezones(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          support:
            business_hours:
              timezone: Europe/Londn
              mon: "09:00-17:00"
          billing:
            business_hours:
              mon: "09:00-17:00"
          sales:
            business_hours:
              timezone: Mars/Olympus
        """)) == [
        "desk.yml:4: unknown timezone 'Europe/Londn': use an IANA name such as "
        "Europe/Berlin (did you mean Europe/London?)",
        "desk.yml:8: 'business_hours' needs a 'timezone' (an IANA name such as "
        "Europe/Berlin)",
        "desk.yml:11: unknown timezone 'Mars/Olympus': use an IANA name such as "
        "Europe/Berlin",
    ]


@pytest.mark.parametrize(("hours", "message"), [
    ('"17:00-09:00"', "'17:00-09:00' ends before it starts; a range cannot cross midnight "
                      "(write 22:00-24:00 and 00:00-02:00 on the next day)"),
    ('"09:00-09:00"', "'09:00-09:00' ends before it starts; a range cannot cross midnight "
                      "(write 22:00-24:00 and 00:00-02:00 on the next day)"),
    ('"09:00-13:00, 12:00-17:00"', "ranges 09:00–13:00 and 12:00–17:00 overlap"),
    ('"9:00-17:00"', "'9:00-17:00' is not a range of 24-hour HH:MM times such as "
                     "09:00-17:00 (or write \"closed\")"),
    ('"09:00 to 17:00"', "'09:00 to 17:00' is not a range of 24-hour HH:MM times such as "
                         "09:00-17:00 (or write \"closed\")"),
    ('"24:00-24:00"', "'24:00-24:00' is not a range of 24-hour HH:MM times such as "
                      "09:00-17:00 (or write \"closed\")"),
    ('"09:60-17:00"', "'09:60-17:00' is not a range of 24-hour HH:MM times such as "
                      "09:00-17:00 (or write \"closed\")"),
    ("9", "expected quoted hours such as \"09:00-17:00\" or \"closed\", got 9"),
])
def test_bad_time_ranges(tmp_path: Path, hours: str, message: str) -> None:
    assert _errors(_bot(tmp_path, f"""\
        teams:
          support:
            business_hours:
              timezone: UTC
              mon-fri: {hours}
        """)) == [f"desk.yml:5: business_hours 'mon-fri': {message}"]


def test_adjacent_ranges_and_midnight_are_fine(tmp_path: Path) -> None:
    desk = load_desk_settings(_bot(tmp_path, """\
        teams:
          support:
            business_hours:
              timezone: UTC
              fri: "09:00-12:00, 12:00-13:00, 18:00-24:00"
              sat: ["00:00-02:00"]
        """))
    hours = desk.teams["support"].hours
    assert hours is not None
    assert [r.to_text() for r in hours.days[4]] == ["09:00-12:00", "12:00-13:00",
                                                     "18:00-24:00"]


def test_bad_day_keys(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          support:
            business_hours:
              timezone: UTC
              monday: "09:00-17:00"
              mon-fir: "09:00-17:00"
              fri: "09:00-12:00"
              sat,sun: closed
              sun: "10:00-12:00"
        """)) == [
        "desk.yml:5: unknown day 'monday' in business_hours key 'monday' (day keys are mon "
        "tue wed thu fri sat sun, ranges like mon-fri, lists like sat,sun; other keys: "
        "timezone, closed_on)",
        "desk.yml:6: unknown day 'fir' in business_hours key 'mon-fir' (day keys are mon "
        "tue wed thu fri sat sun, ranges like mon-fri, lists like sat,sun; other keys: "
        "timezone, closed_on)",
        "desk.yml:9: 'sun' is given twice: by 'sat,sun' (line 8) and by 'sun'",
    ]


def test_bad_closed_dates(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          support:
            business_hours:
              timezone: UTC
              mon: "09:00-17:00"
              closed_on:
                - 2026-12-25
                - "2026-13-01"
                - christmas
                - 2026-12-31 10:00:00
          billing:
            business_hours:
              timezone: UTC
              closed_on: "2026-12-25"
        """)) == [
        "desk.yml:8: 'closed_on': '2026-13-01' is not a date (write YYYY-MM-DD)",
        "desk.yml:9: 'closed_on': 'christmas' is not a date (write YYYY-MM-DD)",
        "desk.yml:10: 'closed_on': datetime.datetime(2026, 12, 31, 10, 0) is not a date "
        "(write YYYY-MM-DD)",
        "desk.yml:14: 'closed_on' must be a list of ISO dates such as [\"2026-12-25\"]",
    ]


def test_bad_numbers_and_flags(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          support:
            first_response_minutes: 0
            queue_timeout_minutes: -5
            capacity_per_agent: 0
            auto_assign: "yes"
          billing:
            first_response_minutes: "2"
            queue_timeout_minutes: true
            capacity_per_agent: 2.5
          sales:
            first_response_minutes: .inf
            queue_timeout_minutes: 0.001
        """)) == [
        "desk.yml:3: team 'support': 'first_response_minutes' must be a positive number of "
        "minutes (at least one second), got 0",
        "desk.yml:4: team 'support': 'queue_timeout_minutes' must be a positive number of "
        "minutes (at least one second), got -5",
        "desk.yml:5: team 'support': 'capacity_per_agent' must be a whole number of "
        "conversations ≥ 1, got 0",
        "desk.yml:6: team 'support': 'auto_assign' must be true or false, got 'yes'",
        "desk.yml:8: team 'billing': 'first_response_minutes' must be a positive number of "
        "minutes (at least one second), got '2'",
        "desk.yml:9: team 'billing': 'queue_timeout_minutes' must be a positive number of "
        "minutes (at least one second), got True",
        "desk.yml:10: team 'billing': 'capacity_per_agent' must be a whole number of "
        "conversations ≥ 1, got 2.5",
        "desk.yml:12: team 'sales': 'first_response_minutes' must be a positive number of "
        "minutes (at least one second), got inf",
        "desk.yml:13: team 'sales': 'queue_timeout_minutes' must be a positive number of "
        "minutes (at least one second), got 0.001",
    ]


def test_bad_route_conditions(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams: {support: {}}
        routes:
          - team: support
          - intent: greet
            channel: slack
            team: support
          - intent: greet
            intents: [hello]
            team: support
          - channel: sms
            team: support
          - slot: topic
            team: support
          - value: billing
            team: support
          - intents: []
            team: support
          - just a string
        """)) == [
        "desk.yml:3: a route needs a condition: intent (or intents), slot with value, or "
        "channel",
        "desk.yml:4: a route has one kind of condition, this one has intent and channel "
        "(write one route for each)",
        "desk.yml:8: a route has 'intent' or 'intents', not both",
        "desk.yml:10: unknown channel 'sms' (channels: webchat, web, slack, telegram, "
        "whatsapp)",
        "desk.yml:12: route on slot 'topic': 'value' must be a value or a list of values to "
        "compare with, got None",
        "desk.yml:14: a slot route needs 'slot' (a slot name) and 'value'",
        "desk.yml:16: route 'intents': expected an intent name or a non-empty list of them, "
        "got []",
        "desk.yml:18: a route must be a mapping such as {intent: request_refund, team: "
        "billing}",
    ]


def test_routes_must_use_the_domains_intents_and_slots(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        teams: {support: {}, billing: {}}
        routes:
          - intents: [request_refund, ask_invoice]
            team: billing
          - slot: topc
            value: billing
            team: billing
          - slot: requested_slot
            value: refund_reason
            team: billing
        """)
    domain = {"intents": ["request_refund", "greet"], "slots": ["topic"]}
    assert _errors(bot, **domain) == [
        "desk.yml:3: route on intent 'ask_invoice', which is not in the domain (it would "
        "never match)",
        "desk.yml:5: route on slot 'topc', which is not in the domain (it would never match)",
    ]
    assert load_desk_settings(bot).routes  # without the domain nothing is checked
    assert [str(p).removeprefix(f"{bot}/") for p in validate_desk(bot, **domain)] == [
        "desk.yml:3: route on intent 'ask_invoice', which is not in the domain (it would "
        "never match)",
        "desk.yml:5: route on slot 'topc', which is not in the domain (it would never match)",
    ]


def test_yaml_defects(tmp_path: Path) -> None:
    assert _errors(_bot(tmp_path, """\
        teams:
          support: {}
          support: {}
        """)) == ["desk.yml:3: duplicate key 'support'"]
    [broken] = _errors(_bot(tmp_path, "teams: {support: \n"))
    assert broken.startswith("desk.yml:2: invalid YAML: ")
    assert _errors(_bot(tmp_path, "- support\n")) == [
        "desk.yml:1: desk.yml must be a mapping (default_team, teams, routes)"]


def test_a_misnamed_file_is_not_ignored(tmp_path: Path) -> None:
    bot = _bot(tmp_path, "teams: {support: {}}\n", name="desk.yaml")
    assert _errors(bot) == ["desk.yaml: Parley reads desk.yml; rename this file"]


def test_every_problem_at_once_and_the_error_pickles(tmp_path: Path) -> None:
    bot = _bot(tmp_path, """\
        teams:
          support:
            capacity_per_agent: 0
            business_hours: {timezone: Mars/Olympus, mon: "9-5"}
        routes:
          - channel: fax
            team: nobody
        """)
    with pytest.raises(BotDataError) as caught:
        load_desk_settings(bot)
    assert [p.line for p in caught.value.problems] == [3, 4, 4, 6, 7]
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.problems == caught.value.problems and str(again) == str(caught.value)
    assert validate_desk(bot) == list(caught.value.problems)


def test_validate_desk_without_a_file_or_with_a_good_one(tmp_path: Path) -> None:
    assert validate_desk(tmp_path) == []
    assert validate_desk(_bot(tmp_path, FULL), ["request_refund", "buy", "pricing"],
                         ["topic", "vip"]) == []
