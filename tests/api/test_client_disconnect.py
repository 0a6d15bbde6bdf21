"""A request whose client has gone away stops its query, on a real server process."""

from __future__ import annotations

import asyncio
import json
import socket

from tests.conftest import free_port, start_server

WAITING = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
  AND wait_event_type = 'Lock' AND query ILIKE '%FROM offers%'
"""


async def _until(check, tries: int = 300):
    """Poll `check` (a bounded wait for another process, not a measure of time)."""
    for _ in range(tries):
        if (result := await check()) is not None:
            return result
        await asyncio.sleep(0.1)
    return None


async def test_a_client_that_goes_away_cancels_its_statement_on_the_server(
    settings, pool, token, tmp_path
):
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    # No statement timeout to speak of: only the client's going away can end the wait.
    proc = start_server(settings, port, extra_env={"STATEMENT_TIMEOUT_MS": "600000"}, stderr=log)
    try:
        async with pool.acquire() as locker, locker.transaction():
            await locker.execute("LOCK TABLE offers IN ACCESS EXCLUSIVE MODE")
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(
                b"GET /v1/partner/offers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + token("partner", "ptn_gone").encode() + b"\r\n\r\n"
            )
            waiting = await _until(lambda: pool.fetchval(WAITING))
            assert waiting is not None, "the server's read never reached the lock"
            client.close()

            async def gone():
                still = await pool.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE pid = $1 AND state = 'active'"
                    " AND wait_event_type = 'Lock'",
                    waiting,
                )
                return True if still is None else None

            # Checked while the lock is still held: the statement ended because it was
            # cancelled, not because it got its rows.
            assert await _until(gone) is True, "the statement kept waiting for the lock"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
    # Its log line says the client left first (499), not that the server failed (500).
    lines = [
        json.loads(line)
        for line in (tmp_path / "server.log").read_text().splitlines()
        if line.startswith("{")
    ]
    [line] = [x for x in lines if x.get("event") == "request" and x.get("sub") == "ptn_gone"]
    assert line["status"] == 499, line
