"""The rules Parley's ``Dockerfile`` and ``.dockerignore`` keep, checked without Docker.

``dockerfile_problems(text)`` and ``dockerignore_problems(text)`` return one line per
broken rule (empty: all kept). The parser reads what this project's Dockerfile uses:
instructions, ``\\`` continuations, comments, ``FROM … AS name``, exec-form (JSON) and shell
form arguments, ``ENV``/``ARG`` in both the ``k=v`` and the legacy ``k v`` form. The
``.dockerignore`` matcher follows Docker's (moby ``patternmatcher``): ``*`` and ``?`` stop
at ``/``, ``**`` crosses it, a pattern that matches a folder leaves out what it holds, ``!``
lets a path back in, and the last pattern that matches decides.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ContextFilter", "Instruction", "Stage", "build_context", "dockerfile_problems",
           "dockerignore_problems", "parse_dockerfile"]

# python:3.11-slim, python:3.11.13-slim-bookworm, optionally pinned by digest too.
_FINAL_BASE = re.compile(r"python:3\.11(\.\d+)?-slim(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW(OR)?D|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
# Compilers and the packages that bring them, as apt, apk or pip would install them.
_BUILD_TOOLS = re.compile(r"(?<![\w.-])(gcc|g\+\+|cc|clang|make|cmake|build-essential|"
                          r"[a-z0-9.+]+-dev|rustc|cargo)(?![\w.+-])")
_INSTALLS = re.compile(r"\b(apt-get|apt|apk|dnf|yum|microdnf)\b[^&;|]*\binstall\b[^&;|]*")
_WRITABLE = "/tmp"
_MUST_POINT_TO_TMP = ("HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME")


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str  # upper case
    args: str     # the rest, continuations joined
    line: int     # 1-based, where it starts

    def exec_form(self) -> list[str] | None:
        """The JSON array of ``ENTRYPOINT ["parley"]``, or None in shell form."""
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) \
            else None

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """``COPY --from=builder a b`` → ({"from": "builder"}, ["a", "b"])."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    index: int
    instructions: list[Instruction] = field(default_factory=list)

    def having(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """The instructions before the first FROM (global ARGs), and the stages."""
    preamble: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in _instructions(text):
        if instruction.keyword == "FROM":
            _, words = instruction.flags_and_words()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(base=words[0] if words else "", name=name, index=len(stages)))
        elif stages:
            stages[-1].instructions.append(instruction)
        else:
            preamble.append(instruction)
    return preamble, stages


def _instructions(text: str) -> Iterator[Instruction]:
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # comments (and parser directives), also inside a continuation
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        joined = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = joined.partition(" ")
        yield Instruction(keyword=keyword.upper(), args=args.strip(), line=start)
    if pending:
        joined = " ".join(pending)
        keyword, _, args = joined.partition(" ")
        yield Instruction(keyword=keyword.upper(), args=args.strip(), line=start)


def _variables(instruction: Instruction) -> dict[str, str]:
    """The names and values an ``ENV`` or ``ARG`` sets (an ARG without default: "")."""
    words = shlex.split(instruction.args)
    if instruction.keyword == "ENV" and words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}  # legacy ``ENV NAME value``
    return {name: value for name, _, value in (w.partition("=") for w in words)}


def dockerfile_problems(text: str) -> list[str]:
    """Every rule of the image (README, "The container image") the Dockerfile breaks."""
    preamble, stages = parse_dockerfile(text)
    if not stages:
        return ["no FROM: not a Dockerfile"]
    problems = _secret_problems([*preamble, *(i for s in stages for i in s.instructions)])
    if len(stages) < 2:
        problems.append("one stage: the image must be multi-stage (a builder, then the image)")
    final = stages[-1]
    if not _FINAL_BASE.fullmatch(final.base):
        problems.append(f"line {_from_line(text, final)}: the final stage is FROM {final.base}, "
                        "not python:3.11-slim[-…] pinned by tag")
    for stage in stages:
        if stage.base.endswith(":latest") or ":" not in stage.base.split("/")[-1]:
            problems.append(f"stage {stage.index} FROM {stage.base}: not pinned by a tag")
    problems += _user_problems(final)
    problems += _build_tool_problems(final)
    problems += _venv_problems(stages)
    problems += _entrypoint_problems(final)
    problems += _environment_problems(final)
    problems += _pip_problems(stages)
    return problems


