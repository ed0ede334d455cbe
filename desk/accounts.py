"""Accounts of the desk: users, their role and teams, passwords and API tokens (the tables
``users``, ``teams``, ``user_teams`` and ``api_tokens`` of ``desk.schema``).

Passwords are argon2id hashes (argon2-cffi's defaults, rehashed on login when those change);
hashing takes tens of milliseconds of CPU, so it runs in a thread, never on the event loop.
A new account gets a random one-time password and must change it at first login. API
tokens are ``pk_`` and 32 random bytes; only their SHA-256 is stored, and the token itself
is shown once. Emails are compared lowercased. Team names are created on first use: the
bot folder's ``desk.yml`` names the teams, and an account may be made before routing is.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.database import Database, insert_ignoring_duplicates
from desk.errors import (
    DuplicateEmailError,
    InvalidAccountError,
    LastAdminError,
    PasswordPolicyError,
    UnknownUserError,
)
from desk.schema import EMAIL, TEAM, ApiTokenRow, Role, TeamRow, UserRow, UserTeamRow, utcnow

__all__ = ["MIN_PASSWORD_LENGTH", "TOKEN_PREFIX", "Accounts", "NewUser", "User",
           "normalize_email", "parse_role", "token_hash"]

MIN_PASSWORD_LENGTH = 12
_MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is an attack
TOKEN_PREFIX = "pk_"
_TOKEN_TOUCH = timedelta(minutes=1)  # last_used_at is written at most once a minute
_EMAIL = re.compile(r"[^@\s]{1,64}@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*"
                    r"[a-z0-9])?)*")
_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class User:
    """An account as the desk sees it: no password hash, teams as a sorted tuple."""

    id: str
    email: str
    name: str | None
    role: Role
    teams: tuple[str, ...]
    must_change_password: bool
    disabled: bool

    @property
    def is_supervisor(self) -> bool:
        """Supervisor or admin: sees every queue, reassigns, gets SLA alerts."""
        return self.role in (Role.SUPERVISOR, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_see_team(self, team: str) -> bool:
        """An agent works their own teams' queues; supervisors and admins see all."""
        return self.is_supervisor or team in self.teams

    def can_reassign(self) -> bool:
        return self.is_supervisor

    def can_manage_users(self) -> bool:
        return self.is_admin

    def as_json(self) -> dict[str, Any]:
        """The API's user object, without ``presence`` (that lives in Redis)."""
        return {"id": self.id, "email": self.email, "name": self.name, "role": str(self.role),
                "teams": list(self.teams)}


@dataclass(frozen=True, slots=True)
class NewUser:
    """A created account with its one-time password and, when asked for, its API token:
    the only time either is known in clear."""

    user: User
    password: str
    token: str | None

    def __repr__(self) -> str:
        return f"NewUser(user={self.user!r}, password='***', token={'***' if self.token else None})"


def normalize_email(email: str) -> str:
    """``email`` stripped and lowercased; :class:`InvalidAccountError` unless it looks like
    ``name@domain`` (a bare host such as ``localhost`` is allowed)."""
    normalized = email.strip().lower()
    if len(normalized) > EMAIL or not _EMAIL.fullmatch(normalized):
        raise InvalidAccountError(f"{email!r} is not an email address (name@domain)")
    return normalized


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidAccountError(f"unknown role {role!r}; the roles are "
                                  f"{', '.join(member.value for member in Role)}") from None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _team_names(teams: Iterable[str]) -> tuple[str, ...]:
    if isinstance(teams, str):
        raise InvalidAccountError(f"teams must be a list of names, not the string {teams!r}")
    names = set()
    for team in teams:
        name = team.strip() if isinstance(team, str) else team
        if not isinstance(name, str) or len(name) > TEAM or not _TEAM.fullmatch(name):
            raise InvalidAccountError(
                f"{team!r} is not a team name (letters, digits, '_', '.', '-'; at most {TEAM})")
        names.add(name)
    return tuple(sorted(names))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password has at most {_MAX_PASSWORD_LENGTH} characters")


def _check_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if len(name) > 200 or any(ord(c) < 32 for c in name):
        raise InvalidAccountError("a name has at most 200 characters and no control characters")
    return name or None


