"""`marketplace run --workers 2`: a SIGKILLed API worker leaves a JSON line saying so, its
replacement another, and the service goes on answering."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT, free_port, scratch_database, wait_until_ready


def _events(path) -> list[dict]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]  # every line is whole JSON


async def test_a_killed_api_worker_is_logged_and_replaced(server_url, tmp_path):
    async with scratch_database(server_url, "supervised") as url:
        port = free_port()
        log = tmp_path / "run.log"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": str(tmp_path / "data"),
            "PORT": str(port),
            "LOG_FORMAT": "json",
        }
        with open(log, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "marketplace.cli", "run", "--workers", "2", "--no-jobs"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_ready(proc, base)
            started = [e["pid"] for e in _events(log) if e["event"] == "api_worker_started"]
            assert len(started) == 2
            os.kill(started[0], signal.SIGKILL)
            while not any(e["event"] == "api_worker_replaced" for e in _events(log)):
                assert proc.poll() is None, "the supervisor exited"
                time.sleep(0.1)
            events = _events(log)
            died = [e for e in events if e["event"] == "api_worker_died"]
            replaced = [e for e in events if e["event"] == "api_worker_replaced"]
            assert [(e["pid"], e["signal"]) for e in died] == [(started[0], "SIGKILL")]
            assert replaced[0]["replaces"] == started[0] and replaced[0]["pid"] not in started
            wait_until_ready(proc, base)
            for _ in range(5):  # both processes (the survivor and the replacement) serve
                assert httpx.get(f"{base}/v1/vocabulary", timeout=10).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait()