def _from_line(text: str, stage: Stage) -> int:
    froms = [n for n, line in enumerate(text.splitlines(), start=1)
             if line.strip().upper().startswith("FROM ")]
    return froms[stage.index] if stage.index < len(froms) else 0


def _secret_problems(instructions: Iterable[Instruction]) -> list[str]:
    return [f"line {i.line}: {i.keyword} {name} has a value: no secret may be baked in"
            for i in instructions if i.keyword in ("ENV", "ARG")
            for name, value in _variables(i).items() if _SECRET_NAME.search(name) and value]


def _user_problems(final: Stage) -> list[str]:
    users = final.having("USER")
    if not users:
        return ["the final stage has no USER: it would run as root"]
    user, _, group = users[-1].args.partition(":")
    if not user.isdigit() or (group and not group.isdigit()):
        return [f"line {users[-1].line}: USER {users[-1].args} is not numeric (uid[:gid]): "
                "Kubernetes' runAsNonRoot cannot check a name"]
    if int(user) == 0:
        return [f"line {users[-1].line}: USER {users[-1].args} is root"]
    return []


def _build_tool_problems(final: Stage) -> list[str]:
    problems = []
    for run in final.having("RUN"):
        for install in _INSTALLS.finditer(run.args):
            for tool in _BUILD_TOOLS.finditer(install.group(0)):
                problems.append(f"line {run.line}: the final stage installs {tool.group(1)}: "
                                "no build tools in the image (build in the builder stage)")
    return problems


def _venv_problems(stages: list[Stage]) -> list[str]:
    """The builder makes a venv; the final stage copies exactly that folder from it and
    puts its bin/ first on PATH; the builder's base is the final one (a venv runs only on
    the Python that made it, and a model loads only with the library versions that made
    it)."""
    final, builders = stages[-1], stages[:-1]
    venvs = {(s.index, s.name): m.group(1) for s in builders for r in s.having("RUN")
             if (m := re.search(r"-m\s+venv\s+(?:--\S+\s+)*(/\S+)", r.args))}
    if not venvs:
        return ["no builder stage makes a virtualenv (python -m venv /opt/venv)"]
    copied = []
    for copy in final.having("COPY"):
        flags, words = copy.flags_and_words()
        for (index, name), path in venvs.items():
            if flags.get("from") in (name, str(index)) and words[:-1] and \
                    all(w.rstrip("/") == path for w in words[:-1]):
                copied.append((stages[index], path))
    if not copied:
        return ["the final stage does not COPY --from=<builder> the builder's virtualenv "
                f"({', '.join(sorted(set(venvs.values())))})"]
    problems = [f"the builder stage {builder.name or builder.index} is FROM {builder.base}, "
                f"the image FROM {final.base}: the copied venv needs the same Python"
                for builder, _ in copied if builder.base != final.base]
    path_value = "".join(_variables(e).get("PATH", "") for e in final.having("ENV"))
    if not any(path_value.startswith(f"{venv}/bin") for _, venv in copied):
        problems.append("the final stage's PATH does not start with the venv's bin/")
    return problems


def _entrypoint_problems(final: Stage) -> list[str]:
    entrypoints = final.having("ENTRYPOINT")
    if not entrypoints:
        return ["the final stage has no ENTRYPOINT (it must be [\"parley\"])"]
    argv = entrypoints[-1].exec_form()
    if argv is None:
        return [f"line {entrypoints[-1].line}: ENTRYPOINT in shell form: signals would go "
                "to /bin/sh, not parley (use [\"parley\"])"]
    if not argv or argv[0].rsplit("/", 1)[-1] != "parley":
        return [f"line {entrypoints[-1].line}: ENTRYPOINT {argv} does not run parley"]
    return []


def _environment_problems(final: Stage) -> list[str]:
    """What a read-only root filesystem needs: the folders libraries write to under /tmp,
    no bytecode written at run time, the bot folder named where the bot was copied."""
    env: dict[str, str] = {}
    for instruction in final.having("ENV"):
        env.update(_variables(instruction))
    problems = [f"the final stage does not set {name} under {_WRITABLE} (read-only root)"
                for name in _MUST_POINT_TO_TMP
                if not (env.get(name, "") + "/").startswith(_WRITABLE + "/")]
    if env.get("PYTHONDONTWRITEBYTECODE") != "1":
        problems.append("the final stage does not set PYTHONDONTWRITEBYTECODE=1")
    bot = env.get("PARLEY_BOT_DIR")
    targets = {c.flags_and_words()[1][-1].rstrip("/") for c in final.having("COPY")}
    if not bot or bot not in targets:
        problems.append("PARLEY_BOT_DIR does not name the folder the bot is copied to")
    return problems


