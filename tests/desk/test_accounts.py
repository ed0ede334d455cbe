"""desk.accounts on both backends: creating accounts with one-time passwords, logging in,
API tokens stored only as hashes, disabling, changing passwords and roles, and the errors a
bad request gets."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from desk.accounts import Accounts, User
from desk.database import Database
from desk.errors import (
    DuplicateEmailError,
    InvalidAccountError,
    LastAdminError,
    PasswordPolicyError,
    UnknownUserError,
)
from desk.schema import ApiTokenRow, Role, UserRow
from tests.desk.conftest import Run

# Cheap argon2 parameters keep the tests fast; the rehash test shows the defaults take over.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class CountingHasher(PasswordHasher):
    """Counts the verifications, to show that an unknown email costs one as well."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def accounts(database: Database) -> Accounts:
    return Accounts(database, hasher=FAST)


async def _rows(database: Database, model: Any) -> list[Any]:
    async with database.sessions() as session:
        return list(await session.scalars(select(model)))


def test_a_new_account_gets_a_one_time_password_that_logs_in(accounts: Accounts,
                                                             run: Run[Any]) -> None:
    new = run(accounts.add_user("  Ana@Example.COM ", "agent", ["support", "billing"],
                                name="Ana"))
    assert new.user == User(id=new.user.id, email="ana@example.com", name="Ana",
                            role=Role.AGENT, teams=("billing", "support"),
                            must_change_password=True, disabled=False)
    assert len(new.password) >= 16 and new.token is None
    assert new.password not in repr(new)
    assert run(accounts.list_teams()) == ["billing", "support"]

    assert run(accounts.authenticate("ANA@example.com", new.password)) == new.user
    assert run(accounts.authenticate("ana@example.com", new.password + "x")) is None
    assert run(accounts.authenticate("bob@example.com", new.password)) is None
    assert run(accounts.authenticate("not an email", new.password)) is None


def test_only_an_argon2_hash_of_the_password_is_stored(accounts: Accounts, database: Database,
                                                       run: Run[Any]) -> None:
    new = run(accounts.add_user("ana@example.com", "agent", []))
    (row,) = run(_rows(database, UserRow))
    assert row.password_hash.startswith("$argon2id$")
    assert new.password not in row.password_hash


def test_unknown_emails_cost_a_verification_too(database: Database, run: Run[Any]) -> None:
    hasher = CountingHasher()
    accounts = Accounts(database, hasher=hasher)
    run(accounts.authenticate("nobody@example.com", "whatever-password"))
    run(accounts.authenticate("not an email", "whatever-password"))
    assert hasher.verified == 2


def test_a_login_rehashes_a_password_hashed_with_older_parameters(database: Database,
                                                                  run: Run[Any]) -> None:
    new = run(Accounts(database, hasher=FAST).add_user("ana@example.com", "agent", []))
    (before,) = run(_rows(database, UserRow))
    assert run(Accounts(database).authenticate("ana@example.com", new.password)) == new.user
    (after,) = run(_rows(database, UserRow))
    assert after.password_hash != before.password_hash
    assert not PasswordHasher().check_needs_rehash(after.password_hash)
    assert after.must_change_password  # rehashing is not changing the password


def test_api_tokens_are_shown_once_and_stored_as_sha256_only(accounts: Accounts,
                                                            database: Database,
                                                            run: Run[Any]) -> None:
    new = run(accounts.add_user("ana@example.com", "supervisor", [], token=True))
    assert new.token is not None and new.token.startswith("pk_") and len(new.token) > 40
    (row,) = run(_rows(database, ApiTokenRow))
    assert row.token_hash == hashlib.sha256(new.token.encode()).hexdigest()
    assert row.last_used_at is None
    assert new.token not in {row.token_hash, row.user_id}

    assert run(accounts.user_for_token(new.token)) == new.user
    (row,) = run(_rows(database, ApiTokenRow))
    assert row.last_used_at is not None and row.last_used_at.tzinfo is not None

    second = run(accounts.issue_token(new.user.id))
    assert second != new.token
    assert run(accounts.user_for_token(second)) == new.user
    assert run(accounts.user_for_token(new.token)) == new.user
    for wrong in ("pk_" + "A" * 43, new.token[:-1], new.token.removeprefix("pk_"), ""):
        assert run(accounts.user_for_token(wrong)) is None

    assert run(accounts.revoke_tokens(new.user.id)) == 2
    assert run(accounts.user_for_token(second)) is None
    with pytest.raises(UnknownUserError):
        run(accounts.issue_token("0" * 32))


def test_a_disabled_account_can_neither_log_in_nor_use_its_token(accounts: Accounts,
                                                                 run: Run[Any]) -> None:
    run(accounts.add_user("admin@example.com", "admin", []))
    new = run(accounts.add_user("ana@example.com", "agent", ["support"], token=True))
    disabled = run(accounts.update_user(new.user.id, disabled=True))
    assert disabled.disabled
    assert run(accounts.authenticate("ana@example.com", new.password)) is None
    assert run(accounts.user_for_token(new.token)) is None

    run(accounts.update_user(new.user.id, disabled=False))
    assert run(accounts.authenticate("ana@example.com", new.password)) is not None
    assert run(accounts.user_for_token(new.token)) is not None


