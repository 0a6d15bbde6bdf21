"""A small recording fake of Stripe for what localstripe lacks: Connect transfers, customer
balance transactions, and Idempotency-Key replay; and, for `make run`, PaymentIntents that
succeed when confirmed with a payment method and then send the signed
`payment_intent.succeeded` event, as Stripe does, to a configured webhook URL.

With a state file it keeps every object and idempotency key across restarts, so `marketplace
reconcile` against a restarted stand-in finds the payouts it made.

Like Stripe: the same key with the same parameters returns the first response; the same key
with other parameters is a 400 idempotency_error. It records every call and every effect, can
add random delays (so a client killed mid-call leaves an effect it never saw), and can be told
to fail the next N calls with a 503 that, like a request Stripe never began executing, is not
saved against the key. It can also hold the answer to the next payout call after carrying it
out, so a test can kill the caller while Stripe has done what it never heard back about.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nest(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding: `metadata[payout_id]=x` → {"metadata": {"payout_id": "x"}}."""
    out: dict = {}
    for k, v in pairs:
        if "[" in k:
            head, rest = k.split("[", 1)
            out.setdefault(head, {})[rest.rstrip("]")] = v
        else:
            out[k] = v
    return out


@dataclass
class Call:
    method: str
    path: str
    idempotency_key: str | None
    params: dict
    status: int
    replayed: bool = False


