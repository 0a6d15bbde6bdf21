"""The audit log proves the order of a read and a revoke: each decision's entry records the
snapshot it was decided on, each grant change its transaction id, so a read that raced a
revoke (decided before the revoke committed) is told apart from a breach."""

from __future__ import annotations

import asyncio
import json

from marketplace.bootstrap import bootstrap
from offers.dataspace import AccessDenied


class HeldCommit:
    """A unit-of-work factory whose units wait at their end (before COMMIT) until released."""

    def __init__(self, factory):
        self.factory = factory
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    def __call__(self, **options):
        return _HeldUnit(self.factory(**options), self)


class _HeldUnit:
    def __init__(self, unit, held: HeldCommit):
        self.unit, self.held = unit, held

    async def __aenter__(self):
        await self.unit.__aenter__()
        return self

    async def __aexit__(self, *exc):
        self.held.reached.set()
        await self.held.release.wait()
        return await self.unit.__aexit__(*exc)

    def repository(self, kind):
        return self.unit.repository(kind)


async def _entry(pool, kind: str, **match) -> dict:
    rows = await pool.fetch("SELECT entry FROM audit_entries WHERE kind = $1 ORDER BY id", kind)
    found = [
        e
        for e in (json.loads(r["entry"]) for r in rows)
        if all(e.get(k) == v for k, v in match.items())
    ]
    assert found, (kind, match)
    return found


async def test_a_read_that_raced_a_revoke_shows_its_snapshot_did_not_include_it(
    actors, settings, big_pool, pool
):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    services = bootstrap(settings, big_pool)
    held = HeldCommit(services.uow)
    revoking = bootstrap(settings, big_pool, uow=held).consent

    revoke = asyncio.ensure_future(revoking.change_grant(customer["id"], grant["id"], "revoke"))
    await held.reached.wait()  # the revoke is written, not yet committed
    raced = await services.access.read_records(
        partner["id"], customer["id"], "location", "aggregated_analytics"
    )
    assert raced.decision.allowed  # decided on the state before the revoke
    held.release.set()
    await revoke
    try:
        await services.access.read_records(
            partner["id"], customer["id"], "location", "aggregated_analytics"
        )
        raise AssertionError("a read after the revoke returned was allowed")
    except AccessDenied as denied:
        after = denied.decision
    assert after.reasons == ("grant_revoked",)

    (revoked,) = await _entry(pool, "grant.revoked", grant_id=grant["id"])
    (early,) = await _entry(pool, "access.decision", decision_id=raced.decision.id)
    (late,) = await _entry(pool, "access.decision", decision_id=after.id)
    visible = "SELECT pg_visible_in_snapshot($1::text::xid8, $2::text::pg_snapshot)"
    # What a regulator checks: the allowed read's snapshot did not include the revoke...
    assert not await pool.fetchval(visible, revoked["txid"], early["snapshot"])
    # ...and the read that did see it was denied.
    assert await pool.fetchval(visible, revoked["txid"], late["snapshot"])
    # The txid in the entry is the revoke's own transaction (the row the log was written by).
    assert revoked["txid"] == await pool.fetchval(
        "SELECT txid::text FROM audit_entries WHERE kind = 'grant.revoked'"
        " AND entry::jsonb ->> 'grant_id' = $1",
        grant["id"],
    )
