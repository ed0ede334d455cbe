"""The desk's first schema: accounts (users, teams, user_teams, api_tokens), handoffs with
their messages and notes, and the audit log.

Revision ID: 0001_desk
Revises:
Create Date: 2026-12-02

Types are spelled out here rather than imported from ``desk.schema``, so that this revision
keeps creating what it created when the models change later. ``desk.schema.UtcDateTime``
is ``timestamptz`` on PostgreSQL and text on SQLite, as below.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_desk"
down_revision = None
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                     nullable=False)


def upgrade() -> None:
    _accounts()
    _handoffs()
    _audit_log()


def _accounts() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(64), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_teams")),
    )
    op.create_table(
        "user_teams",
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["team"], ["teams.name"], ondelete="CASCADE",
                                name=op.f("fk_user_teams_team_teams")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_user_teams_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "team", name=op.f("pk_user_teams")),
    )
    op.create_index(op.f("ix_user_teams_team"), "user_teams", ["team"])
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        _time("created_at"),
        _time("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])


def _handoffs() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(32), nullable=True),
        _time("requested_at"),
        _time("claimed_at", nullable=True),
        _time("first_reply_at", nullable=True),
        _time("closed_at", nullable=True),
        _time("sla_deadline", nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        _json("request"),
        sa.CheckConstraint(
            "status IN ('waiting', 'offline', 'active', 'closed', 'withdrawn', 'timed_out')",
            name=op.f("ck_handoffs_status")),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_handoffs_agent_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_agent_id"), "handoffs", ["agent_id"])
    op.create_index(op.f("ix_handoffs_conversation_id"), "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_status_team_requested_at", "handoffs",
                    ["status", "team", "requested_at"])
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("handoff_id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("author_kind", sa.String(8), nullable=False),
        sa.Column("author_id", sa.String(255), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _time("at"),
        sa.CheckConstraint("author_kind IN ('user', 'agent', 'bot')",
                           name=op.f("ck_handoff_messages_author_kind")),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], ondelete="CASCADE",
                                name=op.f("fk_handoff_messages_handoff_id_handoffs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_messages")),
    )
    op.create_index(op.f("ix_handoff_messages_conversation_id"), "handoff_messages",
                    ["conversation_id"])
    op.create_index("ix_handoff_messages_handoff_id_at", "handoff_messages", ["handoff_id", "at"])
    op.create_table(
        "notes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("handoff_id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=False),
        sa.Column("author_id", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _time("at"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_notes_author_id_users")),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], ondelete="CASCADE",
                                name=op.f("fk_notes_handoff_id_handoffs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index("ix_notes_handoff_id_at", "notes", ["handoff_id", "at"])


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        _time("at"),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("actor_email", sa.String(254), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(512), nullable=True),
        sa.Column("handoff_id", sa.String(32), nullable=True),
        _json("detail"),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_conversation_id"), "audit_log", ["conversation_id"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in ("audit_log", "notes", "handoff_messages", "handoffs", "api_tokens",
                  "user_teams", "teams", "users"):
        op.drop_table(table)