@dataclass
class FakeStripe:
    delay: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    calls: list[Call] = field(default_factory=list)
    effects: list[dict] = field(default_factory=list)  # every object created, once each
    state_file: str | None = None  # where objects and idempotency keys outlive a restart
    webhook_url: str | None = None  # where payment_intent.succeeded is sent, signed
    webhook_secret: str = ""

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._fail_next = 0
        self._hold_armed = False
        self.holding = threading.Event()  # a payout call was carried out; its answer waits
        self._released = threading.Event()
        self._saved: dict[str, tuple[str, int, dict]] = {}  # key -> (params hash, status, body)
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._sending: set[asyncio.Task] = set()
        self.customers: dict[str, dict] = {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._load()

    # -- state across restarts ------------------------------------------------------------

    def _load(self) -> None:
        if not self.state_file:
            return
        try:
            with open(self.state_file) as f:
                state = json.load(f)
        except FileNotFoundError:
            return
        self.effects = state["effects"]
        self.customers = state["customers"]
        self._saved = {k: tuple(v) for k, v in state["saved"].items()}

    def _save(self) -> None:
        if not self.state_file:
            return
        with self._lock:
            state = {"effects": self.effects, "customers": self.customers, "saved": self._saved}
            text = json.dumps(state)
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        import os

        os.replace(tmp, self.state_file)  # a stand-in killed mid-write keeps the last state

    # -- control from tests ---------------------------------------------------------------

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._fail_next = n

    def hold_next_payout(self) -> None:
        """The next payout call (a transfer or a balance transaction) is carried out, then
        its answer waits until `release()`; `holding` is set once it waits."""
        with self._lock:
            self._hold_armed = True
        self.holding.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def effects_by_payout(self) -> dict[str, list[dict]]:
        with self._lock:
            out: dict[str, list[dict]] = {}
            for e in self.effects:
                pid = e.get("metadata", {}).get("payout_id")
                if pid:
                    out.setdefault(pid, []).append(e)
            return out

    def start(self) -> FakeStripe:
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            self._loop.run_until_complete(site.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        self.release()

        async def shutdown():
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- the API --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        params = _nest(parse_qsl(await request.text())) if request.method == "POST" else {}
        if request.method == "GET":
            params = dict(request.query)
        key = request.headers.get("Idempotency-Key")
        path = request.path
        if request.method == "GET":
            return self._list(path, params)
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                self.calls.append(Call("POST", path, key, params, 503))
                return _error(503, "api_error", "injected failure (not saved for the key)")
        if key is None:
            return await self._execute(path, params, key)
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            digest = hashlib.sha256(
                (path + json.dumps(params, sort_keys=True)).encode()
            ).hexdigest()
            saved = self._saved.get(key)
            if saved is not None:
                if saved[0] != digest:
                    with self._lock:
                        self.calls.append(Call("POST", path, key, params, 400))
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                with self._lock:
                    self.calls.append(Call("POST", path, key, params, saved[1], replayed=True))
                return web.json_response(
                    saved[2], status=saved[1], headers={"Idempotent-Replayed": "true"}
                )
            response = await self._execute(path, params, key)
            self._saved[key] = (digest, response.status, json.loads(response.body))
            self._save()
            if self._take_hold(path):
                self.holding.set()
                while not self._released.is_set():
                    await asyncio.sleep(0.01)
            return response

    def _take_hold(self, path: str) -> bool:
        """Whether this call's answer waits: the first payout call after hold_next_payout."""
        payout = path == "/v1/transfers" or path.endswith("/balance_transactions")
        with self._lock:
            if not (payout and self._hold_armed):
                return False
            self._hold_armed = False
            return True

    async def _execute(self, path: str, params: dict, key: str | None) -> web.Response:
        lo, hi = self.delay
        if hi > 0:
            await asyncio.sleep(self._rng.uniform(lo, hi))
        parts = path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            refused = _payment_intent_refusal(params)
            if refused is not None:
                return self._record(path, key, params, refused)
            obj = self._payment_intent(params)
        elif parts == ["v1", "customers"]:
            obj = {
                "id": f"cus_fake{uuid.uuid4().hex[:14]}",
                "object": "customer",
                "metadata": params.get("metadata", {}),
                "balance": 0,
            }
            self.customers[obj["id"]] = obj
        elif (
            len(parts) == 4
            and parts[:2] == ["v1", "customers"]
            and parts[3] == ("balance_transactions")
        ):
            if parts[2] not in self.customers:
                return self._record(
                    path, key, params, _error(404, "invalid_request_error", "No such customer")
                )
            obj = {
                "id": f"cbtxn_{uuid.uuid4().hex[:20]}",
                "object": "customer_balance_transaction",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "customer": parts[2],
                "metadata": params.get("metadata", {}),
                "type": "adjustment",
            }
        elif parts == ["v1", "transfers"]:
            if not str(params.get("destination", "")).startswith("acct_"):
                return self._record(
                    path, key, params, _error(400, "invalid_request_error", "No such destination")
                )
            obj = {
                "id": f"tr_{uuid.uuid4().hex[:20]}",
                "object": "transfer",
                "amount": int(params["amount"]),
                "currency": params["currency"],
                "destination": params["destination"],
                "metadata": params.get("metadata", {}),
                "transfer_group": params.get("transfer_group"),
            }
        else:
            return self._record(
                path,
                key,
                params,
                _error(404, "invalid_request_error", f"Unrecognized request URL {path}"),
            )
        with self._lock:
            self.effects.append(obj)
        self._save()
        if obj["object"] == "payment_intent" and obj["status"] == "succeeded":
            asyncio.get_running_loop().create_task(
                self._send_event("payment_intent.succeeded", obj)
            )
        return self._record(path, key, params, web.json_response(obj))

    def _payment_intent(self, params: dict) -> dict:
        """Confirmed with a payment method: it succeeds at once (a test card always does)."""
        pi_id = f"pi_{uuid.uuid4().hex[:24]}"
        succeeded = bool(params.get("payment_method")) and params.get("confirm") == "true"
        return {
            "id": pi_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": int(params["amount"]) if succeeded else 0,
            "currency": params["currency"],
            "client_secret": f"{pi_id}_secret_{uuid.uuid4().hex[:24]}",
            "metadata": params.get("metadata", {}),
            "payment_method": params.get("payment_method"),
            "status": "succeeded" if succeeded else "requires_payment_method",
        }

    async def _send_event(self, kind: str, obj: dict) -> None:
        """The event, signed as Stripe signs it (t=..., v1=HMAC-SHA256 of "t.payload"),
        retried a few times while the receiver is not up yet."""
        if not self.webhook_url:
            return
        from aiohttp import ClientError, ClientSession

        event = {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "data": {"object": obj},
        }
        payload = json.dumps(event)
        for attempt in range(5):
            t = int(time.time())
            mac = hmac.new(self.webhook_secret.encode(), f"{t}.{payload}".encode(), "sha256")
            headers = {
                "Stripe-Signature": f"t={t},v1={mac.hexdigest()}",
                "Content-Type": "application/json",
            }
            try:
                async with ClientSession() as http:
                    async with http.post(self.webhook_url, data=payload, headers=headers) as r:
                        if r.status < 500:
                            return
            except ClientError:
                pass
            await asyncio.sleep(0.5 * 2**attempt)

    def _record(self, path, key, params, response: web.Response) -> web.Response:
        with self._lock:
            self.calls.append(Call("POST", path, key, params, response.status))
        return response

    def _list(self, path: str, query: dict) -> web.Response:
        parts = path.strip("/").split("/")
        with self._lock:
            if parts == ["v1", "transfers"]:
                objs = [e for e in self.effects if e["object"] == "transfer"]
            elif len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
                found = [e for e in self.effects if e["id"] == parts[2]]
                if not found:
                    return _error(404, "invalid_request_error", "No such payment_intent")
                return web.json_response(found[0])
            elif len(parts) == 4 and parts[3] == "balance_transactions":
                objs = [
                    e
                    for e in self.effects
                    if e["object"] == "customer_balance_transaction" and e["customer"] == parts[2]
                ]
            else:
                return _error(404, "invalid_request_error", f"Unrecognized request URL {path}")
        objs = list(reversed(objs))  # newest first, as Stripe lists
        if "starting_after" in query:
            ids = [o["id"] for o in objs]
            objs = objs[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", 10))
        return web.json_response(
            {"object": "list", "url": path, "data": objs[:limit], "has_more": len(objs) > limit}
        )


# A few of the currencies Stripe settles (lower case, as Stripe spells them).
STRIPE_CURRENCIES = frozenset(
    "eur usd gbp chf sek nok dkk pln czk huf ron bgn isk cad aud nzd jpy".split()
)


def _payment_intent_refusal(params: dict) -> web.Response | None:
    """Like Stripe: a currency it does not know, or an amount under the minimum, is a 400
    naming the parameter."""
    if params.get("currency") not in STRIPE_CURRENCIES:
        return _error(400, "invalid_request_error", "Invalid currency", param="currency")
    if int(params.get("amount", 0)) < 50:
        return _error(
            400, "invalid_request_error", "Amount must be at least 50 minor units", param="amount"
        )
    return None


def _error(status: int, kind: str, message: str, param: str | None = None) -> web.Response:
    error = {"type": kind, "message": message}
    if param is not None:
        error["param"] = param
    return web.json_response({"error": error}, status=status)


def main() -> None:
    """`python -m tests.fakes.stripe_server --port N`: a local Stripe stand-in for `make run`."""
    import argparse
    import signal
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True, help="where to listen")
    parser.add_argument("--state", help="a file that keeps the stand-in's objects across restarts")
    parser.add_argument("--webhook-url", help="where to send payment_intent.succeeded")
    parser.add_argument("--webhook-secret", default="", help="the secret that signs the events")
    args = parser.parse_args()
    fake = FakeStripe(
        state_file=args.state, webhook_url=args.webhook_url, webhook_secret=args.webhook_secret
    )
    fake.port = args.port
    fake.url = f"http://127.0.0.1:{fake.port}"
    fake.start()
    signal.signal(signal.SIGTERM, lambda *_: (fake.stop(), exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
