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


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


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
        wait_for_port(self.port)

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
        ready.wait(5)

    async def wait_for(self, event_type: str, payment_intent: str, timeout: float = 10.0):
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body, headers in list(self.deliveries):
                e = json.loads(body)
                if e["type"] == event_type and e["data"]["object"].get("id") == payment_intent:
                    return body, headers
            await asyncio.sleep(0.1)
        raise AssertionError(f"no {event_type} webhook for {payment_intent}")
