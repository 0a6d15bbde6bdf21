"""Demo data for `make run`: partners, customers in several countries, published offers."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime, timedelta

from ledger import LedgerService
from offers import Compensation, ConsentService, ControllerProfile, OfferTerms
from offers.dataspace import AccessDenied, DataAccessService

DEMO_CUSTOMERS = [
    # external_ref, jurisdiction, birth date
    ("demo-anna-de", "DE", date(1988, 4, 12)),
    ("demo-lucas-fr", "FR", date(1993, 9, 30)),
    ("demo-sofia-es", "ES", date(2013, 2, 1)),  # under Spain's age of digital consent
    ("demo-jan-nl", "NL", date(1979, 12, 5)),
]

DEMO_OFFERS = [
    OfferTerms(
        title="City footfall insights",
        description="Anonymous footfall counts for retail planning, from where your phone was.",
        categories=("location", "data_usage"),
        purposes=("aggregated_analytics",),
        duration_days=90,
        lookback_days=30,
        compensation=Compensation(kind="discount", amount=500, currency="EUR"),
        jurisdictions=("DE", "FR", "ES", "NL"),
    ),
    OfferTerms(
        title="Better device deals",
        description="Personalised upgrade offers based on your device and bill.",
        categories=("device", "billing"),
        purposes=("personalised_offers",),
        duration_days=180,
        lookback_days=90,
        compensation=Compensation(kind="cash", amount=300, currency="EUR"),
        jurisdictions=("DE", "FR", "NL"),
    ),
]

# The demo partner as a controller, as its receipts name it.
DEMO_PARTNER = ControllerProfile(
    contact="Privacy Team, Acme Mobility Insights",
    address="Beispielweg 5, 80331 Munich, Germany",
    email="privacy@acme-mobility.example",
    phone="+4989123456",
    policy_url="https://acme-mobility.example/privacy",
    retention_days=30,
)


# Where each demo customer's phone tends to be: (lat, lon) of a home city.
DEMO_CITIES = {
    "DE": (52.52, 13.405),
    "FR": (48.857, 2.352),
    "ES": (40.417, -3.704),
    "NL": (52.37, 4.895),
}
DEMO_DEVICES = [
    ("Samsung", "Galaxy S23", "Android 14"),
    ("Apple", "iPhone 14", "iOS 17"),
    ("Google", "Pixel 8", "Android 14"),
    ("Fairphone", "Fairphone 5", "Android 13"),
]


def demo_records(ref: str, jurisdiction: str, now: datetime) -> list[dict]:
    """A few dozen realistic records for one demo customer (deterministic per customer)."""
    rng = random.Random(ref)
    lat, lon = DEMO_CITIES.get(jurisdiction, (50.0, 10.0))
    currency = "EUR"

    def at(days: float) -> str:
        return (now - timedelta(days=days)).isoformat()

    out = []
    for i in range(12):  # location points over the last weeks
        out.append(
            {
                "category": "location",
                "recorded_at": at(i * 2.5 + rng.random()),
                "source": "network-cells",
                "payload": {
                    "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(lon + rng.uniform(-0.05, 0.05), 5),
                    "accuracy_m": rng.choice([50, 150, 500]),
                    "cell_id": f"{jurisdiction}-{rng.randrange(10_000, 99_999)}",
                },
            }
        )
    for i in range(10):  # call records: counterpart masked, as the operator keeps it
        out.append(
            {
                "category": "call_records",
                "recorded_at": at(i * 3 + rng.random()),
                "source": "switch-cdr",
                "payload": {
                    "direction": rng.choice(["outgoing", "incoming"]),
                    "kind": rng.choice(["voice", "sms"]),
                    "counterpart": f"+{rng.randrange(30, 49)}******{rng.randrange(10, 99)}",
                    "duration_s": rng.randrange(0, 1800),
                },
            }
        )
    for i in range(8):  # daily data usage
        out.append(
            {
                "category": "data_usage",
                "recorded_at": at(i + 0.5),
                "source": "pgw-usage",
                "payload": {
                    "period": "day",
                    # The serving cell's position: data usage per area (aggregated insights).
                    "lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                    "lon": round(lon + rng.uniform(-0.05, 0.05), 5),
                    "mb_down": rng.randrange(50, 3000),
                    "mb_up": rng.randrange(5, 400),
                    "roaming": False,
                },
            }
        )
    make, model, os_version = rng.choice(DEMO_DEVICES)
    out.append(
        {
            "category": "device",
            "recorded_at": at(40),
            "source": "device-registry",
            "payload": {"make": make, "model": model, "os": os_version, "esim": True},
        }
    )
    for month in range(3):  # monthly bills
        out.append(
            {
                "category": "billing",
                "recorded_at": at(30 * month + 1),
                "source": "billing",
                "payload": {
                    "plan": "Unlimited 5G",
                    "amount": rng.randrange(1500, 4500),
                    "currency": currency,
                    "paid": month > 0,
                },
            }
        )
    return out


async def load_demo(
    consent: ConsentService,
    access: DataAccessService | None = None,
    money: LedgerService | None = None,
) -> dict:
    """Creates the demo once; later runs find it and return the same ids."""
    customers = {}
    first_run = False
    for ref, jurisdiction, born in DEMO_CUSTOMERS:
        customer, created = await consent.create_customer(ref, jurisdiction, born)
        customers[ref] = customer.id
        first_run = first_run or created
    if first_run:
        partner = await consent.create_partner("Acme Mobility Insights", "DE", DEMO_PARTNER)
        if money is not None:
            # No Stripe in the demo: the operator credits the escrow directly (an adjustment).
            await money.adjust_escrow(
                partner.id,
                500_000,
                "EUR",
                operator="demo",
                idempotency_key=f"adjustment:{partner.id}:demo-funding",
            )
        offers = []
        for terms in DEMO_OFFERS:
            offer = await consent.create_offer(partner.id, terms, max_grants=1000)
            offers.append(await consent.change_offer_status(partner.id, offer.id, "publish"))
        await consent.accept_offer(customers["demo-anna-de"], offers[0].id)  # footfall
        for ref in ("demo-lucas-fr", "demo-jan-nl"):  # the cash offer: paid by transfer
            await consent.accept_offer(customers[ref], offer.id)
            if money is not None:
                await money.set_payout_account(customers[ref], f"acct_demo{ref.split('-')[1]}")
        if access is not None:
            now = datetime.now(UTC)
            for ref, jurisdiction, _ in DEMO_CUSTOMERS:
                await access.ingest(customers[ref], demo_records(ref, jurisdiction, now))
            # The partner reads Anna's data: her data usage is released; her location never
            # is (Germany bars trading it), and the refusal is on record for the regulator.
            anna = customers["demo-anna-de"]
            await access.read_records(partner.id, anna, "data_usage", "aggregated_analytics")
            with contextlib.suppress(AccessDenied):
                await access.read_records(partner.id, anna, "location", "aggregated_analytics")
        partner_id = partner.id
    else:
        page = await consent.list_customer_grants(
            customers["demo-lucas-fr"], status=None, starting_after=None, limit=1
        )
        partner_id = page.data[0].partner_id
    return {
        "partner": partner_id,
        "customers": customers,
        "offers": await _who_can_accept(consent, partner_id, customers),
    }


async def _who_can_accept(
    consent: ConsentService, partner_id: str, customers: dict[str, str]
) -> dict:
    """Each published demo offer: its title and the demo customers who may accept it now (as
    each customer's `GET /v1/me/offers` says), so the printed ids paste into a walkthrough."""
    published = await consent.list_offers(
        partner_id, status="active", starting_after=None, limit=100
    )
    offers: dict[str, dict] = {
        o.id: {"title": o.terms.title, "purposes": o.terms.purposes, "eligible": []}
        for o in reversed(published.data)  # in the order the demo made them
    }
    for ref, customer_id in customers.items():
        starting_after = None
        while True:
            page = await consent.offers_for_customer(
                customer_id, starting_after=starting_after, limit=100
            )
            for offer in page.data:
                if offer.id in offers and offer.eligible:
                    offers[offer.id]["eligible"].append(ref)
            if not page.has_more:
                break
            starting_after = page.data[-1].id
    return offers
