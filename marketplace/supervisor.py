"""The API's process supervisor: uvicorn's, with every worker's death and replacement said in
one JSON line each (uvicorn itself says it at INFO, in plain text, or not at all).

`marketplace run --workers N` serves through this for N > 1; one process serves alone.
"""

from __future__ import annotations

import signal

import structlog
from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

log = structlog.get_logger("marketplace.supervisor")
STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that could not start


def _how(exitcode: int | None) -> dict:
    if exitcode is not None and exitcode < 0:
        try:
            return {"signal": signal.Signals(-exitcode).name}
        except ValueError:
            return {"signal": -exitcode}
    return {"exit_code": exitcode}


class LoggedMultiprocess(Multiprocess):
    """Keeps N workers alive, as uvicorn's does, and logs each death and each replacement."""

    def init_processes(self) -> None:
        super().init_processes()
        for process in self.processes:
            log.info("api_worker_started", pid=process.pid)

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung (no answer to the health ping) or already dead
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("api_worker_failed_to_start", pid=process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.error("api_worker_died", pid=process.pid, **_how(process.exitcode))
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement
            log.warning("api_worker_replaced", pid=replacement.pid, replaces=process.pid)


def serve(config: Config) -> None:
    """Serves `config.workers` processes under the logging supervisor (one: in process)."""
    from uvicorn import Server

    if config.workers <= 1:
        Server(config).run()
        return
    sock = config.bind_socket()
    LoggedMultiprocess(config, sockets=[sock]).run()