def test_changing_the_password(accounts: Accounts, run: Run[Any]) -> None:
    new = run(accounts.add_user("ana@example.com", "agent", []))
    with pytest.raises(PasswordPolicyError, match="at least 12 characters"):
        run(accounts.set_password(new.user.id, "short-pass1"))
    with pytest.raises(PasswordPolicyError, match="at most"):
        run(accounts.set_password(new.user.id, "x" * 2000))

    run(accounts.set_password(new.user.id, "correct horse battery"))
    assert run(accounts.authenticate("ana@example.com", new.password)) is None
    user = run(accounts.authenticate("ana@example.com", "correct horse battery"))
    assert user is not None and not user.must_change_password
    with pytest.raises(UnknownUserError):
        run(accounts.set_password("0" * 32, "correct horse battery"))


def test_bad_requests_are_clear_errors(accounts: Accounts, run: Run[Any]) -> None:
    run(accounts.add_user("ana@example.com", "agent", []))
    with pytest.raises(DuplicateEmailError, match=r"ana@example\.com already exists"):
        run(accounts.add_user("ANA@example.com", "admin", []))
    with pytest.raises(InvalidAccountError, match="not an email address"):
        run(accounts.add_user("ana.example.com", "agent", []))
    with pytest.raises(InvalidAccountError, match="the roles are agent, supervisor, admin"):
        run(accounts.add_user("bob@example.com", "boss", []))
    with pytest.raises(InvalidAccountError, match="not a team name"):
        run(accounts.add_user("bob@example.com", "agent", ["night shift"]))
    with pytest.raises(InvalidAccountError, match="a list of names"):
        run(accounts.add_user("bob@example.com", "agent", "support"))
    assert run(accounts.count_users()) == 1


def test_admins_change_roles_teams_and_names(accounts: Accounts, run: Run[Any]) -> None:
    admin = run(accounts.add_user("admin@localhost", Role.ADMIN, [])).user
    ana = run(accounts.add_user("ana@example.com", "agent", ["support"])).user
    changed = run(accounts.update_user(ana.id, role="supervisor", teams=["billing", "vip"],
                                       name="Ana Lima"))
    assert (changed.role, changed.teams, changed.name) == (Role.SUPERVISOR, ("billing", "vip"),
                                                           "Ana Lima")
    assert run(accounts.get_user(ana.id)) == changed
    assert run(accounts.find_by_email("Ana@Example.com")) == changed
    assert run(accounts.find_by_email("nobody@example.com")) is None
    assert run(accounts.get_user("0" * 32)) is None
    assert [u.email for u in run(accounts.list_users())] == ["admin@localhost",
                                                            "ana@example.com"]
    assert run(accounts.count_users()) == 2
    assert run(accounts.list_teams()) == ["billing", "support", "vip"]
    with pytest.raises(UnknownUserError):
        run(accounts.update_user("0" * 32, role="agent"))

    with pytest.raises(LastAdminError, match="admin@localhost is the last enabled admin"):
        run(accounts.update_user(admin.id, role="agent"))
    with pytest.raises(LastAdminError):
        run(accounts.update_user(admin.id, disabled=True))
    run(accounts.update_user(ana.id, role="admin"))
    assert run(accounts.update_user(admin.id, disabled=True)).disabled


def test_accounts_made_at_once_share_new_teams(accounts: Accounts, run: Run[Any]) -> None:
    async def scenario() -> list[Any]:
        return await asyncio.gather(*(
            accounts.add_user(f"agent{n}@example.com", "agent", ["night-shift", f"t{n % 2}"])
            for n in range(6)))

    assert len(run(scenario())) == 6
    assert run(accounts.list_teams()) == ["night-shift", "t0", "t1"]
    run(accounts.ensure_teams(["night-shift", "day-shift"]))
    assert run(accounts.list_teams()) == ["day-shift", "night-shift", "t0", "t1"]


def test_what_each_role_may_see() -> None:
    def user(role: Role) -> User:
        return User(id="u", email="u@example.com", name=None, role=role, teams=("support",),
                    must_change_password=False, disabled=False)

    agent, supervisor, admin = user(Role.AGENT), user(Role.SUPERVISOR), user(Role.ADMIN)
    assert agent.can_see_team("support") and not agent.can_see_team("billing")
    assert supervisor.can_see_team("billing") and admin.can_see_team("billing")
    assert not agent.can_reassign() and supervisor.can_reassign() and admin.can_reassign()
    assert not supervisor.can_manage_users() and admin.can_manage_users()
    assert agent.as_json() == {"id": "u", "email": "u@example.com", "name": None,
                               "role": "agent", "teams": ["support"]}
