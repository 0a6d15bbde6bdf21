"""A PostgreSQL cluster of a test's own, which the test may stop, crash and restart: built with
the embedded server's own `initdb` and `pg_ctl`, listening on a fixed local TCP port so its
URL stays the same across restarts; and a hot standby of it (`standby`), made with the same
binaries' `pg_basebackup` and kept up to date by streaming replication."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

# PostgreSQL refuses to run as root; as the embedded server does, run it as this user then.
SYSTEM_USER = "pgserver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, *, initdb: bool = True) -> None:
        # Not under pytest's tmp_path: pytest keeps that tree private to root (0700), and the
        # server runs as another user when the tests run as root.
        home = Path(tempfile.mkdtemp(prefix="mkt-cluster-"))
        home.chmod(0o755)
        self.home = home
        self.user = SYSTEM_USER if os.geteuid() == 0 else None
        if self.user is not None:
            ensure_user_exists(self.user)
            ensure_prefix_permissions(home)
            shutil.chown(home, self.user, self.user)
        self.data = home / "pgdata"
        self.log = home / "postgres.log"
        self.port = _free_port()
        self.options = ""  # extra server settings for pg_ctl -o
        if initdb:
            # initdb's pg_hba.conf already trusts local replication connections (a standby's).
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )

    def standby(self) -> Cluster:
        """A hot standby of this running cluster, not yet started: a base backup taken with
        `pg_basebackup -R` (standby.signal and primary_conninfo written), streaming WAL from
        here once started. It reports what its queries need to the primary
        (hot_standby_feedback), so a long read is not cancelled by vacuum's cleanup."""
        other = Cluster(initdb=False)
        other._run(
            "pg_basebackup",
            "-D",
            str(other.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "-c",
            "fast",
            "-R",
        )
        other.options = "-c hot_standby_feedback=on"
        return other

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            user=self.user,
        )
        if done.returncode:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout.strip()}")

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k '' {self.options}",
            "start",
        )

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart`: stops (`fast` cleanly, `immediate` as a crash) and starts again;
        returns once the server accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-m",
            mode,
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k '' {self.options}",
            "restart",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` is a clean shutdown; `immediate` is a crash (recovery on the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        """Stops the server if it runs, and deletes the cluster."""
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # not running
        shutil.rmtree(self.home, ignore_errors=True)
