"""A bot's handoff routing and team settings, from the optional ``desk.yml`` of its folder.

The workers read it when the dialogue hands off, to pick the team and to tell the user the
truth about when someone can answer; the desk gets every team's settings as plain data
(``DeskSettings.to_json``). In short (docs/desk-yml.md has every key)::

    default_team: support
    teams:
      support: {first_response_minutes: 2, queue_timeout_minutes: 15}
      billing: {business_hours: {timezone: Europe/Berlin, mon-fri: "09:00-17:00"}}
    routes:                      # first match wins
      - intent: request_refund   # or intents: [..]; or slot + value; or channel
        team: billing

Without the file there is one team, ``support``, always open, with the defaults. Every
defect is a ``Problem`` naming file and line, all reported together (``BotDataError``);
given the domain's intents and slots, a route on one the domain lacks is one too, since it
could never match.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from brain.dialogue.tracker import REQUESTED_SLOT
from brain.errors import BotDataError, Problem
from brain.handoff.hours import BusinessHours, read_business_hours
from brain.yaml_source import FileProblems, YamlMap, YamlSeq, load_parley_file

__all__ = ["CHANNELS", "DEFAULT_TEAM", "DESK_FILE", "DeskSettings", "Route", "TeamSettings",
           "load_desk_settings", "validate_desk"]

_log = logging.getLogger("parley.brain.handoff")

DESK_FILE = "desk.yml"
DEFAULT_TEAM = "support"
# The channel names of channels/ (brain may not import it): the browser chat, the website
# webhook, and the three platforms.
CHANNELS = ("webchat", "web", "slack", "telegram", "whatsapp")
_TOP_KEYS = ("default_team", "teams", "routes")
_TEAM_KEYS = ("business_hours", "first_response_minutes", "queue_timeout_minutes",
              "capacity_per_agent", "auto_assign")
_ROUTE_KEYS = ("intent", "intents", "slot", "value", "channel", "team")
# Team names end up in Redis keys, metric labels and URLs.
_TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class TeamSettings:
    """One team: when it is open and the targets the desk holds it to."""

    name: str
    hours: BusinessHours | None = None  # None: always open
    first_response_seconds: int = 120
    queue_timeout_seconds: int = 900
    capacity_per_agent: int = 3
    auto_assign: bool = False

    def is_open(self, at: datetime) -> bool:
        """Whether the team works at ``at`` (aware, any zone); presence is the desk's."""
        return True if self.hours is None else self.hours.is_open(at)

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` when open, else when it next opens (in ``at``'s timezone); None if it
        never does."""
        return at if self.hours is None else self.hours.next_opening(at)

    def hours_text(self) -> str:
        """A short summary for the user, e.g. ``Mon–Fri 09:00–17:00 (Europe/Berlin time)``."""
        return "24/7" if self.hours is None else self.hours.text()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hours": None if self.hours is None else self.hours.to_json(),
            "hours_text": self.hours_text(),
            "first_response_seconds": self.first_response_seconds,
            "queue_timeout_seconds": self.queue_timeout_seconds,
            "capacity_per_agent": self.capacity_per_agent,
            "auto_assign": self.auto_assign,
        }


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of ``routes:``; exactly one of intents, slot (with values) or channels."""

    team: str
    line: int
    intents: frozenset[str] = frozenset()
    slot: str | None = None
    values: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    def matches(self, *, intent: str | None, slots: Mapping[str, Any], channel: str) -> bool:
        if self.intents:
            return intent in self.intents
        if self.slot is not None:
            value = slots.get(self.slot)
            items = value if isinstance(value, list | tuple) else [value]
            return any(_as_text(item) in self.values for item in items)
        return channel in self.channels

    def to_json(self) -> dict[str, Any]:
        condition: dict[str, Any]
        if self.intents:
            condition = {"intents": sorted(self.intents)}
        elif self.slot is not None:
            condition = {"slot": self.slot, "values": sorted(self.values)}
        else:
            condition = {"channels": sorted(self.channels)}
        return {**condition, "team": self.team}


def _default_teams() -> Mapping[str, TeamSettings]:
    return MappingProxyType({DEFAULT_TEAM: TeamSettings(DEFAULT_TEAM)})


@dataclass(frozen=True, slots=True)
class DeskSettings:
    """All teams and the routes to them. ``source`` is the file read (None: defaults)."""

    teams: Mapping[str, TeamSettings] = field(default_factory=_default_teams)
    default_team: str = DEFAULT_TEAM
    routes: tuple[Route, ...] = ()
    source: str | None = None

    def route(self, *, intent: str | None, slots: Mapping[str, Any], channel: str,
              requested_team: str | None = None) -> TeamSettings:
        """The team a handoff goes to: an existing ``requested_team`` (a custom action's
        ``HandoffStarted(team=...)``), else the first matching route, else the default."""
        if requested_team:
            team = self.teams.get(requested_team)
            if team is not None:
                return team
            _log.warning("handoff asked for team %r, which %s does not define (teams: %s); "
                         "routing it instead", requested_team, self.source or "desk.yml",
                         ", ".join(self.teams))
        for route in self.routes:
            if route.matches(intent=intent, slots=slots, channel=channel):
                return self.teams[route.team]
        return self.teams[self.default_team]

    def to_json(self) -> dict[str, Any]:
        """Plain data for the desk (published to Redis): teams, default and routes."""
        return {
            "default_team": self.default_team,
            "teams": {name: team.to_json() for name, team in self.teams.items()},
            "routes": [route.to_json() for route in self.routes],
        }


def load_desk_settings(bot_dir: Path, *, intents: Collection[str] | None = None,
                       slots: Collection[str] | None = None) -> DeskSettings:
    """Read ``BOTDIR/desk.yml`` (defaults when absent); raise ``BotDataError`` listing
    every problem. With ``intents``/``slots`` (the domain's), routes must use them."""
    found = load_parley_file(bot_dir, DESK_FILE, "default_team, teams, routes")
    if found is None:
        return DeskSettings()
    shown, doc = found
    if doc is None:
        return DeskSettings(source=shown)
    reader = _Reader(shown, intents, slots)
    reader.unknown_keys(doc, _TOP_KEYS, "desk.yml")
    teams = reader.teams(doc)
    default = reader.default_team(doc, teams)
    routes = reader.routes(doc, teams)
    if reader.problems:
        raise BotDataError(sorted(reader.problems, key=lambda p: p.line or 0))
    return DeskSettings(MappingProxyType(teams), default, tuple(routes), shown)


def validate_desk(bot_dir: Path, intents: Collection[str] | None = None,
                  slots: Collection[str] | None = None) -> list[Problem]:
    """Every problem of ``desk.yml`` (none when it is absent), for the bot checks of
    ``parley data validate``, ``train`` and ``run``."""
    try:
        load_desk_settings(bot_dir, intents=intents, slots=slots)
    except BotDataError as exc:
        return list(exc.problems)
    return []


class _Reader(FileProblems):
    """Collects the problems of one desk.yml while reading its parts."""

    def __init__(self, shown: str, intents: Collection[str] | None,
                 slots: Collection[str] | None) -> None:
        super().__init__(shown)
        self.intents = None if intents is None else frozenset(intents)
        self.slots = None if slots is None else frozenset(slots) | {REQUESTED_SLOT}

    def teams(self, doc: YamlMap) -> dict[str, TeamSettings]:
        if "teams" not in doc:
            return {DEFAULT_TEAM: TeamSettings(DEFAULT_TEAM)}
        node = doc["teams"]
        if not isinstance(node, YamlMap) or not node:
            self.add(doc.line_of("teams"), "'teams' must be a mapping of team names to their "
                     "settings, with at least one team")
            return {}
        teams: dict[str, TeamSettings] = {}
        for name in node:
            if not _TEAM_NAME.match(name):
                self.add(node.line_of(name), f"team name {name!r}: use letters, digits, "
                         "'_', '-' or '.' (up to 64, starting with a letter or digit)")
            team = self._team(name, node[name], node.line_of(name))
            if team is not None:
                teams[name] = team
            else:  # still known, so routes to it are not reported as unknown teams
                teams[name] = TeamSettings(name)
        return teams

    def _team(self, name: str, spec: Any, line: int) -> TeamSettings | None:
        if spec is None:
            return TeamSettings(name)
        if not isinstance(spec, YamlMap):
            self.add(line, f"team '{name}' must be a mapping of settings "
                     f"({', '.join(_TEAM_KEYS)})")
            return None
        before = len(self.problems)
        self.unknown_keys(spec, _TEAM_KEYS, f"team '{name}'")
        hours = None
        if "business_hours" in spec:
            hours = read_business_hours(spec["business_hours"], spec.line_of("business_hours"),
                                        self.add)
        team = TeamSettings(
            name, hours,
            first_response_seconds=self._seconds(spec, "first_response_minutes", 2, name),
            queue_timeout_seconds=self._seconds(spec, "queue_timeout_minutes", 15, name),
            capacity_per_agent=self._capacity(spec, name),
            auto_assign=self._flag(spec, "auto_assign", name))
        return team if len(self.problems) == before else None

    def _seconds(self, spec: YamlMap, key: str, default: int, team: str) -> int:
        value = spec.get(key, default)
        number = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
        seconds = round(float(value) * 60) if number else 0
        if seconds < 1:
            self.add(spec.line_of(key), f"team '{team}': '{key}' must be a positive number "
                     f"of minutes (at least one second), got {value!r}")
            return default * 60
        return seconds

    def _capacity(self, spec: YamlMap, team: str) -> int:
        value = spec.get("capacity_per_agent", 3)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.add(spec.line_of("capacity_per_agent"), f"team '{team}': 'capacity_per_agent'"
                     f" must be a whole number of conversations ≥ 1, got {value!r}")
            return 3
        return value

    def _flag(self, spec: YamlMap, key: str, team: str) -> bool:
        value = spec.get(key, False)
        if not isinstance(value, bool):
            self.add(spec.line_of(key), f"team '{team}': '{key}' must be true or false, "
                     f"got {value!r}")
            return False
        return value

    def default_team(self, doc: YamlMap, teams: Mapping[str, TeamSettings]) -> str:
        name = doc.get("default_team", DEFAULT_TEAM)
        if not isinstance(name, str) or not name:
            self.add(doc.line_of("default_team"), f"default_team must be a team name, "
                     f"got {name!r}")
            return DEFAULT_TEAM
        if teams and name not in teams:
            written = "default_team" in doc
            self.add(doc.line_of("default_team") if written else doc.line,
                     f"{'default_team' if written else 'the default team'} {name!r} is not a "
                     f"team (teams: {', '.join(teams)})"
                     + ("" if written else "; set default_team"))
        return name

    def routes(self, doc: YamlMap, teams: Mapping[str, TeamSettings]) -> list[Route]:
        node = doc.get("routes", [])
        if not isinstance(node, YamlSeq):
            if node is not None and node != []:
                self.add(doc.line_of("routes"), "'routes' must be a list of routes")
            return []
        routes = []
        for spec, line in zip(node, node.item_lines, strict=True):
            route = self._route(spec, line, teams)
            if route is not None:
                routes.append(route)
        return routes

    def _route(self, spec: Any, line: int, teams: Mapping[str, TeamSettings]) -> Route | None:
        if not isinstance(spec, YamlMap):
            self.add(line, "a route must be a mapping such as {intent: request_refund, "
                     "team: billing}")
            return None
        before = len(self.problems)
        self.unknown_keys(spec, _ROUTE_KEYS, "a route")
        team = spec.get("team")
        if "team" not in spec:
            self.add(spec.line, "a route needs a 'team'")
        elif not isinstance(team, str) or team not in teams:
            self.add(spec.line_of("team"), f"route to unknown team {team!r} "
                     f"(teams: {', '.join(teams) or 'none'})")
        kinds = [kind for kind, keys in (("intent", ("intent", "intents")),
                                         ("slot", ("slot", "value")),
                                         ("channel", ("channel",)))
                 if any(key in spec for key in keys)]
        if not kinds:
            self.add(spec.line, "a route needs a condition: intent (or intents), slot with "
                     "value, or channel")
            return None
        if len(kinds) > 1:
            self.add(spec.line, f"a route has one kind of condition, this one has "
                     f"{' and '.join(kinds)} (write one route for each)")
            return None
        if kinds == ["intent"]:
            route = Route(str(team), spec.line, intents=self._intents(spec))
        elif kinds == ["slot"]:
            slot, values = self._slot(spec)
            route = Route(str(team), spec.line, slot=slot, values=values)
        else:
            route = Route(str(team), spec.line, channels=self._channels(spec))
        return route if len(self.problems) == before else None

    def _intents(self, spec: YamlMap) -> frozenset[str]:
        if "intent" in spec and "intents" in spec:
            self.add(spec.line_of("intents"), "a route has 'intent' or 'intents', not both")
            return frozenset()
        key = "intent" if "intent" in spec else "intents"
        names = _names(spec[key])
        if not names:
            self.add(spec.line_of(key), f"route '{key}': expected an intent name or a "
                     f"non-empty list of them, got {spec[key]!r}")
            return frozenset()
        for name in names:
            if self.intents is not None and name not in self.intents:
                self.add(spec.line_of(key), f"route on intent '{name}', which is not in "
                         "the domain (it would never match)")
        return frozenset(names)

    def _slot(self, spec: YamlMap) -> tuple[str | None, frozenset[str]]:
        slot = spec.get("slot")
        if not isinstance(slot, str) or not slot:
            self.add(spec.line_of("slot") if "slot" in spec else spec.line,
                     "a slot route needs 'slot' (a slot name) and 'value'")
            return None, frozenset()
        if self.slots is not None and slot not in self.slots:
            self.add(spec.line_of("slot"), f"route on slot '{slot}', which is not in the "
                     "domain (it would never match)")
        value = spec.get("value")
        items = value if isinstance(value, list) else [value]
        texts = [_as_text(item) for item in items]
        if "value" not in spec or not items or any(
                text is None or isinstance(item, list | dict)
                for item, text in zip(items, texts, strict=True)):
            self.add(spec.line_of("value") if "value" in spec else spec.line,
                     f"route on slot '{slot}': 'value' must be a value or a list of values "
                     f"to compare with, got {value!r}")
            return slot, frozenset()
        return slot, frozenset(text for text in texts if text is not None)

    def _channels(self, spec: YamlMap) -> frozenset[str]:
        names = _names(spec["channel"])
        if not names:
            self.add(spec.line_of("channel"), f"route 'channel': expected a channel name "
                     f"({' | '.join(CHANNELS)})")
        for name in names:
            if name not in CHANNELS:
                self.add(spec.line_of("channel"), f"unknown channel {name!r} "
                         f"(channels: {', '.join(CHANNELS)})")
        return frozenset(names)


def _names(value: Any) -> list[str]:
    """The names in ``value`` (one name or a list of names); [] when malformed."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(
            isinstance(item, str) and item for item in value):
        return list(value)
    return []


def _as_text(value: Any) -> str | None:
    """How slot values compare: as text, ``true``/``false`` for booleans, ``3`` for 3.0,
    so ``value: 3`` in YAML matches a float slot holding 3.0; None matches nothing."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
