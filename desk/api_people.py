"""Desk API: a person's rights (admins only) — everything held about them, and its erasure.

``GET /api/people/{person}/export`` answers the JSON of ``desk.person_rights.export_person``;
``DELETE /api/people/{person}`` erases it all and answers what went. ``{person}`` is
``CHANNEL:USER`` (URL-encoded: ``whatsapp%3A%2B15005550006``); the same person's ids on
other channels may follow as ``?also=CHANNEL:USER`` (repeated). Both are written to the
audit log under the person's pseudonyms.
"""

from __future__ import annotations

from aiohttp import web

from desk.context import CONTEXT, client_address, error, principal
from desk.people import Person, PersonIdError, parse_person
from desk.person_rights import erase_person, export_person

__all__ = ["add_routes"]

_MAX_IDS = 20


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/people/{person}/export", _export)
    app.router.add_delete("/api/people/{person}", _erase)


async def _export(request: web.Request) -> web.Response:
    people = _admin_people(request, "export")
    if isinstance(people, web.Response):
        return people
    context = request.app[CONTEXT]
    exported = await export_person(context.db, context.redis, people,
                                   actor=principal(request).user, ip=client_address(request))
    return web.json_response(exported, headers={"Cache-Control": "no-store"})


async def _erase(request: web.Request) -> web.Response:
    people = _admin_people(request, "erase")
    if isinstance(people, web.Response):
        return people
    context = request.app[CONTEXT]
    removed = await erase_person(context.db, context.redis, people,
                                 actor=principal(request).user, ip=client_address(request))
    return web.json_response({"removed": removed})


def _admin_people(request: web.Request, verb: str) -> list[Person] | web.Response:
    """The person's ids the request names, if an admin asks; else the refusal."""
    if not principal(request).user.is_admin:
        return error(403, f"only admins {verb} a person's data")
    given = [request.match_info["person"], *request.query.getall("also", [])]
    if len(given) > _MAX_IDS:
        return error(400, f"at most {_MAX_IDS} ids of one person")
    try:
        return list(dict.fromkeys(parse_person(text) for text in given))
    except PersonIdError as exc:
        return error(400, str(exc))
