"""Consent events reach the audit log in the same transaction, without personal data."""

from __future__ import annotations

import json

import asyncpg
import pytest

from ledger.audit import pseudonym
from tests.conftest import backdate_grant


async def _entries(pool, **where):
    rows = await pool.fetch(
        "SELECT kind, subject, partner_id, jurisdictions, entry FROM audit_entries"
        " WHERE partner_id = $1 AND kind NOT LIKE 'ledger.%' ORDER BY id",
        where["partner_id"],
    )
    return [dict(r) | {"entry": json.loads(r["entry"])} for r in rows]


async def test_each_consent_event_is_logged_under_a_pseudonym(client, actors, pool):
    partner = await actors.partner()
    offer = await actors.offer(partner)
    customer = await actors.customer("DE")
    grant = await actors.accept(customer, offer)
    base = f"/v1/me/grants/{grant['id']}"
    for action in ("pause", "resume", "revoke"):
        assert (await client.post(f"{base}/{action}", headers=customer["auth"])).status_code == 200

    entries = await _entries(pool, partner_id=partner["id"])
    assert [e["kind"] for e in entries] == [
        "offer.created",
        "offer.published",
        "grant.accepted",
        "grant.paused",
        "grant.resumed",
        "grant.revoked",
        # Never read: the partner owes nothing, and the log says so (docs/deletion.md).
        "deletion.not_required",
    ]
    secret = await pool.fetchval(
        "SELECT secret FROM customer_audit_keys WHERE customer_id = $1", customer["id"]
    )
    expected = pseudonym(bytes(secret), customer["id"])
    for e in entries[2:]:
        assert e["subject"] == expected and e["entry"]["subject"] == expected
        assert e["jurisdictions"] == ["DE"]
        assert e["entry"]["grant_id"] == grant["id"]
    # No personal data: neither the customer id nor their external reference appears.
    raw = "".join(json.dumps(e["entry"]) for e in entries)
    assert customer["id"] not in raw and customer["external_ref"] not in raw


async def test_entries_are_canonical_json(pool, actors):
    partner = await actors.partner()
    await actors.offer(partner, publish=False)
    (row,) = await pool.fetch(
        "SELECT entry FROM audit_entries WHERE partner_id = $1 AND kind = 'offer.created'",
        partner["id"],
    )
    entry = json.loads(row["entry"])
    assert row["entry"] == json.dumps(entry, sort_keys=True, separators=(",", ":"))


async def test_the_audit_log_refuses_updates_deletes_and_truncates(pool, actors):
    partner = await actors.partner()
    await actors.offer(partner)
    for sql in (
        "UPDATE audit_entries SET kind = 'x' WHERE partner_id = $1",
        "DELETE FROM audit_entries WHERE partner_id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(sql, partner["id"])
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("TRUNCATE audit_entries CASCADE")


async def test_the_expiry_job_records_each_expiry(client, actors, pool, app, settings):
    from marketplace.bootstrap import bootstrap

    partner = await actors.partner()
    offer = await actors.offer(partner, duration_days=1)
    customer = await actors.customer()
    grant = await actors.accept(customer, offer)
    await backdate_grant(pool, grant["id"], days=2)
    consent = bootstrap(settings, pool).consent
    assert await consent.expire_due_grants() >= 1
    assert await pool.fetchval("SELECT status FROM grants WHERE id = $1", grant["id"]) == "expired"
    kinds = [e["kind"] for e in await _entries(pool, partner_id=partner["id"])]
    assert kinds[-2:] == ["grant.expired", "deletion.not_required"]
    assert await consent.expire_due_grants() == 0  # nothing twice
