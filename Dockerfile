# syntax=docker/dockerfile:1
#
# Parley's one image for every role: the role is the command's first argument.
#
#   docker build -t parley .
#   docker run --rm parley gateway      # PARLEY_REDIS_URL, PARLEY_DATABASE_URL, ... from the env
#   docker run --rm parley worker -c 2
#   docker run --rm parley archiver --bot-dir /app/bot --metrics-host 0.0.0.0 --metrics-port 9109
#   docker run --rm parley db upgrade /app/bot   # the migration Job
#
# The example bot is baked in at /app/bot with a model trained here (seed 0); mount your own
# bot folder, with its models/, at /app/bot instead. Nothing is written outside /tmp: the
# image runs with a read-only root filesystem and a writable /tmp (an emptyDir in
# Kubernetes). The README's "The container image" says what each setting below is for.
# tests/deploy/test_image.py checks this file's rules (and runs hadolint when installed).

# ---- builder: the virtualenv and the example bot's model ----------------------------------
FROM python:3.11.13-slim-bookworm AS builder

# No compiler here either: every dependency constraints.txt pins has a manylinux wheel for
# CPython 3.11 on x86_64, and --only-binary=:all: keeps it so (a dependency that needs a
# compiler fails the build instead of pulling build tools in).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv

WORKDIR /src
# The dependencies first, in a layer of their own: it is rebuilt only when pyproject.toml
# or constraints.txt change, not at every change of Parley's code.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --only-binary=:all: \
        -c constraints.txt -r /tmp/requirements.txt

# Then Parley itself (a regular install, not editable: the source tree stays here).
COPY README.md ./
COPY brain brain
COPY channels channels
COPY desk desk
COPY gateway gateway
COPY integrations integrations
COPY workers workers
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps -c constraints.txt . \
    && /opt/venv/bin/parley --help > /dev/null

# The example bot's NLU model, trained with this very venv (a model records the spaCy and
# scikit-learn versions that made it, and the workers refuse another minor version). A
# folder rather than a .tar.gz: a worker loads a folder in place, an archive it unpacks
# into /tmp first. Same data and seed, same model (its id still carries the build's time).
COPY examples/support_bot /app/bot
RUN /opt/venv/bin/parley train /app/bot --seed 0 --out /app/bot/models/nlu-example

# ---- the image: the venv, the bot, no build tools ------------------------------------------
FROM python:3.11.13-slim-bookworm

LABEL org.opencontainers.image.title="Parley" \
      org.opencontainers.image.description="Multi-channel chatbot gateway: gateway, worker, archiver and migrations in one image" \
      org.opencontainers.image.licenses="Apache-2.0"

# A numeric, non-root user (Kubernetes' runAsNonRoot can check a number, not a name) with
# an entry in /etc/passwd for the tools that look one up; no home: HOME is /tmp below.
RUN groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin parley

COPY --from=builder /opt/venv /opt/venv
# Owned by root and so read-only for the user, even where the root filesystem is writable.
COPY examples/support_bot /app/bot
COPY --from=builder /app/bot/models /app/bot/models

# Every place Parley and its libraries write, under /tmp (the one writable mount):
# - HOME and the XDG folders: `parley shell`'s history ($XDG_STATE_HOME/parley), any
#   library's cache; MPLCONFIGDIR: matplotlib's font cache (`parley nlu evaluate` plots);
# - a .tar.gz model is unpacked into a temporary folder; `parley worker --metrics-port`
#   keeps its processes' values in PROMETHEUS_MULTIPROC_DIR (default: a new folder in /tmp);
# - Celery's prefork pool uses POSIX semaphores in /dev/shm, a mount of its own;
# - no bytecode is written at run time (the venv is compiled at install; the bot's
#   actions.py is compiled in memory at each start).
# The desk's database is PARLEY_DATABASE_URL (PostgreSQL): with it unset the gateway would
# write parley.db into the read-only bot folder.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_STATE_HOME=/tmp/.local/state \
    MPLCONFIGDIR=/tmp/matplotlib \
    PARLEY_BOT_DIR=/app/bot \
    PARLEY_HOST=0.0.0.0 \
    PARLEY_PORT=8080

WORKDIR /app
USER 10001:10001

# 8080: the gateway (PARLEY_PORT); 9108: a worker's metrics (--metrics-port, off by default).
EXPOSE 8080 9108

# No HEALTHCHECK: Kubernetes ignores it (its probes do the job: the gateway's /healthz and
# /readyz), and one image runs several roles that are healthy in different ways.
ENTRYPOINT ["parley"]
CMD ["--help"]
