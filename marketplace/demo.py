"""Demo data for `make run`: partners, customers in several countries, published offers."""

from __future__ import annotations

from datetime import date

from ledger import LedgerService
from offers import Compensation, ConsentService, OfferTerms

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


async def load_demo(consent: ConsentService, money: LedgerService | None = None) -> dict:
    """Creates the demo once; later runs find it and return the same ids."""
    customers = {}
    first_run = False
    for ref, jurisdiction, born in DEMO_CUSTOMERS:
        customer, created = await consent.create_customer(ref, jurisdiction, born)
        customers[ref] = customer.id
        first_run = first_run or created
    if first_run:
        partner = await consent.create_partner("Acme Mobility Insights", "DE")
        if money is not None:
            # No Stripe in the demo: the operator credits the escrow directly (an adjustment).
            await money.adjust_escrow(partner.id, 500_000, "EUR", operator="demo",
                                      idempotency_key=f"adjustment:{partner.id}:demo-funding")  # fmt: skip
        for terms in DEMO_OFFERS:
            offer = await consent.create_offer(partner.id, terms, max_grants=1000)
            await consent.change_offer_status(partner.id, offer.id, "publish")
        await consent.accept_offer(customers["demo-lucas-fr"], offer.id)
        await consent.accept_offer(customers["demo-jan-nl"], offer.id)
        partner_id = partner.id
    else:
        page = await consent.list_customer_grants(
            customers["demo-lucas-fr"], status=None, starting_after=None, limit=1
        )
        partner_id = page.data[0].partner_id
    return {"partner": partner_id, "customers": customers}
