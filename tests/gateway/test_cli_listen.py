"""``parley gateway`` and ``parley run`` when their port is taken: one line, exit 2, nothing
left running. Real processes, a real socket holding the port, the test Redis database."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO
from tests.processes import REDIS_URL, copy_bot, run_parley

EXAMPLE = REPO / "examples" / "support_bot"
IN_USE = ("parley: error: cannot listen on 127.0.0.1:{port}: the port is already in use by "
          "another program; stop it, or set PARLEY_PORT to a free port")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return {**env, **settings}


def test_gateway_on_a_taken_port_says_so_in_one_line(taken_port: int) -> None:
    result = run_parley("gateway",
                        env=_env(PARLEY_REDIS_URL=REDIS_URL, PARLEY_PORT=str(taken_port)))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [IN_USE.format(port=taken_port)]
    assert "Traceback" not in result.stdout + result.stderr


def test_gateway_on_an_address_of_another_machine_names_parley_host() -> None:
    result = run_parley("gateway", env=_env(PARLEY_REDIS_URL=REDIS_URL, PARLEY_HOST="192.0.2.1"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("parley: error: cannot listen on 192.0.2.1:8080: '192.0.2.1' is not "
                           "an address of this machine; set PARLEY_HOST")


def test_run_on_a_taken_port_stops_before_training_or_starting_anything(
        taken_port: int, tmp_path: Path) -> None:
    bot = copy_bot(EXAMPLE, tmp_path)  # no model: a run would train first (~20 s)
    result = run_parley("run", str(bot), env=_env(PARLEY_PORT=str(taken_port)))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [IN_USE.format(port=taken_port)]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (bot / "models").exists()  # nothing trained, no bus, no worker


def _session_members(session: int) -> list[int]:
    """Processes still alive (not zombies) in session ``session``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def test_run_whose_port_is_taken_during_start_up_stops_its_children(tmp_path: Path) -> None:
    """The port is free at the early check and taken while the bot trains: the bind fails
    after the worker started, and the worker is stopped with the rest."""
    bot = copy_bot(FIXTURES / "bots" / "echo_bot", tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = subprocess.Popen([sys.executable, "-m", "gateway.cli", "run", str(bot)], cwd=REPO,
                           env=_env(PARLEY_REDIS_URL=REDIS_URL, PARLEY_PORT=str(port)),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in run.stderr or ()])
    reader.start()
    seen: list[str] = []
    try:
        while not any(line.startswith("no model in") for line in seen):  # early check passed
            seen.append(lines.get(timeout=120))
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", port))
            holder.listen()
            run.wait(timeout=180)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        reader.join(timeout=10)
        if run.stderr is not None:
            run.stderr.close()
    stderr = "".join(seen) + "".join(iter_queue(lines))
    assert run.returncode == 2, stderr
    assert "worker: ready" in stderr  # the bind really came after the slow start-up
    assert stderr.splitlines()[-1] == IN_USE.format(port=port)
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 5
    while _session_members(run.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_members(run.pid) == []


def iter_queue(lines: queue.Queue[str]) -> Iterator[str]:
    while not lines.empty():
        yield lines.get_nowait()
