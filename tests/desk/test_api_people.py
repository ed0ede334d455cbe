"""The people API and the audit log's guarantees, against the desk application on both
backends: export and erasure are the admins' (403 for others, 400 for a bad id), each is
audited under a pseudonym, and the audit log has no route that changes it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from prometheus_client import CollectorRegistry

from desk.accounts import Accounts
from desk.app import DeskConfig, create_desk_app
from desk.archive_store import store_turns
from desk.database import Database
from tests.desk.conftest import Run
from tests.desk.test_archiver import parsed, record
from tests.processes import REDIS_URL, clean_redis, redis_client  # noqa: F401

PERSON = "web:u-ada"


async def _calls(db: Database) -> dict[str, tuple[int, Any]]:
    accounts = Accounts(db, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    admin = await accounts.add_user("admin@example.com", "admin", [], token=True)
    lead = await accounts.add_user("lead@example.com", "supervisor", [], token=True)
    root = web.Application()
    root.add_subapp("/desk", create_desk_app(DeskConfig(
        redis_url=REDIS_URL, database_url=db.url, registry=CollectorRegistry(), timers=False)))
    got: dict[str, tuple[int, Any]] = {}
    async with TestServer(root) as server, aiohttp.ClientSession() as http:
        async def call(name: str, method: str, path: str, token: str | None) -> None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.request(method, str(server.make_url("/desk/api" + path)),
                                    headers=headers) as answer:
                body = await answer.json() if answer.content_type == "application/json" \
                    else await answer.text()
                got[name] = (answer.status, body)

        assert admin.token is not None and lead.token is not None
        person = quote(PERSON, safe="")
        await call("lead export", "GET", f"/people/{person}/export", lead.token)
        await call("lead erase", "DELETE", f"/people/{person}", lead.token)
        await call("bad id", "GET", "/people/fax%3A123/export", admin.token)
        await call("export", "GET", f"/people/{person}/export", admin.token)
        await call("erase", "DELETE", f"/people/{person}", admin.token)
        await call("export after", "GET", f"/people/{person}/export", admin.token)
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            await call(f"audit {method}", method, "/audit", admin.token)
            await call(f"audit entry {method}", method, "/audit/1", admin.token)
        await call("audit", "GET", "/audit", lead.token)
    return got


def test_export_and_erasure_are_the_admins_and_audited_under_a_pseudonym(
        database: Database, run: Run[Any], clean_redis: Any) -> None:
    turns = [parsed(record("ada", n, text=f"message {n}")) for n in (1, 2)]  # user u-ada
    run(store_turns(database, turns))
    got = run(_calls(database))
    assert got["lead export"][0] == 403 and got["lead erase"][0] == 403
    assert got["bad id"][0] == 400 and "CHANNEL:USER" in got["bad id"][1]["error"]
    status, exported = got["export"]
    assert status == 200 and exported["people"] == [PERSON]
    (conversation,) = exported["conversations"]
    assert conversation["id"] == "web:site:ada"
    assert [t["text"] for t in conversation["archive"]["turns"]] == ["message 1", "message 2"]
    status, erased = got["erase"]
    assert status == 200 and erased["removed"]["turns"] == 2
    assert got["export after"][1]["conversations"] == []
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert got[f"audit {method}"][0] == 405, method
        assert got[f"audit entry {method}"][0] == 404, method
    entries = got["audit"][1]["entries"]
    rights = [e for e in entries if e["action"].startswith("person.")]
    assert [e["action"] for e in rights] == ["person.export", "person.erase",
                                             "person.export"]  # the newest first
    assert all("u-ada" not in repr(e) for e in rights)
    assert rights[1]["detail"]["people"][0].startswith("web:~")
    assert rights[1]["detail"]["removed"]["turns"] == 2
