"""The FIFO line of read requests: a released place goes to the longest waiter."""

from __future__ import annotations

import asyncio

from marketplace.http.admission import FairGate, admission_middleware


async def test_places_go_in_arrival_order_never_to_a_newcomer():
    gate = FairGate(1)
    await gate.enter()
    order: list[int] = []

    async def waiter(i: int) -> None:
        await gate.enter()
        order.append(i)
        gate.leave()

    tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
    await asyncio.sleep(0)  # all five are in line
    gate.leave()
    late = asyncio.create_task(waiter(99))  # arrives after the release: goes last
    await asyncio.gather(*tasks, late)
    assert order == [0, 1, 2, 3, 4, 99]
    assert gate.free == 1 and not gate.waiters


async def test_a_cancelled_waiter_gives_up_its_place():
    gate = FairGate(1)
    await gate.enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    gate.leave()
    await second  # the place went past the cancelled waiter
    gate.leave()
    assert gate.free == 1 and not gate.waiters


async def test_a_read_leaves_the_line_when_its_response_starts_and_writes_skip_it():
    inside = 0
    seen: list[int] = []

    async def app(scope, receive, send):
        nonlocal inside
        inside += 1
        seen.append(inside)
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        inside -= 1
        await asyncio.sleep(0.01)  # streaming the body: outside the line
        await send({"type": "http.response.body", "body": b""})

    gated = admission_middleware(app, 2)

    async def send(message):
        pass

    async def call(method):
        await gated({"type": "http", "method": method, "path": "/v1/partner/offers"}, None, send)

    await asyncio.gather(*(call("GET") for _ in range(6)))
    assert max(seen) <= 2
    seen.clear()
    await asyncio.gather(*(call("POST") for _ in range(6)))
    assert max(seen) == 6


async def test_probes_never_wait_in_the_line():
    release = asyncio.Event()
    answered: list[str] = []

    async def app(scope, receive, send):
        if scope["path"] == "/v1/partner/offers":
            await release.wait()  # a slow read holding the only place
        answered.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    gated = admission_middleware(app, 1)

    async def send(message):
        pass

    def call(path):
        return asyncio.create_task(
            gated({"type": "http", "method": "GET", "path": path}, None, send)
        )

    slow = call("/v1/partner/offers")
    waiting = call("/v1/partner/grants")  # behind the slow read
    probes = [call("/ready"), call("/health")]
    await asyncio.gather(*probes)
    assert answered == ["/ready", "/health"]  # answered while the line is full
    release.set()
    await asyncio.gather(slow, waiting)
    assert answered[2:] == ["/v1/partner/offers", "/v1/partner/grants"]
