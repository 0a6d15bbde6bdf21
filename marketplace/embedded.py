"""The demo's embedded PostgreSQL under DATA_DIR/pg: started, reused and stopped on purpose.

`marketplace run` owns it while it runs (DATA_DIR/pg-owner.pid) and stops it when it stops.
A server left running by a run that crashed is found (its postmaster.pid names a live
process) and reused by the next run, or stopped by `marketplace embedded stop` (`make
clean`). A one-shot command that finds none running starts one and stops it when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path

import structlog

log = structlog.get_logger("marketplace.embedded")

OWNER_FILE = "pg-owner.pid"
SHUTDOWN_SECONDS = 60  # a fast shutdown of the demo's small database takes about a second


class EmbeddedInUse(RuntimeError):
    """Another live `marketplace run` owns this DATA_DIR's PostgreSQL."""


def _pgserver():
    # pgserver asks platformdirs for a runtime dir it does not need; the warning is noise.
    warnings.filterwarnings("ignore", module="platformdirs")
    import pgserver  # imported lazily: only the embedded mode needs it

    return pgserver


def pgdata(data_dir: Path) -> Path:
    return data_dir.resolve() / "pg"


def running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid if a server runs on this DATA_DIR's files, else None."""
    from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata(data_dir))
    except (OSError, ValueError, AssertionError):  # a half-written or foreign file: none
        return None
    return info.pid if info is not None and info.is_running() else None


def _alive(pid: int) -> bool:
    """A live `marketplace run` (a reused pid of another program does not count)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and any(
            "marketplace" in part for part in process.cmdline()
        )
    except psutil.Error:
        return False


def _owner(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and _alive(pid) else None


def _start(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _pgserver().get_server(pgdata(data_dir), cleanup_mode=None)
    return server.get_uri()


def stop(data_dir: Path) -> bool:
    """Stops the server running on this DATA_DIR's files: a fast shutdown (SIGINT to the
    postmaster, what `pg_ctl stop -m fast` sends: sessions end, committed work is kept), then
    an immediate one if it has not stopped within SHUTDOWN_SECONDS. False if none ran."""
    import psutil

    pid = running_pid(data_dir)
    if pid is None:
        return False
    try:
        postmaster = psutil.Process(pid)
        postmaster.send_signal(signal.SIGINT)
        try:
            postmaster.wait(SHUTDOWN_SECONDS)
        except psutil.TimeoutExpired:
            log.warning("embedded_postgres_slow_to_stop", pid=pid)
            postmaster.send_signal(signal.SIGQUIT)
            postmaster.wait(SHUTDOWN_SECONDS)
    except psutil.NoSuchProcess:
        pass
    with contextlib.suppress(FileNotFoundError):
        (data_dir / OWNER_FILE).unlink()
    log.info("embedded_postgres_stopped", pid=pid)
    return True


@contextlib.contextmanager
def owned(data_dir: Path) -> Iterator[str]:
    """The server for `marketplace run`: started, or reused if a crashed run left it running;
    stopped when the block ends, however it ends. Raises EmbeddedInUse if another run owns it."""
    owner = _owner(data_dir)
    if owner is not None:
        raise EmbeddedInUse(
            f"another `marketplace run` (pid {owner}) is using {pgdata(data_dir)}; stop it first"
        )
    left = running_pid(data_dir)
    if left is not None:
        log.warning("embedded_postgres_reused", pid=left, reason="left running by an earlier run")
    url = _start(data_dir)
    (data_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
    try:
        yield url
    finally:
        stop(data_dir)


def database_url(data_dir: Path) -> str:
    """For any other command: the running server (a run's, left as it is), or one started now
    and stopped when this process exits."""
    if running_pid(data_dir) is not None:
        return _start(data_dir)
    url = _start(data_dir)
    atexit.register(stop, data_dir)
    return url
