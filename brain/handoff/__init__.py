"""Where a handoff goes and when a person can answer: the bot folder's ``desk.yml``.

    settings.py   reading desk.yml: teams, routes, default team (``load_desk_settings``)
    hours.py      business hours: weekly wall-clock ranges in a timezone, closed dates

Read by the workers when the dialogue hands off; the desk gets the teams as plain data
(``DeskSettings.to_json``). Errors are ``brain.errors.BotDataError`` naming file and line.
"""

from brain.handoff.hours import DAY_NAMES, BusinessHours, TimeRange
from brain.handoff.settings import (
    CHANNELS,
    DEFAULT_TEAM,
    DESK_FILE,
    DeskSettings,
    Route,
    TeamSettings,
    load_desk_settings,
    validate_desk,
)

__all__ = [
    "CHANNELS",
    "DAY_NAMES",
    "DEFAULT_TEAM",
    "DESK_FILE",
    "BusinessHours",
    "DeskSettings",
    "Route",
    "TeamSettings",
    "TimeRange",
    "load_desk_settings",
    "validate_desk",
]
