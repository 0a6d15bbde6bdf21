"""Consent's afterlife end to end, through the API on real PostgreSQL: every way a grant ends or
narrows opens the right deletion obligation, the partner confirms with a signed receipt, the
customer sees it and is told (in ES, DE, EN), an overdue partner is suspended and released,
regulators see who is late. Time travels through the app's injected clock, never by sleeping.

The module has a database of its own: travelling expires every grant in the database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from litestar.testing import AsyncTestClient

from ledger.audit import AuditLog, entry_row
from marketplace.app import create_app
from marketplace.bootstrap import bootstrap
from marketplace.db import create_pool
from offers import verify_webhook
from tests.conftest import Actors, bearer, scratch_database
from tests.dataspace_helpers import Receiver, drain_jobs, insert_records
from tests.decisions import recorded_decisions

pytestmark = pytest.mark.usefixtures("own_queue")


class TravelClock:
    """The real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def travel(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


CLOCK = TravelClock()


@pytest.fixture(scope="module")
async def world(server_url, settings, token):
    """The app on this module's database and clock, and the same services on a pool of the
    tests' own (the app's pool lives on the test client's event loop) for the jobs."""
    async with scratch_database(server_url, "mkt_deletion") as url:
        own = replace(settings, database_url=url)
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            async with AsyncTestClient(app=create_app(own, clock=CLOCK)) as client:
                yield World(client, token, bootstrap(own, pool, clock=CLOCK), own)
        finally:
            await pool.close()


@pytest.fixture(autouse=True)
def _now():
    CLOCK.offset = timedelta()


class World(Actors):
    def __init__(self, client, token, services, settings):
        super().__init__(client, token)
        self.services = services
        self.pool = services.pool
        self.settings = settings

    async def sweep(self) -> dict:
        return await self.services.obligations.sweep()

    async def expire(self) -> int:
        return await self.services.consent.expire_due_grants()

    async def read(self, partner, customer, category="data_usage", purpose="research"):
        return await self.client.get(
            f"/v1/partner/customers/{customer['id']}/records",
            params={"category": category, "purpose": purpose},
            headers=partner["auth"],
        )

    async def obligations(self, partner, state=None) -> list[dict]:
        params = {"state": state} if state else {}
        r = await self.client.get(
            "/v1/partner/deletion-obligations", params=params, headers=partner["auth"]
        )
        assert r.status_code == 200, r.text
        return r.json()["data"]

    async def confirm(self, partner, obligation, **body):
        body = {
            "method": "deleted",
            "statement": "Deleted from the warehouse and every derived table.",
            "completed_at": CLOCK().isoformat(),
            **body,
        }
        return await self.client.post(
            f"/v1/partner/deletion-obligations/{obligation['id']}/confirm",
            json=body,
            headers=partner["auth"],
        )

    async def notifications(self, customer, language=None) -> list[dict]:
        headers = dict(customer["auth"])
        if language:
            headers["Accept-Language"] = language
        r = await self.client.get("/v1/me/notifications", headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    async def audit_kinds(self, partner) -> list[tuple[str, list[str]]]:
        rows = await self.pool.fetch(
            "SELECT kind, jurisdictions FROM audit_entries WHERE partner_id = $1 ORDER BY id",
            partner["id"],
        )
        return [(r["kind"], list(r["jurisdictions"])) for r in rows]


async def _granted(w: World, jurisdiction="ES", categories=("data_usage", "device"), **offer):
    partner = await w.partner()
    o = await w.offer(partner, categories=list(categories), **offer)
    customer = await w.customer(jurisdiction)
    grant = await w.accept(customer, o)
    return partner, o, customer, grant


async def test_revoke_opens_the_obligation_the_partner_confirms_and_the_customer_sees(world):
    w = world
    partner, _, customer, grant = await _granted(w)
    await insert_records(w.pool, customer["id"], "data_usage", 3)
    read = await w.read(partner, customer)
    assert read.status_code == 200
    r = await w.client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    assert r.status_code == 200, r.text

    [o] = await w.obligations(partner, "open")
    assert o["grant_id"] == grant["id"] and o["cause"] == "revoked"
    assert o["categories"] == ["data_usage", "device"]
    assert o["records_released"] == 3
    # the span is the read's own, as its recorded decision holds it: its window and instant
    [entry] = await recorded_decisions(w.pool, customer["id"])
    assert entry["decision_id"] == read.json()["decision"]["id"]
    assert _instant(o["data_from"]) == _instant(entry["window_start"])
    assert _instant(o["data_to"]) == _instant(read.json()["decision"]["at"])
    opened = datetime.fromisoformat(o["opened_at"])
    assert datetime.fromisoformat(o["due_at"]) - opened == timedelta(days=30)
    assert await w.obligations(partner, "confirmed") == []

    # A confirmation that cannot be true is refused, naming the field.
    early = datetime.fromisoformat(o["data_to"]) - timedelta(seconds=1)
    r = await w.confirm(partner, o, completed_at=early.isoformat())
    assert r.status_code == 422 and r.json()["field"] == "completed_at", r.text
    r = await w.confirm(partner, o, completed_at=(CLOCK() + timedelta(hours=1)).isoformat())
    assert r.status_code == 422 and r.json()["field"] == "completed_at"
    r = await w.confirm(partner, o, method="shredded")
    assert r.status_code == 400
    other = await w.partner()
    assert (await w.confirm(other, o)).status_code == 404  # another tenant's

    CLOCK.travel(days=3)
    r = await w.confirm(partner, o, method="de_identified")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "confirmed" and done["late"] is False
    assert (await w.confirm(partner, o)).status_code == 409

    # The receipt verifies with the published keys and says what was confirmed.
    jwks = (await w.client.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(done["receipt"])["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    # Signed at the travelled time: its iat lies ahead of the real clock.
    claims = jwt.decode(
        done["receipt"], jwt.PyJWK(key).key, algorithms=["EdDSA"], options={"verify_iat": False}
    )
    assert claims["receipt_type"] == "deletion-confirmation" and claims["jti"] == o["id"]
    assert claims["sub"] == customer["id"] and claims["partner_id"] == partner["id"]
    assert claims["confirmation"]["method"] == "de_identified"
    assert claims["obligation"]["records_released"] == 3

    # The customer sees it on the grant and in the data space, and can download it.
    g = (await w.client.get(f"/v1/me/grants/{grant['id']}", headers=customer["auth"])).json()
    [d] = g["deletion"]
    assert d["confirmed"] is True and d["method"] == "de_identified" and d["confirmed_at"]
    r = await w.client.get(d["receipt_url"], headers=customer["auth"])
    assert r.status_code == 200 and r.text == done["receipt"]
    assert r.headers["content-type"].startswith("application/jose")
    data = (await w.client.get("/v1/me/data", headers=customer["auth"])).json()
    assert [x["obligation_id"] for x in data["deletions"]] == [o["id"]]
    stranger = await w.customer()
    assert (await w.client.get(d["receipt_url"], headers=stranger["auth"])).status_code == 404

    # Told in Spanish (an ES customer), newest first.
    kinds = [(n["kind"], n["language"], n["title"]) for n in await w.notifications(customer)]
    assert kinds == [
        ("deletion.confirmed", "es", "Tus datos han sido eliminados"),
        ("grant.ended", "es", "Tu consentimiento ha terminado"),
    ]
    # The audit log of the customer's jurisdiction holds the obligation and its confirmation.
    kinds = await w.audit_kinds(partner)
    assert ("deletion.required", ["ES"]) in kinds and ("deletion.confirmed", ["ES"]) in kinds


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_reads_recorded_before_0084_still_count_with_their_window(world):
    # Before migration 0084 a read wrote a decisions row beside its audit entry, and the entry
    # had no window_start: the obligation still counts the read, and takes the window from
    # the row (once, not once per copy).
    w = world
    partner, _, customer, grant = await _granted(w)
    subject = await AuditLog(w.pool).subject(customer["id"])
    at = CLOCK() - timedelta(hours=1)
    window_start = at - timedelta(days=7)
    kind, *columns = entry_row(
        "access.decision",
        jurisdictions=["ES"],
        partner_id=partner["id"],
        subject=subject,
        category="data_usage",
        outcome="allowed",
        at=at,
        purpose="research",
        reasons=["granted"],
        rule_ids=[],
        grant_id=grant["id"],
        rules_version="sha256:before",
        decision_id="dec_before_0084",
        returned=5,
    )
    columns[1] = json.dumps(columns[1])  # jurisdictions travel as JSON text
    await w.pool.execute(
        "SELECT append_audit_entries(ARRAY[$1], ARRAY[$2::timestamptz], ARRAY[$3], ARRAY[$4],"
        " ARRAY[$5], ARRAY[$6], ARRAY[$7], ARRAY[$8])",
        kind,
        *columns,
    )
    await w.pool.execute(
        "INSERT INTO decisions (id, at, partner_id, customer_id, category, purpose, allowed,"
        " reasons, grant_id, rules_version, window_start, returned)"
        " VALUES ('dec_before_0084', $1, $2, $3, 'data_usage', 'research', true,"
        " '{granted}', $4, 'sha256:before', $5, 5)",
        at,
        partner["id"],
        customer["id"],
        grant["id"],
        window_start,
    )
    r = await w.client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    assert r.status_code == 200, r.text
    [o] = [x for x in await w.obligations(partner, "open") if x["grant_id"] == grant["id"]]
    assert o["records_released"] == 5
    assert _instant(o["data_from"]) == window_start and _instant(o["data_to"]) == at


async def test_a_grant_never_read_closes_its_obligation_at_once(world):
    w = world
    partner, _, customer, grant = await _granted(w, "FR")
    await w.client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    [o] = await w.obligations(partner)
    assert o["state"] == "not_required" and o["records_released"] == 0
    assert await w.obligations(partner, "open") == []
    assert (await w.confirm(partner, o)).status_code == 409
    [n] = await w.notifications(customer)
    assert n["language"] == "en" and "nothing to delete" in n["body"]
    assert ("deletion.not_required", ["FR"]) in await w.audit_kinds(partner)


async def test_expiry_on_the_clock_opens_the_obligation(world):
    w = world
    partner, _, customer, grant = await _granted(w, duration_days=10)
    await insert_records(w.pool, customer["id"], "device", 2)
    assert (await w.read(partner, customer, "device")).status_code == 200
    assert await w.expire() == 0 or not await w.obligations(partner)
    CLOCK.travel(days=10, minutes=1)
    assert await w.expire() >= 1
    [o] = await w.obligations(partner, "open")
    assert o["cause"] == "expired" and o["records_released"] == 2
    assert o["categories"] == ["data_usage", "device"]
    g = (await w.client.get(f"/v1/me/grants/{grant['id']}", headers=customer["auth"])).json()
    assert g["status"] == "expired" and g["deletion"][0]["confirmed"] is False


async def test_erasure_narrows_a_wider_grant_and_ends_a_narrow_one(world):
    w = world
    partner, _, customer, wide = await _granted(w)
    narrow_offer = await w.offer(partner, categories=["data_usage"])
    narrow = await w.accept(customer, narrow_offer)
    await insert_records(w.pool, customer["id"], "data_usage", 4)
    assert (await w.read(partner, customer)).status_code == 200

    r = await w.client.delete("/v1/me/data/data_usage", headers=customer["auth"])
    assert r.status_code == 200, r.text
    assert r.json()["grants_narrowed"] == [wide["id"]]
    assert r.json()["grants_revoked"] == [narrow["id"]]

    g = (await w.client.get(f"/v1/me/grants/{wide['id']}", headers=customer["auth"])).json()
    assert g["status"] == "active" and g["categories"] == ["device"]
    [d] = g["deletion"]
    assert d["cause"] == "narrowed" and d["categories"] == ["data_usage"]
    by_grant = {o["grant_id"]: o for o in await w.obligations(partner)}
    assert by_grant[narrow["id"]]["cause"] == "data_erased"
    # Which grant released the 4 records is in the decisions: the other owes nothing.
    assert sorted(o["records_released"] for o in by_grant.values()) == [0, 4]
    assert {n["kind"] for n in await w.notifications(customer)} >= {"grant.narrowed"}
    # The narrowed grant reads no more of the erased category, and still reads the rest.
    r = await w.read(partner, customer)
    assert r.status_code == 403
    assert (await w.read(partner, customer, "device")).status_code == 200


async def test_account_closure_opens_obligations_and_tells_no_one(world):
    w = world
    partner, _, customer, grant = await _granted(w, "DE")
    await insert_records(w.pool, customer["id"], "device", 1)
    assert (await w.read(partner, customer, "device")).status_code == 200
    assert (await w.client.delete("/v1/me", headers=customer["auth"])).status_code == 200
    [o] = await w.obligations(partner, "open")
    assert o["cause"] == "account_closed" and o["grant_id"] == grant["id"]
    assert (
        await w.pool.fetchval(
            "SELECT count(*) FROM notifications WHERE customer_id = $1", customer["id"]
        )
        == 0
    )
    assert (await w.confirm(partner, o)).status_code == 200


async def test_an_overdue_partner_is_suspended_and_released_by_confirming(world):
    w = world
    partner, offer, customer, grant = await _granted(w, "DE")
    reader = await w.customer("DE")
    await w.accept(reader, offer)
    for c in (customer, reader):
        await insert_records(w.pool, c["id"], "device", 1)
    assert (await w.read(partner, customer, "device")).status_code == 200
    await w.client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    [o] = await w.obligations(partner, "open")

    CLOCK.travel(days=30, minutes=1)
    counts = await w.sweep()
    assert counts["overdue"] >= 1
    assert (await w.read(partner, reader, "device")).status_code == 200  # within grace
    [n] = [n for n in await w.notifications(customer) if n["kind"] == "deletion.overdue"]
    assert n["language"] == "de" and n["title"].startswith("Ein Unternehmen")
    [n] = [n for n in await w.notifications(customer, "en;q=0.9, xx") if n["kind"] == "grant.ended"]
    assert n["language"] == "en"

    CLOCK.travel(days=7)
    await w.sweep()
    r = await w.read(partner, reader, "device")
    assert r.status_code == 403 and "partner_suspended" in r.text
    r = await w.client.get(f"/v1/admin/partners/{partner['id']}/suspension", headers=w.operator)
    s = r.json()
    assert s["status"] == "suspended" and s["suspended_reason"] == "deletion_overdue"
    assert s["overdue_obligations"] == 1
    assert ("partner.suspended", ["DE"]) in await w.audit_kinds(partner)

    r = await w.confirm(partner, o)
    assert r.status_code == 200 and r.json()["late"] is True
    assert (await w.read(partner, reader, "device")).status_code == 200
    assert ("partner.reinstated", ["DE"]) in await w.audit_kinds(partner)

    # Regulators of DE see the late confirmation; others see nothing of this partner.
    de = bearer(w.token("regulator", "reg_de", jurisdictions=["DE"]))
    r = await w.client.get("/v1/audit/deletion-metrics", headers=de)
    [m] = [m for m in r.json()["partners"] if m["partner_id"] == partner["id"]]
    assert m["opened"] == 1 and m["confirmed_late"] == 1 and m["confirmed_in_time"] == 0
    assert m["open_overdue"] == 0 and m["median_seconds_to_confirm"] > 37 * 86400
    fr = bearer(w.token("regulator", "reg_fr", jurisdictions=["FR"]))
    r = await w.client.get("/v1/audit/deletion-metrics", headers=fr)
    assert partner["id"] not in {m["partner_id"] for m in r.json()["partners"]}


async def test_the_operator_lifts_a_suspension_until_a_date(world):
    w = world
    partner, offer, customer, grant = await _granted(w, "ES")
    reader = await w.customer("ES")
    await w.accept(reader, offer)
    for c in (customer, reader):
        await insert_records(w.pool, c["id"], "device", 1)
    assert (await w.read(partner, customer, "device")).status_code == 200
    await w.client.post(f"/v1/me/grants/{grant['id']}/revoke", headers=customer["auth"])
    CLOCK.travel(days=38)
    await w.sweep()
    assert (await w.read(partner, reader, "device")).status_code == 403

    path = f"/v1/admin/partners/{partner['id']}/suspension/lift"
    r = await w.client.post(path, json={"until": "2000-01-01T00:00:00Z"}, headers=w.operator)
    assert r.status_code == 422 and r.json()["field"] == "until"
    r = await w.client.post(path, json={}, headers=w.operator)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    await w.sweep()  # held off: one grace period
    assert (await w.read(partner, reader, "device")).status_code == 200
    CLOCK.travel(days=7, minutes=1)
    await w.sweep()  # still overdue after the hold: suspended again
    assert (await w.read(partner, reader, "device")).status_code == 403
    assert (
        await w.client.post(path, json={}, headers=bearer(w.token("partner", partner["id"])))
    ).status_code == 403
    missing = "/v1/admin/partners/ptn_missing/suspension"
    assert (await w.client.get(missing, headers=w.operator)).status_code == 404


async def test_notifications_at_the_right_moments_in_three_languages(world):
    w = world
    partner = await w.partner()
    short = await w.offer(partner, categories=["device"], duration_days=30, title="Corta")
    long = await w.offer(partner, categories=["device"], duration_days=365)
    people = {j: await w.customer(j) for j in ("ES", "DE", "FR")}
    for c in people.values():
        await w.accept(c, short)
        await w.accept(c, long)

    def kinds(ns):
        return sorted(n["kind"] for n in ns)

    await w.sweep()
    assert await w.notifications(people["ES"]) == []
    CLOCK.travel(days=23, minutes=1)  # the short grant ends within 7 days
    await w.sweep()
    await w.sweep()  # once only
    titles = {}
    for j, c in people.items():
        [n] = await w.notifications(c)
        assert n["kind"] == "grant.expiring" and "Test Partner" in n["body"]
        titles[j] = (n["language"], n["title"])
    assert titles == {
        "ES": ("es", "Tu consentimiento termina pronto"),
        "DE": ("de", "Ihre Einwilligung endet bald"),
        "FR": ("en", "Your consent ends soon"),
    }
    # The periodic reminder (CDR): 90 days after the grant and every 90 days after that.
    CLOCK.travel(days=67)
    await w.sweep()
    assert kinds(await w.notifications(people["DE"])) == ["grant.expiring", "grant.reminder"]
    reminder = (await w.notifications(people["DE"]))[0]
    assert "für aggregierte Analysen und Forschung" in reminder["body"]
    CLOCK.travel(days=90)
    await w.sweep()
    await w.sweep()
    assert kinds(await w.notifications(people["ES"])).count("grant.reminder") == 2

    # A changed offer tells every holder of a live grant; their grants keep their terms.
    CLOCK.offset = timedelta()
    r = await w.client.patch(
        f"/v1/partner/offers/{long['id']}", json={"title": "Nuevo"}, headers=partner["auth"]
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    [n] = [n for n in await w.notifications(people["ES"]) if n["kind"] == "offer.changed"]
    assert "«Nuevo»" in n["body"] and "versión 2" in n["body"]
    [n] = [n for n in await w.notifications(people["DE"], "en") if n["kind"] == "offer.changed"]
    assert n["title"] == "An offer you accepted changed"


async def test_every_event_is_delivered_signed_with_retries(world):
    w = world
    partner, _, customer, grant = await _granted(w, "ES")
    other_offer = await w.offer(partner, categories=["data_usage"])
    second = await w.accept(customer, other_offer)
    async with Receiver(fail=1) as partner_rx, Receiver() as operator_rx:
        r = await w.client.post(
            "/v1/partner/webhook-endpoints",
            json={
                "url": partner_rx.url,
                "events": [
                    "grant.paused",
                    "grant.resumed",
                    "grant.revoked",
                    "grant.narrowed",
                    "grant.expired",
                    "deletion.required",
                    "deletion.due_soon",
                    "deletion.overdue",
                ],
            },
            headers=partner["auth"],
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        r = await w.client.post(
            "/v1/admin/webhook-endpoints",
            json={"url": operator_rx.url, "events": ["notification.created"]},
            headers=w.operator,
        )
        assert r.status_code == 201, r.text
        op = r.json()
        bad = await w.client.post(
            "/v1/admin/webhook-endpoints",
            json={"url": operator_rx.url, "events": ["grant.revoked"]},
            headers=w.operator,
        )
        assert bad.status_code == 400

        await insert_records(w.pool, customer["id"], "data_usage", 2)
        assert (await w.read(partner, customer)).status_code == 200
        for action in ("pause", "resume"):
            await w.client.post(f"/v1/me/grants/{grant['id']}/{action}", headers=customer["auth"])
        await w.client.delete("/v1/me/data/data_usage", headers=customer["auth"])
        CLOCK.travel(days=23, minutes=1)
        await w.sweep()
        CLOCK.travel(days=7)
        await w.sweep()
        CLOCK.travel(days=1)
        await w.expire()
        await drain_jobs(w.settings, w.settings.database_url)

    events = [verify_webhook(secret, h, body) for h, body, _ in partner_rx.calls]
    by_type: dict[str, list[dict]] = {}
    for e in events:
        by_type.setdefault(e["type"], []).append(e["data"])
    assert by_type["grant.paused"][0]["required_action"] == "stop"
    assert by_type["grant.resumed"][0]["required_action"] == "nothing"
    [narrowed] = by_type["grant.narrowed"]
    assert narrowed["grant_id"] == grant["id"] and narrowed["categories_removed"] == ["data_usage"]
    assert narrowed["required_action"] == "delete" and narrowed["obligation_id"]
    [revoked] = by_type["grant.revoked"]
    assert revoked["grant_id"] == second["id"] and revoked["required_action"] == "nothing"
    assert {d["obligation_id"] for d in by_type["deletion.required"]} == {
        narrowed["obligation_id"]
    } | {d["obligation_id"] for d in by_type["deletion.required"] if d["cause"] == "expired"}
    assert by_type["deletion.due_soon"][0]["obligation_id"] == narrowed["obligation_id"]
    assert by_type["deletion.overdue"][0]["required_action"] == "delete"
    assert any(e["grant_id"] == grant["id"] for e in by_type["grant.expired"])
    # The first call failed (503) and was retried.
    assert len(partner_rx.calls) == len({e["id"] for e in events}) + 1

    told = [verify_webhook(op["secret"], h, body) for h, body, _ in operator_rx.calls]
    assert {e["type"] for e in told} == {"notification.created"}
    mine = [e["data"] for e in told if e["data"]["customer_id"] == customer["id"]]
    assert {"grant.narrowed", "grant.ended", "deletion.overdue"} <= {d["kind"] for d in mine}
    assert {d["language"] for d in mine} == {"es"}
    assert all(d["title"] and d["body"] for d in mine)
    r = await w.client.get(f"/v1/admin/webhook-endpoints/{op['id']}/deliveries", headers=w.operator)
    assert {d["status"] for d in r.json()["data"]} == {"succeeded"}
    # A partner cannot reach the operator's endpoint.
    r = await w.client.get(
        f"/v1/partner/webhook-endpoints/{op['id']}/deliveries", headers=partner["auth"]
    )
    assert r.status_code == 404


async def test_offers_give_the_rule_sentences_in_the_customers_language(world):
    w = world
    partner = await w.partner()
    offer = await w.offer(partner)  # location + data_usage: location is barred in DE
    de = await w.customer("DE")

    async def sentences(language=None) -> set[str]:
        headers = dict(de["auth"])
        if language:
            headers["Accept-Language"] = language
        r = await w.client.get("/v1/me/offers", headers=headers, params={"limit": 100})
        [o] = [o for o in r.json()["data"] if o["id"] == offer["id"]]
        return {
            reason["message"]
            for e in o["exclusions"]
            for reason in e["reasons"]
            if reason["code"] == "rule:de-location-trading"
        }

    # Unasked, English: as the grant's exclusions and its signed receipt will say.
    assert await sentences() == {"In Germany, your location data cannot be shared with companies."}
    assert await sentences("de") == {
        "In Deutschland dürfen Ihre Standortdaten nicht an Unternehmen weitergegeben werden."
    }
    assert await sentences("es-ES,es;q=0.9") == {
        "En Alemania, tus datos de ubicación no pueden compartirse con empresas."
    }
    assert await sentences("fr, en;q=0.5") == {
        "In Germany, your location data cannot be shared with companies."
    }
