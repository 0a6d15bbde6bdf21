"""Every line on stderr is whole JSON: our own lines, the standard library's records of the
libraries underneath (asyncpg, uvicorn, pgqueuer) and Python warnings alike."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

PROGRAM = """
import logging, warnings
import structlog
from marketplace.logs import configure_logging

configure_logging(json=True)
structlog.get_logger("marketplace.test").info("ours", n=1, pid=7)
logging.getLogger("asyncpg.pool").warning("connection %s lost", "c1")
logging.getLogger("uvicorn.error").error("worker died")
warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("pgqueuer").exception("job failed")
try:
    raise ConnectionRefusedError(111, "Connection refused")
except ConnectionRefusedError:
    logging.getLogger("asyncpg.pool").warning("floor; retrying", exc_info=True)
logging.getLogger("sql.health").warning("database_unavailable", extra={"error": "OSError"})
"""


def test_foreign_records_and_warnings_are_json_lines_too():
    run = subprocess.run(
        [sys.executable, "-W", "always", "-c", PROGRAM],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]  # each a whole JSON value
    events = {line["event"]: line for line in lines}
    assert events["ours"]["n"] == 1
    # Which process wrote each line; an event's own `pid` (a worker it is about) is kept.
    assert events["ours"]["pid"] == 7
    assert len({line["process"] for line in lines}) == 1
    assert events["connection c1 lost"]["logger"] == "asyncpg.pool"
    assert events["connection c1 lost"]["level"] == "warning"
    assert events["worker died"]["logger"] == "uvicorn.error"
    assert any("something is deprecated" in line["event"] for line in lines)
    failed = events["job failed"]
    assert failed["level"] == "error" and "ZeroDivisionError" in failed["exception"]
    # asyncpg's reconnect loop: one line per attempt naming its error, no traceback (the
    # outage is said once, by sql.health, with its error as a field).
    retrying = events["floor; retrying"]
    assert "exception" not in retrying
    assert retrying["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert events["database_unavailable"]["error"] == "OSError"
