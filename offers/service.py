"""The consent service: offers, grants and receipts. Each method owns one transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from ledger import grant_compensation
from ledger.audit import AuditLog, entry_row, pseudonym
from policies import (
    Eligibility,
    RuleBundle,
    Subject,
    is_category,
    is_purpose,
    offer_eligibility,
    rule_descriptions,
)
from sql import UnitOfWork, UnitOfWorkFactory

from .audit_entries import grant_details, grant_entry, offer_entry
from .errors import (
    CustomerNotFound,
    GrantNotFound,
    InvalidCustomer,
    InvalidTerms,
    InvalidTransition,
    NotEligible,
    OfferFull,
    OfferNotFound,
    OfferNotOpen,
    OfferVersionChanged,
    PartnerNotFound,
)
from .models import (
    Controller,
    ControllerProfile,
    Customer,
    CustomerOffer,
    Exclusion,
    Grant,
    GrantReceipts,
    Offer,
    OfferTerms,
    Page,
    Partner,
    Reason,
)
from .obligations import Afterlife, NewNotification, ObligationsRepository, pick_language
from .receipt_chain import ReceiptChain
from .receipts import ReceiptSigner, receipt_claims, terms_hash
from .repository import CustomersRepository, OffersRepository
from .webhook_repository import WebhookRepository

OFFER_EVENTS = {"publish": "offer.published", "pause": "offer.paused", "close": "offer.closed"}

# What each offer action does: allowed from these statuses, to that one.
OFFER_TRANSITIONS = {
    "publish": ({"draft", "paused"}, "active"),
    "pause": ({"active"}, "paused"),
    "close": ({"draft", "active", "paused"}, "closed"),
}
# A revoke is not among them: it ends the grant through `revoke_grants`, as erasure does.
GRANT_TRANSITIONS = {
    "pause": (["active"], "paused"),
    "resume": (["paused"], "active"),
}
GRANT_EVENTS = {"revoked": "grant.revoked", "paused": "grant.paused", "active": "grant.resumed"}
# What the partner must do when a grant pauses or resumes (an ended grant's event says
# `delete` or `nothing`, by its deletion obligation).
GRANT_ACTIONS = {"paused": "stop", "active": "nothing"}

_REASON_TEXT = {
    "not_offered_in_jurisdiction": "This offer is not available in your country.",
    "already_granted": "You have already accepted this offer.",
    "offer_full": "This offer has reached its maximum number of participants.",
    "insufficient_escrow": (
        "The company behind this offer cannot pay its compensation at the moment."
    ),
}
# Why an acceptance is not paid: compensation is earned once per customer and offer.
ALREADY_COMPENSATED = "already_compensated"


def _reason(code: str, message: str | None = None) -> Reason:
    return Reason(code=code, message=message or _REASON_TEXT[code])


def validate_terms(terms: OfferTerms) -> None:
    """Domain checks the request schema cannot express; raises InvalidTerms naming the field."""
    for field, values, known in (
        ("categories", terms.categories, is_category),
        ("purposes", terms.purposes, is_purpose),
    ):
        if not values:
            raise InvalidTerms(f"at least one of {field} is required", field=field)
        if len(set(values)) != len(values):
            raise InvalidTerms(f"{field} contains duplicates", field=field)
        for v in values:
            if not known(v):
                raise InvalidTerms(f"unknown {field[:-1]} {v!r}", field=field)
    if len(set(terms.jurisdictions)) != len(terms.jurisdictions):
        raise InvalidTerms("jurisdictions contains duplicates", field="jurisdictions")


class ConsentService:
    """Offers, grants and receipts; each method runs in one unit of work."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        signer: ReceiptSigner,
        rules: RuleBundle,
        platform_fee_bps: int = 1000,
        afterlife: Afterlife | None = None,
        operator: Controller | None = None,
    ):
        self.uow = uow
        # Consent's afterlife: obligations and notifications when a grant ends (and the clock).
        self.afterlife = afterlife or Afterlife()
        self.signer = signer
        # The operator, named as a controller beside the partner on every receipt.
        self.operator = operator
        self.receipts = ReceiptChain(signer)
        self.rules = rules
        # The operator's cut of every compensation, in basis points (1000 = 10%).
        self.platform_fee_bps = platform_fee_bps

    # -- onboarding (operator) ------------------------------------------------------------

    async def create_partner(
        self, name: str, jurisdiction: str, profile: ControllerProfile | None = None
    ) -> Partner:
        """Onboards a partner; `profile` is what its consent receipts say about it as a
        controller (the API requires it; None only for internal callers)."""
        async with self.uow(transaction=False) as uow:
            return await uow.repository(OffersRepository).insert_partner(
                name, jurisdiction, profile
            )

    async def create_customer(
        self, external_ref: str, jurisdiction: str, birth_date: date | None
    ) -> tuple[Customer, bool]:
        """Returns the customer and whether it was created (an existing ref is not an error)."""
        if birth_date is not None and birth_date > datetime.now(UTC).date():
            # Age rules (minors) read this date: a future one would make anyone a minor.
            raise InvalidCustomer("birth_date lies in the future", field="birth_date")
        async with self.uow() as uow:
            repo = uow.repository(CustomersRepository)
            created = await repo.insert_customer(external_ref, jurisdiction, birth_date)
            if created:
                await uow.repository(AuditLog).create_customer_key(created.id)
                return created, True
            existing = await repo.get_customer_by_ref(external_ref)
            assert existing is not None  # the conflicting row exists: we just collided with it
            return existing, False

    # -- offers (partner) -----------------------------------------------------------------

    async def create_offer(self, partner_id: str, terms: OfferTerms, max_grants: int) -> Offer:
        validate_terms(terms)
        async with self.uow() as uow:
            repo = uow.repository(OffersRepository)
            if await repo.get_partner(partner_id) is None:
                raise PartnerNotFound("the partner in this token does not exist")
            offer_id = await repo.insert_offer(partner_id, max_grants)
            await repo.insert_offer_version(offer_id, 1, terms, terms_hash(partner_id, terms))
            offer = await _offer(repo, offer_id, partner_id)
            await uow.repository(AuditLog).append("offer.created", **offer_entry(offer))
            return offer

    async def get_offer(self, partner_id: str, offer_id: str) -> Offer:
        async with self.uow(transaction=False) as uow:
            return await _offer(uow.repository(OffersRepository), offer_id, partner_id)

    async def list_offers(
        self, partner_id: str, *, status: str | None, starting_after: str | None, limit: int
    ) -> Page[Offer]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(OffersRepository).list_partner_offers(
                partner_id, status, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def update_offer(self, partner_id: str, offer_id: str, changes: dict[str, Any]) -> Offer:
        """Applies a PATCH: changed terms become a new version; existing grants keep theirs."""
        async with self.uow() as uow:
            repo = uow.repository(OffersRepository)
            head = await repo.lock_offer(offer_id, partner_id)
            if head is None:
                raise OfferNotFound(f"no offer {offer_id}", field="offer_id")
            if head.status == "closed":
                raise InvalidTransition("a closed offer cannot be changed", field="status")
            current = await _offer(repo, offer_id, partner_id)
            max_grants = changes.pop("max_grants", current.max_grants)
            if max_grants < current.grant_count:
                raise InvalidTerms(
                    f"max_grants cannot go below the {current.grant_count} grants already made",
                    field="max_grants",
                )
            terms = msgspec.structs.replace(current.terms, **changes)
            validate_terms(terms)
            version = current.version
            if terms != current.terms:
                version += 1
                await repo.insert_offer_version(
                    offer_id, version, terms, terms_hash(partner_id, terms)
                )
            await repo.update_offer_head(offer_id, partner_id, version, max_grants)
            offer = await _offer(repo, offer_id, partner_id)
            await uow.repository(AuditLog).append("offer.changed", **offer_entry(offer))
            if version != current.version:
                await self._tell_offer_changed(uow, offer)
            return offer

    async def _tell_offer_changed(self, uow: UnitOfWork, offer: Offer) -> None:
        """Customers holding a live grant on the offer learn it changed; their grants keep
        the terms they accepted."""
        holders = await uow.repository(ObligationsRepository).live_grants_of_offer(offer.id)
        await self.afterlife.notify(
            uow,
            [
                NewNotification(
                    customer_id=customer_id,
                    jurisdiction=jurisdiction,
                    kind="offer.changed",
                    params={
                        "offer_id": offer.id,
                        "partner_name": partner_name,
                        "title": offer.terms.title,
                        "version": offer.version,
                    },
                    dedupe_key=f"offer_changed:{offer.id}:{offer.version}",
                )
                for customer_id, jurisdiction, partner_name in holders
            ],
        )

    async def change_offer_status(self, partner_id: str, offer_id: str, action: str) -> Offer:
        allowed, target = OFFER_TRANSITIONS[action]
        async with self.uow() as uow:
            repo = uow.repository(OffersRepository)
            head = await repo.lock_offer(offer_id, partner_id)
            if head is None:
                raise OfferNotFound(f"no offer {offer_id}", field="offer_id")
            if head.status not in allowed:
                raise InvalidTransition(
                    f"cannot {action} an offer that is {head.status}", field="status"
                )
            await repo.set_offer_status(offer_id, partner_id, target)
            offer = await _offer(repo, offer_id, partner_id)
            await uow.repository(AuditLog).append(OFFER_EVENTS[action], **offer_entry(offer))
            return offer

    # -- offers (customer) ----------------------------------------------------------------

    def _eligibility(
        self, customer: Customer, partner_id: str, terms: OfferTerms, at: datetime
    ) -> tuple[list[Reason], Eligibility]:
        """Why this customer may not accept these terms, and the law's verdict on them (the
        lawful grant and what it leaves out); the policy engine decides the law."""
        reasons: list[Reason] = []
        if customer.jurisdiction not in terms.jurisdictions:
            reasons.append(_reason("not_offered_in_jurisdiction"))
        verdict = offer_eligibility(
            _subject(customer), partner_id, terms.categories, terms.purposes, at, self.rules
        )
        if not verdict.eligible:
            reasons.extend(
                _reason(f"rule:{rule_id}", text)
                for rule_id, text in zip(verdict.rule_ids, verdict.descriptions, strict=True)
            )
        return reasons, verdict

    def _exclusions(self, verdict: Eligibility) -> tuple[Exclusion, ...]:
        """The verdict's forbidden pairs, each with its rules' customer-readable sentences."""
        text = dict(zip(verdict.rule_ids, verdict.descriptions, strict=True))
        return tuple(
            Exclusion(
                category=e.category,
                purpose=e.purpose,
                reasons=tuple(_reason(f"rule:{rule_id}", text[rule_id]) for rule_id in e.rule_ids),
            )
            for e in verdict.exclusions
        )

    def _in_language(self, reasons: tuple[Reason, ...], language: str) -> tuple[Reason, ...]:
        """The rule reasons' sentences in `language` (rules carry every language we speak)."""
        if language == "en":
            return reasons
        ids = [r.code.removeprefix("rule:") for r in reasons if r.code.startswith("rule:")]
        text = rule_descriptions(self.rules, ids, language)
        return tuple(
            Reason(code=r.code, message=text.get(r.code.removeprefix("rule:"), r.message))
            for r in reasons
        )

    async def offers_for_customer(
        self,
        customer_id: str,
        *,
        starting_after: str | None,
        limit: int,
        accept_language: str | None = None,
        offer_id: str | None = None,
    ) -> Page[CustomerOffer]:
        """Open offers with the customer's eligibility (with `offer_id`, that one only); the
        rules' sentences in the first of ES, DE, EN that `accept_language` names, else
        English: the language of the grant's exclusions and its signed receipt, which the
        listing must match when nothing is asked."""
        async with self.uow(transaction=False) as uow:
            customer = await _customer(uow.repository(CustomersRepository), customer_id)
            rows = await uow.repository(OffersRepository).list_customer_offers(
                customer_id, starting_after, limit + 1, offer_id
            )
        now = datetime.now(UTC)
        language = pick_language(accept_language, "")
        data = []
        for r in rows[:limit]:
            reasons, verdict = self._eligibility(customer, r.partner_id, r.terms, now)
            if r.already_granted:
                reasons.append(_reason("already_granted"))
            # A customer compensated before takes no slot and is owed nothing.
            if not r.already_compensated:
                if r.grant_count >= r.max_grants:
                    reasons.append(_reason("offer_full"))
                if r.escrow_balance < r.terms.compensation.amount:
                    reasons.append(_reason("insufficient_escrow"))
            data.append(
                CustomerOffer(
                    id=r.id,
                    partner_id=r.partner_id,
                    partner_name=r.partner_name,
                    version=r.version,
                    terms=r.terms,
                    terms_hash=r.terms_hash,
                    eligible=not reasons,
                    reasons=self._in_language(tuple(reasons), language),
                    exclusions=tuple(
                        msgspec.structs.replace(e, reasons=self._in_language(e.reasons, language))
                        for e in self._exclusions(verdict)
                    ),
                )
            )
        return Page(data=data, has_more=len(rows) > limit)

    # -- grants (customer) ----------------------------------------------------------------

    async def accept_offer(
        self,
        customer_id: str,
        offer_id: str,
        *,
        categories: tuple[str, ...] | None = None,
        purposes: tuple[str, ...] | None = None,
        offer_version: int | None = None,
    ) -> Grant:
        """Grants consent to an offer's current terms, possibly narrowed; signs the receipt.

        Two round trips and no transaction block: one read without a lock (customer, offer,
        partner, pseudonym key, whether compensated before), then one statement that is its
        own transaction, writing the slot, the grant, its audit entry and its compensation with
        the ledger's entry, under the customer's share lock and only if the customer is still
        as read (`claim_slot_and_grant`). When there is more to do (a stale grant to expire, a
        partner webhook event) or the customer changed in between, the acceptance runs again
        as one transaction that takes that lock before its read. A customer compensated for
        this offer before takes no slot and is not paid again. A second live grant fails on
        `grants_one_live`, a second compensation on `offer_compensations_once`
        (CONSTRAINT_ERRORS: AlreadyGranted).

        The (category, purpose) pairs a rule forbids for this customer never enter the grant
        (DESIGN §3.9): see `policies.Eligibility` for how the grant's categories, purposes and
        `exclusions` represent what is left.
        """
        chosen = (categories, purposes, offer_version)
        async with self.uow(transaction=False) as uow:
            grant = await self._accept(uow, customer_id, offer_id, *chosen, locked=False)
        if grant is not None:
            return grant
        async with self.uow() as uow:
            grant = await self._accept(uow, customer_id, offer_id, *chosen, locked=True)
            assert grant is not None  # under the lock the customer cannot change
            return grant

    async def _accept(
        self,
        uow: UnitOfWork,
        customer_id: str,
        offer_id: str,
        categories: tuple[str, ...] | None,
        purposes: tuple[str, ...] | None,
        offer_version: int | None,
        *,
        locked: bool,
    ) -> Grant | None:
        """One acceptance on `uow`; None (nothing written) when it must run `locked`: in a
        transaction that holds the customer from before its read."""
        repo = uow.repository(OffersRepository)
        if locked:
            await repo.share_lock_customer(customer_id)
        start = await repo.start_acceptance(customer_id, offer_id)
        customer, offer, partner, now = start.customer, start.offer, start.partner, start.now
        if customer is None:
            raise CustomerNotFound("the customer in this token does not exist")
        if offer is None or partner is None or not offer.partner_active:
            raise OfferNotFound(f"no offer {offer_id}", field="offer_id")
        if offer.status != "active":
            raise OfferNotOpen(f"offer {offer_id} is {offer.status}", field="offer_id")
        if offer_version is not None and offer_version != offer.version:
            raise OfferVersionChanged(
                f"the offer is now at version {offer.version}", field="offer_version"
            )
        terms = offer.terms
        categories = _narrow(categories, terms.categories, "categories")
        purposes = _narrow(purposes, terms.purposes, "purposes")
        narrowed = msgspec.structs.replace(terms, categories=categories, purposes=purposes)
        reasons, verdict = self._eligibility(customer, offer.partner_id, narrowed, now)
        if reasons:
            raise NotEligible(
                "; ".join(r.message for r in reasons), field="offer_id", reasons=reasons
            )
        if not locked and (start.has_stale or start.wants_event):
            return None
        categories, purposes = verdict.categories, verdict.purposes
        exclusions = self._exclusions(verdict)
        compensated = not start.compensated_before
        not_compensated_reason = None if compensated else ALREADY_COMPENSATED
        jurisdictions = [customer.jurisdiction]
        subject = None
        if start.audit_secret is not None:
            subject = pseudonym(start.audit_secret, customer_id)
        if start.has_stale:
            audit = uow.repository(AuditLog)
            for stale in await repo.expire_stale_grants(customer_id, offer_id):
                await audit.append("grant.expired", **grant_entry(stale, jurisdictions))
                await self.afterlife.grant_ended(
                    uow,
                    stale,
                    customer.jurisdiction,
                    event="grant.expired",
                    cause="expired",
                )
                await self.receipts.record(uow, stale)
        grant_id = start.grant_id
        expires_at = now + timedelta(days=terms.duration_days)
        receipt = self.signer.sign(
            receipt_claims(
                grant_id=grant_id,
                issuer=self.signer.issuer,
                customer=customer,
                partner=partner,
                offer_id=offer_id,
                offer_version=offer.version,
                terms=terms,
                terms_hash=offer.terms_hash,
                categories=categories,
                purposes=purposes,
                granted_at=now,
                expires_at=expires_at,
                exclusions=exclusions,
                compensated=compensated,
                not_compensated_reason=not_compensated_reason,
                operator=self.operator,
                service_url=self.signer.service_url,
            )
        )
        entry = entry_row(
            "grant.accepted",
            jurisdictions=jurisdictions,
            partner_id=offer.partner_id,
            subject=subject,
            **grant_details(
                grant_id=grant_id,
                offer_id=offer_id,
                offer_version=offer.version,
                categories=categories,
                purposes=purposes,
                expires_at=expires_at,
                terms_hash=offer.terms_hash,
            ),
        )
        # The compensation moves in the same statement: escrow → earnings (+ fee).
        c = terms.compensation
        money = None
        if compensated:
            money = grant_compensation(
                grant_id=grant_id,
                partner_id=offer.partner_id,
                customer_id=customer_id,
                kind=c.kind,
                amount=c.amount,
                currency=c.currency,
                fee_bps=self.platform_fee_bps,
                jurisdictions=jurisdictions,
                subject=subject,
            )
        claimed = await repo.claim_slot_and_grant(
            grant_id=grant_id,
            customer_id=customer_id,
            partner_id=offer.partner_id,
            offer_id=offer_id,
            offer_version=offer.version,
            categories=categories,
            purposes=purposes,
            granted_at=now,
            expires_at=expires_at,
            terms_hash=offer.terms_hash,
            receipt=receipt,
            audit_entry=entry,
            jurisdiction=customer.jurisdiction,
            birth_date=customer.birth_date,
            compensation=money,
            compensated=compensated,
            not_compensated_reason=not_compensated_reason,
            exclusions=exclusions,
        )
        if not claimed.customer_unchanged:
            if not locked:
                return None
            raise CustomerNotFound("the customer in this token does not exist")
        grant = claimed.grant
        if grant is None:
            raise OfferFull(f"offer {offer_id} has no places left", field="offer_id")
        if start.wants_event:  # no endpoint for grant.created: nothing to store
            await uow.repository(WebhookRepository).grant_event(
                "grant.created", grant, required_action="nothing"
            )
        return grant

    async def get_customer_grant(self, customer_id: str, grant_id: str) -> Grant:
        async with self.uow(transaction=False) as uow:
            grant = await uow.repository(OffersRepository).get_customer_grant(grant_id, customer_id)
        if grant is None:
            raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
        return grant

    async def list_customer_grants(
        self, customer_id: str, *, status: str | None, starting_after: str | None, limit: int
    ) -> Page[Grant]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(OffersRepository).list_customer_grants(
                customer_id, status, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    async def customer_partners(self, customer_id: str, limit: int = 100) -> dict[str, str]:
        """Partner id -> name, for every partner the customer has held a grant to."""
        async with self.uow(transaction=False) as uow:
            return await uow.repository(OffersRepository).customer_partners(customer_id, limit)

    async def change_grant(self, customer_id: str, grant_id: str, action: str) -> Grant:
        """Revoke, pause or resume; once this returns, no later request is allowed on it."""
        async with self.uow() as uow:
            repo = uow.repository(OffersRepository)
            changed: Grant | None
            if action == "revoke":
                target = "revoked"
                revoked = await repo.revoke_grants(customer_id, grant_id=grant_id)
                changed = revoked[0] if revoked else None
            else:
                from_statuses, target = GRANT_TRANSITIONS[action]
                changed = await repo.transition_grant(grant_id, customer_id, from_statuses, target)
            if changed is None:
                current = await repo.get_customer_grant(grant_id, customer_id)
                if current is None:
                    raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
                raise InvalidTransition(
                    f"cannot {action} a grant that is {current.status}", field="status"
                )
            customer = await _customer(uow.repository(CustomersRepository), customer_id)
            event = GRANT_EVENTS[target]
            await uow.repository(AuditLog).append(
                event,
                **grant_entry(changed, [customer.jurisdiction]),
                txid=await repo.current_txid(),  # what a decision's snapshot is checked against
            )
            if target == "revoked":
                await self.afterlife.grant_ended(
                    uow, changed, customer.jurisdiction, event=event, cause="revoked"
                )
            else:  # paused: stop using the data until resumed; resumed: nothing to do
                await uow.repository(WebhookRepository).grant_event(
                    event, changed, required_action=GRANT_ACTIONS[target]
                )
            await self.receipts.record(uow, changed)
            return changed

    async def customer_receipts(self, customer_id: str, grant_id: str) -> GrantReceipts:
        """The grant's receipts, oldest first: the acceptance's, then one per state change."""
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(OffersRepository)
            if await repo.get_customer_grant(grant_id, customer_id) is None:
                raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
            chain = await repo.receipt_chain(customer_id, grant_id)
            return GrantReceipts(grant_id=grant_id, data=chain)

    async def partner_receipts(self, partner_id: str, grant_id: str) -> GrantReceipts:
        """The same chain, for the partner the grant is to."""
        async with self.uow(transaction=False) as uow:
            repo = uow.repository(OffersRepository)
            grant = await repo.get_partner_grant(grant_id, partner_id)
            if grant is None:
                raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
            chain = await repo.receipt_chain(grant.customer_id, grant_id)
            return GrantReceipts(grant_id=grant_id, data=chain)

    # -- grants (partner) -----------------------------------------------------------------

    async def get_partner_grant(self, partner_id: str, grant_id: str) -> Grant:
        async with self.uow(transaction=False) as uow:
            grant = await uow.repository(OffersRepository).get_partner_grant(grant_id, partner_id)
        if grant is None:
            raise GrantNotFound(f"no grant {grant_id}", field="grant_id")
        return grant

    async def list_partner_grants(
        self,
        partner_id: str,
        *,
        offer_id: str | None,
        status: str | None,
        starting_after: str | None,
        limit: int,
    ) -> Page[Grant]:
        async with self.uow(transaction=False) as uow:
            rows = await uow.repository(OffersRepository).list_partner_grants(
                partner_id, offer_id, status, starting_after, limit + 1
            )
        return Page(data=rows[:limit], has_more=len(rows) > limit)

    # -- jobs -----------------------------------------------------------------------------

    async def expire_due_grants(self, batch: int = 500) -> int:
        """Marks grants past their end (by the service's clock) as expired, records the
        event, opens each deletion obligation and tells partner and customer; returns how
        many."""
        async with self.uow() as uow:
            expired = await uow.repository(OffersRepository).expire_due_grants(
                batch, self.afterlife.clock()
            )
            audit = uow.repository(AuditLog)
            for grant, jurisdiction in expired:
                await audit.append("grant.expired", **grant_entry(grant, [jurisdiction]))
                await self.afterlife.grant_ended(
                    uow, grant, jurisdiction, event="grant.expired", cause="expired"
                )
                await self.receipts.record(uow, grant)
        return len(expired)


def _subject(customer: Customer) -> Subject:
    return Subject(
        customer_id=customer.id,
        jurisdiction=customer.jurisdiction,
        birth_date=customer.birth_date,
    )


async def _customer(repo: CustomersRepository, customer_id: str) -> Customer:
    customer = await repo.get_customer(customer_id)
    if customer is None:
        raise CustomerNotFound("the customer in this token does not exist")
    return customer


async def _offer(repo: OffersRepository, offer_id: str, partner_id: str) -> Offer:
    offer = await repo.get_offer(offer_id, partner_id)
    if offer is None:
        raise OfferNotFound(f"no offer {offer_id}", field="offer_id")
    return offer


def _narrow(
    chosen: tuple[str, ...] | None, offered: tuple[str, ...], field: str
) -> tuple[str, ...]:
    """The customer may keep a subset of what is offered, never add to it."""
    if chosen is None:
        return offered
    if not chosen:
        raise InvalidTerms(f"choose at least one of the offered {field}", field=field)
    extra = [c for c in chosen if c not in offered]
    if extra:
        raise InvalidTerms(f"{field} not in the offer: {', '.join(extra)}", field=field)
    return tuple(c for c in offered if c in chosen)
