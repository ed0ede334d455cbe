"""``parley analytics [--from DAY] [--to DAY] [--channel NAME] [--tz ZONE] [--json]``: the
figures of the desk's analytics page (``desk.analytics``) on the terminal.

The database is the one ``parley db upgrade`` names (``PARLEY_DATABASE_URL`` or the bot
folder's ``parley.db``, ``--bot``). The range is whole days in ``--tz`` (default UTC), the
last 7 by default. ``--json`` prints what ``GET /desk/api/analytics`` answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from gateway.cli.db_command import add_bot_dir_argument, resolve_database_url

if TYPE_CHECKING:
    from rich.console import Console

    from desk.analytics import Report

__all__ = ["register"]


def register(commands: Any) -> None:
    parser = commands.add_parser("analytics", help="how the bot does: conversations, "
                                 "containment, fallbacks, feedback, forms, latency")
    parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help="the first day (default: 6 days before --to)")
    parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                        help="the last day, included (default: today in --tz)")
    parser.add_argument("--channel", help="only this channel (web, slack, telegram, whatsapp)")
    parser.add_argument("--tz", default="UTC", help="the time zone of the days (default: UTC)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_bot_dir_argument(parser)
    parser.set_defaults(handler=_analytics)


def _analytics(args: argparse.Namespace) -> int:
    from desk.analytics import default_range, parse_day

    start = parse_day(args.start, "--from") if args.start is not None else None
    end = parse_day(args.end, "--to") if args.end is not None else None
    start, end = default_range(start, end, args.tz)
    url = resolve_database_url(args.bot_dir)
    report = asyncio.run(_report(url, start=start, end=end, channel=args.channel, tz=args.tz))
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        from rich.console import Console

        _print(report, Console(highlight=False))
    return 0


async def _report(url: str, **query: Any) -> Report:
    from desk.analytics import analytics
    from desk.database import ensure_current, open_database

    await ensure_current(url)
    async with open_database(url) as db:
        return await analytics(db, **query)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


_FIGURES: tuple[tuple[str, Any], ...] = (
    ("conversations", lambda f: str(f.conversations)),
    ("contained (resolved)", lambda f: f"{_pct(f.containment_rate)} ({f.resolved})"),
    ("handed off", lambda f: f"{_pct(f.handoff_rate)} ({f.handed_off})"),
    ("abandoned", lambda f: f"{_pct(f.abandonment_rate)} ({f.abandoned})"),
    ("user messages", lambda f: str(f.user_messages)),
    ("bot messages", lambda f: str(f.bot_messages)),
    ("agent messages", lambda f: str(f.agent_messages)),
    ("fallback rate", lambda f: f"{_pct(f.fallback_rate)} ({f.fallbacks})"),
    ("out of scope", lambda f: f"{_pct(f.out_of_scope_rate)} ({f.out_of_scope})"),
    ("thumbs-up share", lambda f: f"{_pct(f.thumbs_up_share)} "
                                  f"({f.thumbs_up} up, {f.thumbs_down} down)"),
    ("CSAT 4–5", lambda f: f"{_pct(f.csat_satisfied_share)} ({f.csat_answers} answers)"),
    ("CSAT mean", lambda f: "—" if f.csat_mean is None else f"{f.csat_mean:.2f}"),
    ("latency p50", lambda f: _ms(f.latency_p50_ms)),
    ("latency p95", lambda f: _ms(f.latency_p95_ms)),
)
_PER_DAY = ("conversations", "contained (resolved)", "fallback rate", "thumbs-up share",
            "latency p50", "latency p95")


def _print(report: Report, console: Console) -> None:
    from rich.table import Table

    where = f"channel {report.channel}" if report.channel else "all channels"
    console.print(f"[bold]Parley analytics[/bold] {report.start} – {report.end}")
    console.print(f"{report.tz}, {where}; latency percentiles {report.percentile_method}")
    slices = [("all", report.total), *report.channels.items()]
    figures = Table("", *(name for name, _ in slices), title="Figures")
    for label, show in _FIGURES:
        figures.add_row(label, *(show(f) for _, f in slices))
    console.print(figures)
    shown = [(label, show) for label, show in _FIGURES if label in _PER_DAY]
    days = Table("day", *(label for label, _ in shown), title="Per day")
    for day in report.days:
        days.add_row(str(day.day), *(show(day.figures) for _, show in shown))
    console.print(days)
    total = report.total
    if total.intents:
        intents = Table("intent", "user messages", title="Intents")
        for item in total.intents:
            intents.add_row(item.intent, str(item.count))
        intents.add_row("other", str(total.intents_other))
        console.print(intents)
    if total.user_messages:
        histogram = Table("confidence", "user messages", title="Confidence")
        for i, count in enumerate(total.confidence_histogram):
            histogram.add_row(f"{i / 10:.1f}–{(i + 1) / 10:.1f}", str(count))
        console.print(histogram)
    if total.forms:
        forms = Table("form", "started", "completed", "completion", "dropped at",
                      title="Forms")
        for form in total.forms:
            dropped = ", ".join(f"{d.slot or '(before a question)'} {d.count}"
                                for d in form.dropped)
            forms.add_row(form.form, str(form.started), str(form.completed),
                          _pct(form.completion_rate), dropped or "—")
        console.print(forms)
