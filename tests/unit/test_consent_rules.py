"""The consent service's rules, on a fake unit of work (no database): offer status
transitions, what a change may not do, how a customer may narrow an offer, and that a
refused call rolls its unit of work back."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.bootstrap import bootstrap
from marketplace.config import Settings
from marketplace.keys import KeyRing
from offers import (
    Compensation,
    ConsentService,
    InvalidTerms,
    InvalidTransition,
    NotEligible,
    OfferFull,
    OfferNotFound,
    OfferNotOpen,
    OfferTerms,
    PartnerNotFound,
)
from policies import load_bundle
from tests.fakes.offers import NOW, ConsentFakes, consent_fakes

TERMS = OfferTerms(
    title="Footfall",
    description="Counts of visits",
    categories=("location", "data_usage", "device"),
    purposes=("research", "aggregated_analytics"),
    duration_days=30,
    lookback_days=7,
    compensation=Compensation(kind="cash", amount=250, currency="EUR"),
    jurisdictions=("FR",),
)
RULES = load_bundle()


@pytest.fixture
def fakes() -> ConsentFakes:
    return consent_fakes()


@pytest.fixture
def service(fakes: ConsentFakes) -> ConsentService:
    key = Ed25519PrivateKey.generate()
    keys = KeyRing(private_key=key, kid="kid-1", published=(), trusted={})
    return bootstrap(Settings(), uow=fakes.uow, keys=keys, rules=RULES).consent


async def _offer(fakes: ConsentFakes, service: ConsentService, status: str = "draft", **kw):
    partner = fakes.offers.add_partner()
    offer = await service.create_offer(partner.id, TERMS, kw.pop("max_grants", 10))
    if status != "draft":
        fakes.offers.head(offer.id)["status"] = status
    return partner, offer


# -- offer status ---------------------------------------------------------------------------

ALLOWED = [
    ("draft", "publish", "active"),
    ("paused", "publish", "active"),
    ("active", "pause", "paused"),
    ("draft", "close", "closed"),
    ("active", "close", "closed"),
    ("paused", "close", "closed"),
]
REFUSED = [
    ("active", "publish"),
    ("closed", "publish"),
    ("draft", "pause"),
    ("paused", "pause"),
    ("closed", "pause"),
    ("closed", "close"),
]


@pytest.mark.parametrize(("start", "action", "end"), ALLOWED)
async def test_allowed_offer_transitions_change_the_status_and_are_audited(
    fakes, service, start, action, end
):
    partner, offer = await _offer(fakes, service, start)
    changed = await service.change_offer_status(partner.id, offer.id, action)
    assert changed.status == end
    assert fakes.offers.head(offer.id)["status"] == end
    assert fakes.uow.last.committed and not fakes.uow.last.rolled_back
    kind, entry = fakes.audit.entries[-1]
    events = {"publish": "offer.published", "pause": "offer.paused", "close": "offer.closed"}
    assert kind == events[action]
    assert entry["status"] == end and entry["offer_id"] == offer.id


@pytest.mark.parametrize(("start", "action"), REFUSED)
async def test_refused_offer_transitions_change_nothing_and_roll_back(
    fakes, service, start, action
):
    partner, offer = await _offer(fakes, service, start)
    entries = len(fakes.audit.entries)
    with pytest.raises(InvalidTransition) as refused:
        await service.change_offer_status(partner.id, offer.id, action)
    assert refused.value.field == "status"
    assert f"cannot {action} an offer that is {start}" == refused.value.detail
    assert fakes.offers.head(offer.id)["status"] == start
    assert fakes.uow.last.rolled_back and not fakes.uow.last.committed
    assert len(fakes.audit.entries) == entries


async def test_another_partners_offer_is_not_found(fakes, service):
    _, offer = await _offer(fakes, service)
    other = fakes.offers.add_partner()
    with pytest.raises(OfferNotFound) as missing:
        await service.change_offer_status(other.id, offer.id, "publish")
    assert missing.value.field == "offer_id"
    assert fakes.offers.head(offer.id)["status"] == "draft"


async def test_an_offer_of_an_unknown_partner_is_refused_and_nothing_is_kept(fakes, service):
    with pytest.raises(PartnerNotFound):
        await service.create_offer("ptn_ghost", TERMS, 10)
    assert fakes.offers.heads == {} and fakes.audit.entries == []
    assert fakes.uow.last.rolled_back


# -- changing an offer ----------------------------------------------------------------------


async def test_a_closed_offer_cannot_be_changed(fakes, service):
    partner, offer = await _offer(fakes, service, "closed")
    with pytest.raises(InvalidTransition) as refused:
        await service.update_offer(partner.id, offer.id, {"title": "New title"})
    assert refused.value.field == "status"
    assert refused.value.detail == "a closed offer cannot be changed"
    assert fakes.offers.head(offer.id)["version"] == 1
    assert (offer.id, 2) not in fakes.offers.versions
    assert fakes.uow.last.rolled_back


async def test_max_grants_cannot_go_below_the_grants_already_made(fakes, service):
    partner, offer = await _offer(fakes, service, "active", max_grants=10)
    fakes.offers.head(offer.id)["grant_count"] = 4
    with pytest.raises(InvalidTerms) as refused:
        await service.update_offer(partner.id, offer.id, {"max_grants": 3})
    assert refused.value.field == "max_grants"
    assert "4 grants already made" in refused.value.detail
    assert fakes.offers.head(offer.id)["max_grants"] == 10
    assert fakes.uow.last.rolled_back
    # Down to exactly the grants made is allowed, and is not a new version of the terms.
    changed = await service.update_offer(partner.id, offer.id, {"max_grants": 4})
    assert changed.max_grants == 4 and changed.version == 1
    assert fakes.uow.last.committed


async def test_changed_terms_make_a_new_version_and_keep_the_old_one(fakes, service):
    partner, offer = await _offer(fakes, service, "active")
    changed = await service.update_offer(partner.id, offer.id, {"title": "Footfall v2"})
    assert changed.version == 2 and changed.terms.title == "Footfall v2"
    assert changed.terms_hash != offer.terms_hash
    assert fakes.offers.versions[(offer.id, 1)][0] == TERMS  # the accepted terms never drift
    assert fakes.audit.kinds()[-1] == "offer.changed"


async def test_a_change_that_breaks_the_terms_is_refused_and_rolled_back(fakes, service):
    partner, offer = await _offer(fakes, service, "active")
    with pytest.raises(InvalidTerms) as refused:
        await service.update_offer(partner.id, offer.id, {"purposes": ("research", "research")})
    assert refused.value.field == "purposes"
    assert fakes.offers.head(offer.id)["version"] == 1
    assert (offer.id, 2) not in fakes.offers.versions
    assert fakes.uow.last.rolled_back


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"categories": ()}, "categories"),
        ({"categories": ("location", "telepathy")}, "categories"),
        ({"purposes": ("mind_reading",)}, "purposes"),
        ({"jurisdictions": ("FR", "FR")}, "jurisdictions"),
    ],
)
async def test_invalid_terms_are_refused_before_any_unit_of_work(fakes, service, changes, field):
    partner = fakes.offers.add_partner()
    with pytest.raises(InvalidTerms) as refused:
        await service.create_offer(partner.id, msgspec.structs.replace(TERMS, **changes), 10)
    assert refused.value.field == field
    assert fakes.uow.units == [] and fakes.offers.heads == {}


# -- accepting, narrowed --------------------------------------------------------------------


async def test_a_customer_may_narrow_to_a_subset_kept_in_the_offers_order(fakes, service):
    _, offer = await _offer(fakes, service, "active")
    customer = fakes.customers.add("FR")
    grant = await service.accept_offer(
        customer.id, offer.id, categories=("device", "location"), purposes=("research",)
    )
    assert grant.categories == ("location", "device")
    assert grant.purposes == ("research",)
    assert grant.expires_at == NOW + timedelta(days=TERMS.duration_days)
    assert fakes.offers.head(offer.id)["grant_count"] == 1
    assert [c.reference for c in fakes.books.compensations] == [grant.id]
    assert fakes.uow.last.committed


@pytest.mark.parametrize(
    ("narrowing", "field", "detail"),
    [
        (
            {"categories": ("location", "billing")},
            "categories",
            "categories not in the offer: billing",
        ),
        ({"purposes": ("advertising",)}, "purposes", "purposes not in the offer: advertising"),
        ({"categories": ()}, "categories", "choose at least one of the offered categories"),
        ({"purposes": ()}, "purposes", "choose at least one of the offered purposes"),
    ],
)
async def test_a_customer_cannot_widen_or_empty_an_offer(fakes, service, narrowing, field, detail):
    _, offer = await _offer(fakes, service, "active")
    customer = fakes.customers.add("FR")
    with pytest.raises(InvalidTerms) as refused:
        await service.accept_offer(customer.id, offer.id, **narrowing)
    assert refused.value.field == field and refused.value.detail == detail
    assert fakes.offers.grants == {} and fakes.books.compensations == []
    assert fakes.offers.head(offer.id)["grant_count"] == 0
    assert fakes.uow.last.rolled_back


@pytest.mark.parametrize("status", ["draft", "paused", "closed"])
async def test_only_an_active_offer_can_be_accepted(fakes, service, status):
    _, offer = await _offer(fakes, service, status)
    customer = fakes.customers.add("FR")
    with pytest.raises(OfferNotOpen):
        await service.accept_offer(customer.id, offer.id)
    assert fakes.offers.grants == {} and fakes.uow.last.rolled_back


async def test_a_full_offer_refuses_and_its_acceptance_rolls_back(fakes, service):
    _, offer = await _offer(fakes, service, "active", max_grants=1)
    first, second = fakes.customers.add("FR"), fakes.customers.add("FR")
    await service.accept_offer(first.id, offer.id)
    with pytest.raises(OfferFull) as refused:
        await service.accept_offer(second.id, offer.id)
    assert refused.value.field == "offer_id"
    assert [g.customer_id for g in fakes.offers.grants.values()] == [first.id]
    assert len(fakes.books.compensations) == 1  # no money moved for the refused one
    assert fakes.uow.last.rolled_back and not fakes.uow.last.committed


async def test_a_failure_after_the_grant_was_written_rolls_all_of_it_back(fakes, service):
    _, offer = await _offer(fakes, service, "active")
    customer = fakes.customers.add("FR")

    class EscrowShort(Exception):
        pass

    async def refuse(txn):
        raise EscrowShort("the offer's funds cannot cover it")

    fakes.books.post_prepared = refuse
    with pytest.raises(EscrowShort):
        await service.accept_offer(customer.id, offer.id)
    # The slot and the grant were written before the ledger refused: both are undone.
    assert fakes.offers.grants == {}
    assert fakes.offers.head(offer.id)["grant_count"] == 0
    assert fakes.uow.last.rolled_back and not fakes.uow.last.committed


async def test_a_customer_who_changed_between_read_and_write_is_decided_again_under_the_lock(
    fakes, service
):
    """An acceptance first reads without a lock and writes one statement that holds only if
    the customer is still as read; when not, it writes nothing and runs again as one
    transaction whose read holds the customer, deciding on what it now reads."""
    _, offer = await _offer(fakes, service, "active")
    customer = fakes.customers.add("FR")
    read = fakes.offers.start_acceptance

    async def read_then_the_customer_moves(customer_id: str, offer_id: str):
        start = await read(customer_id, offer_id)
        if len(fakes.uow.units) == 2:  # the acceptance's first unit (the offer made one)
            fakes.customers.customers[customer_id] = msgspec.structs.replace(
                customer, jurisdiction="DE"
            )
        return start

    fakes.offers.start_acceptance = read_then_the_customer_moves
    with pytest.raises(NotEligible) as refused:
        await service.accept_offer(customer.id, offer.id)
    assert [r.code for r in refused.value.reasons] == ["not_offered_in_jurisdiction"]
    assert fakes.offers.grants == {} and fakes.books.compensations == []
    first, second = fakes.uow.units[-2:]
    assert not first.transaction and second.transaction and second.rolled_back
