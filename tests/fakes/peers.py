"""Real peers for the money tests: localstripe as a subprocess, a webhook catcher, helpers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

from .stripe_server import free_port


def wait_for_port(proc: subprocess.Popen, port: int) -> None:
    """Returns once `proc` listens on `port`; fails only if it exits first (no clock: a slow
    machine only takes longer, and pytest-timeout bounds a hang)."""
    while proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the peer exited with {proc.returncode} before it listened on {port}")


class LocalStripe:
    """`localstripe --port N` as a subprocess."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.proc, self.port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class WebhookCatcher:
    """Receives the signed webhooks localstripe sends, exactly as sent (body and headers)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.deliveries: list[tuple[bytes, dict]] = []
        ready = threading.Event()

        async def hook(request: web.Request) -> web.Response:
            self.deliveries.append((await request.read(), dict(request.headers)))
            return web.Response(text="ok")

        def run():
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/hook", hook)
            self.runner = web.AppRunner(app, access_log=None)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait()

    async def wait_for(self, event_type: str, payment_intent: str):
        """The delivery of this event, once it arrives (pytest-timeout bounds a wait for none)."""
        import json

        while True:
            for body, headers in list(self.deliveries):
                e = json.loads(body)
                if e["type"] == event_type and e["data"]["object"].get("id") == payment_intent:
                    return body, headers
            await asyncio.sleep(0.1)