class Accounts:
    """The desk's accounts in ``db``; each method is one transaction."""

    def __init__(self, db: Database, *, hasher: PasswordHasher | None = None) -> None:
        self._db = db
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    async def add_user(self, email: str, role: str | Role, teams: Iterable[str] = (), *,
                       name: str | None = None, token: bool = False) -> NewUser:
        """Create an account with a one-time password (and an API token if ``token``)."""
        email, role, team_names = normalize_email(email), parse_role(role), _team_names(teams)
        name = _check_name(name)
        password = secrets.token_urlsafe(12)  # 16 characters, 96 bits
        password_hash = await self._hash(password)
        user_id = uuid.uuid4().hex
        try:
            async with self._db.sessions.begin() as session:
                if await _user_row_by_email(session, email) is not None:
                    raise _duplicate(email)
                session.add(UserRow(id=user_id, email=email, name=name, role=role.value,
                                    password_hash=password_hash, must_change_password=True,
                                    disabled=False))
                await session.flush()
                await _set_teams(session, user_id, team_names)
                new_token = await _insert_token(session, user_id) if token else None
                user = await _user(session, user_id)
        except IntegrityError as exc:  # a concurrent add of the same email won the race
            raise _duplicate(email) from exc
        return NewUser(user, password, new_token)

    async def ensure_teams(self, names: Iterable[str]) -> None:
        """Create the teams that do not exist yet (for ``desk.yml``'s teams at start-up)."""
        async with self._db.sessions.begin() as session:
            await _ensure_teams(session, _team_names(names))

    async def list_teams(self) -> list[str]:
        async with self._db.reads() as session:
            return list(await session.scalars(select(TeamRow.name).order_by(TeamRow.name)))

    async def authenticate(self, email: str, password: str) -> User | None:
        """The account for ``email`` and ``password``, or ``None``: wrong password, unknown
        email or disabled account alike, after the same argon2 work in each case (so a
        caller cannot time which emails exist). Rate limiting is the caller's."""
        try:
            email = normalize_email(email)
        except InvalidAccountError:
            email = ""
        async with self._db.reads() as session:
            row = await _user_row_by_email(session, email) if email else None
        stored = row.password_hash if row is not None else await self._dummy()
        if not await self._verify(stored, password) or row is None or row.disabled:
            return None
        if self._hasher.check_needs_rehash(stored):
            await self._store_password(row.id, password, must_change=row.must_change_password)
        return await self.get_user(row.id)

    async def user_for_token(self, token: str) -> User | None:
        """The enabled account an API token belongs to, or ``None``."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest, now = token_hash(token), utcnow()
        async with self._db.reads() as session:
            row = await session.get(ApiTokenRow, digest)
            if row is None:
                return None
            user = await _user(session, row.user_id)
            touch = row.last_used_at is None or now - row.last_used_at >= _TOKEN_TOUCH
        if user.disabled:
            return None
        if touch:  # a write at most once a minute per token, apart from the read
            async with self._db.sessions.begin() as session:
                found = await session.get(ApiTokenRow, digest)
                if found is not None:
                    found.last_used_at = now
        return user

    async def issue_token(self, user_id: str) -> str:
        """A new API token for ``user_id``, shown only now; older tokens stay valid."""
        async with self._db.sessions.begin() as session:
            await _user(session, user_id)
            return await _insert_token(session, user_id)

    async def revoke_tokens(self, user_id: str) -> int:
        """Revoke every API token of ``user_id``; how many there were."""
        async with self._db.sessions.begin() as session:
            await _user(session, user_id)
            result = await session.execute(
                delete(ApiTokenRow).where(ApiTokenRow.user_id == user_id))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_user(self, user_id: str) -> User | None:
        async with self._db.reads() as session:
            try:
                return await _user(session, user_id)
            except UnknownUserError:
                return None

    async def find_by_email(self, email: str) -> User | None:
        try:
            email = normalize_email(email)
        except InvalidAccountError:
            return None
        async with self._db.reads() as session:
            row = await _user_row_by_email(session, email)
            return None if row is None else await _user(session, row.id, row)

    async def list_users(self) -> list[User]:
        """Every account, by email."""
        async with self._db.reads() as session:
            rows = (await session.scalars(select(UserRow).order_by(UserRow.email))).all()
            memberships = await _teams_of(session, [row.id for row in rows])
            return [_to_user(row, memberships.get(row.id, ())) for row in rows]

    async def count_users(self) -> int:
        async with self._db.reads() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def update_user(self, user_id: str, *, role: str | Role | None = None,
                          teams: Iterable[str] | None = None, disabled: bool | None = None,
                          name: str | None = None) -> User:
        """Change what is given (``None``: unchanged). Refuses to demote or disable the last
        enabled admin, who alone could undo it."""
        new_role = None if role is None else parse_role(role)
        team_names = None if teams is None else _team_names(teams)
        new_name = _check_name(name)
        async with self._db.sessions.begin() as session:
            row = await _user_row(session, user_id)
            losing_admin = row.role == Role.ADMIN and not row.disabled and (
                (new_role is not None and new_role is not Role.ADMIN) or disabled is True)
            if losing_admin and await _enabled_admins(session) <= 1:
                raise LastAdminError(f"{row.email} is the last enabled admin; make another "
                                     "admin first")
            if new_role is not None:
                row.role = new_role.value
            if disabled is not None:
                row.disabled = disabled
            if name is not None:
                row.name = new_name
            if team_names is not None:
                await _set_teams(session, user_id, team_names)
            await session.flush()
            return await _user(session, user_id, row)

    async def set_password(self, user_id: str, new: str) -> None:
        """Set a password chosen by its owner; clears ``must_change_password``."""
        _check_password(new)
        await self._store_password(user_id, new, must_change=False)

    async def _store_password(self, user_id: str, password: str, *, must_change: bool) -> None:
        password_hash = await self._hash(password)
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                update(UserRow).where(UserRow.id == user_id)
                .values(password_hash=password_hash, must_change_password=must_change))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UnknownUserError(f"no account has the id {user_id!r}")

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, stored: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(12))
        return self._dummy_hash


def _duplicate(email: str) -> DuplicateEmailError:
    return DuplicateEmailError(f"an account with the email {email} already exists")


def _to_user(row: UserRow, teams: Sequence[str]) -> User:
    return User(id=row.id, email=row.email, name=row.name, role=Role(row.role),
                teams=tuple(sorted(teams)), must_change_password=row.must_change_password,
                disabled=row.disabled)


async def _user_row(session: AsyncSession, user_id: str) -> UserRow:
    row = await session.get(UserRow, user_id)
    if row is None:
        raise UnknownUserError(f"no account has the id {user_id!r}")
    return row


async def _user(session: AsyncSession, user_id: str, row: UserRow | None = None) -> User:
    row = row or await _user_row(session, user_id)
    return _to_user(row, (await _teams_of(session, [user_id])).get(user_id, ()))


async def _user_row_by_email(session: AsyncSession, email: str) -> UserRow | None:
    row: UserRow | None = await session.scalar(select(UserRow).where(UserRow.email == email))
    return row


async def _teams_of(session: AsyncSession, user_ids: list[str]) -> dict[str, list[str]]:
    teams: dict[str, list[str]] = {}
    if not user_ids:
        return teams
    rows = await session.execute(select(UserTeamRow.user_id, UserTeamRow.team)
                                 .where(UserTeamRow.user_id.in_(user_ids)))
    for user_id, team in rows:
        teams.setdefault(user_id, []).append(team)
    return teams


async def _ensure_teams(session: AsyncSession, names: Sequence[str]) -> None:
    if not names:
        return
    now = utcnow()
    await session.execute(insert_ignoring_duplicates(session, TeamRow),
                          [{"name": name, "created_at": now} for name in names])


async def _set_teams(session: AsyncSession, user_id: str, names: Sequence[str]) -> None:
    await _ensure_teams(session, names)
    await session.execute(delete(UserTeamRow).where(UserTeamRow.user_id == user_id))
    session.add_all(UserTeamRow(user_id=user_id, team=name) for name in names)
    await session.flush()


async def _insert_token(session: AsyncSession, user_id: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiTokenRow(token_hash=token_hash(token), user_id=user_id))
    await session.flush()
    return token


async def _enabled_admins(session: AsyncSession) -> int:
    count = await session.scalar(select(func.count()).select_from(UserRow).where(
        UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False)))
    return int(count or 0)