def _pip_problems(stages: list[Stage]) -> list[str]:
    """Every pip install takes the tested versions (``-c constraints.txt``); the bot's
    model is trained in a builder with a fixed seed."""
    problems = []
    for stage in stages:
        for run in stage.having("RUN"):
            for install in re.finditer(r"pip\s+install\b[^&;|]*", run.args):
                if not re.search(r"(-c|--constraint)[ =]\S*constraints\.txt", install.group(0)):
                    problems.append(f"line {run.line}: pip install without -c constraints.txt")
    trains = [r for s in stages[:-1] for r in s.having("RUN") if "parley train" in r.args]
    if not trains:
        problems.append("no builder stage trains the example bot's model (parley train)")
    elif not all("--seed" in r.args for r in trains):
        problems.append("parley train without --seed: the baked model must be reproducible")
    return problems


# ---- .dockerignore ------------------------------------------------------------------------

# Paths that must never reach the build context: (path, why).
MUST_STAY_OUT = (
    (".git/HEAD", ".git"), (".venv/bin/python", ".venv"), ("tests/conftest.py", "tests"),
    ("examples/support_bot/models/nlu-20261201.tar.gz", "models"),
    ("examples/support_bot/parley.db", "parley.db"),
    ("examples/support_bot/parley.db-wal", "parley.db"),
    ("examples/support_bot/.parley/encryption.key", ".parley"),
    ("brain/__pycache__/bot.cpython-311.pyc", "__pycache__"),
    ("parley.egg-info/PKG-INFO", "egg-info"), (".pytest_cache/v/cache/nodeids", "caches"),
    (".mypy_cache/3.11/x.json", "caches"),
)


class ContextFilter:
    """Docker's reading of a ``.dockerignore``."""

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[re.Pattern[str], bool, str]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line[1:].strip() if negated else line
            pattern = re.sub(r"/+", "/", pattern).strip("/")
            if pattern.startswith("./"):
                pattern = pattern[2:]
            self.patterns.append((re.compile(_translate(pattern)), negated, pattern))

    def excluded(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        out = False
        for regex, negated, _ in self.patterns:
            if any(regex.fullmatch(p) for p in prefixes):
                out = not negated
        return out

    def may_hold_included(self, folder: str) -> bool:
        """Whether a ``!`` pattern could let something inside an excluded folder back in."""
        return any(negated and (pattern.startswith(folder + "/") or "*" in pattern)
                   for _, negated, pattern in self.patterns)


def _translate(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def build_context(root: Path, ignore: ContextFilter) -> set[str]:
    """The files (paths relative to ``root``) Docker would send as the build context."""
    files: set[str] = set()

    def walk(folder: Path) -> None:
        for item in sorted(folder.iterdir()):
            relative = item.relative_to(root).as_posix()
            if item.is_dir() and not item.is_symlink():
                if not ignore.excluded(relative) or ignore.may_hold_included(relative):
                    walk(item)
            elif not ignore.excluded(relative):
                files.add(relative)

    walk(root)
    return files


def dockerignore_problems(text: str, dockerfile: str, context: set[str]) -> list[str]:
    """What must stay out stays out, and what the Dockerfile copies from the context is in
    it (a COPY of a path the context lacks fails the build)."""
    ignore = ContextFilter(text)
    problems = [f".dockerignore lets {path} into the build context ({why})"
                for path, why in MUST_STAY_OUT if not ignore.excluded(path)]
    _, stages = parse_dockerfile(dockerfile)
    for stage in stages:
        for copy in stage.having("COPY"):
            flags, words = copy.flags_and_words()
            if "from" in flags:
                continue
            for source in words[:-1]:
                source = source.rstrip("/")
                if not any(f == source or f.startswith(source + "/") for f in context):
                    problems.append(f"line {copy.line}: COPY {source}: not in the build "
                                    "context .dockerignore leaves")
    return problems
