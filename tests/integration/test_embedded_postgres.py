"""The demo's embedded PostgreSQL stops when `marketplace run` stops; one left running by a
run that crashed is found and reused by the next run, or stopped by `embedded stop`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from marketplace.embedded import running_pid
from tests.conftest import ROOT, free_port, wait_until_ready


def alive(pid: int) -> bool:
    """A process that exited but whose parent has not reaped it yet counts as gone."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_run(data_dir, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STRIPE_API_BASE")}
    env |= {"DATA_DIR": str(data_dir), "PORT": str(port), "LOG_FORMAT": "json"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "run", "--no-jobs"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives `make run`
    )
    try:
        wait_until_ready(proc, f"http://127.0.0.1:{port}")
    except RuntimeError:
        raise RuntimeError(proc.communicate()[1]) from None
    return proc


def cli(data_dir, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.timeout(600)
def test_embedded_postgres_lives_and_dies_with_the_run(tmp_path):
    data = tmp_path / "d"
    # Ctrl-C (SIGINT to the whole process group): the run stops, and its PostgreSQL with it.
    run = start_run(data, free_port())
    pg = running_pid(data)
    assert pg is not None and cli(data, "embedded", "status") == f"running (pid {pg})"
    # A second run on the same files is refused while the first one lives.
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    second = subprocess.run(
        [sys.executable, "-m", "marketplace.cli", "run", "--no-jobs"],
        env=env | {"DATA_DIR": str(data), "PORT": str(free_port())},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 2
    assert f"another `marketplace run` (pid {run.pid}) is using" in second.stderr
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert running_pid(data) is None and not alive(pg), err
    assert cli(data, "embedded", "status") == "not running"

    # A run that crashes (SIGKILL: no cleanup at all) leaves its PostgreSQL running...
    run = start_run(data, free_port())
    pg = running_pid(data)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    assert running_pid(data) == pg and alive(pg)
    # ...and the next run finds it, says so, reuses it, and stops it when it stops.
    run = start_run(data, free_port())
    assert running_pid(data) == pg
    os.killpg(run.pid, signal.SIGTERM)  # a process manager's stop
    _, err = run.communicate(timeout=120)
    assert "embedded_postgres_reused" in err, err
    assert running_pid(data) is None and not alive(pg), err

    # A crashed run's server is stopped by `marketplace embedded stop` (what `make clean` runs
    # before it deletes the files).
    run = start_run(data, free_port())
    pg = running_pid(data)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    assert cli(data, "embedded", "stop") == "stopped"
    assert running_pid(data) is None and not alive(pg)
