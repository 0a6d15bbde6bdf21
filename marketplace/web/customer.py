"""The customer's Personal Data Space: every screen calls the same service method as the
JSON endpoint that serves the same data (see marketplace/http/routes/customer.py)."""

from __future__ import annotations

from datetime import date

import jwt
import msgspec
from litestar import Request, Response, get, post
from litestar.response import Stream

from ledger import LedgerService
from ledger.audit import AuditService
from offers import ConsentService, GrantReceipt, GrantReceipts, receipt_hash
from offers.dataspace import MEDIA_TYPE, DataSpaceService
from offers.insights import InsightService
from offers.obligations import ObligationService

from .common import choose_language, pager, redirect, render, signed_in, t
from .reasons import sentences

PAGE = 20
GRANT_STATUSES = ("active", "paused", "revoked", "expired")
ACTIONS = ("pause", "resume", "revoke")
OUTCOMES = ("allowed", "denied")
JOSE = "application/jose"  # a compact JWS, as the API serves it


def _me(request: Request) -> str:
    sub = signed_in(request, "customer").sub
    return sub


async def _open(request: Request) -> str:
    """The signed-in customer, whose account must still be open (as the API's guard)."""
    sub = _me(request)
    await request.app.state.dataspace.ensure_open(sub)
    return sub


def _after(request: Request) -> str | None:
    """The `after` cursor of a paged list: the last id of the page before (as the API's
    `starting_after`)."""
    return (request.query_params.get("after") or "")[:64] or None


@get("/app")
async def home(request: Request) -> Response:
    await _open(request)
    return render(request, "home.html")


@get("/app/data")
async def my_data(request: Request, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    return render(request, "data.html", overview=await dataspace.overview(sub))


@get("/app/data/{category:str}")
async def my_records(request: Request, category: str, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    page = await dataspace.records(sub, category[:64], starting_after=_after(request), limit=PAGE)
    records = [(r, msgspec.json.decode(r.payload)) for r in page.data]
    return render(
        request,
        "records.html",
        category=category,
        page=page,
        records=records,
        **pager(request, page),
    )


def _sentences(request: Request, reasons) -> list[str]:
    """Each reason as its rule's sentence, in the page's language where a translation exists."""
    return [t(r.message) for r in reasons]


@get("/app/offers")
async def offers_page(request: Request, consent: ConsentService) -> Response:
    sub = await _open(request)
    page = await consent.offers_for_customer(sub, starting_after=_after(request), limit=PAGE)
    return render(
        request, "offers.html", offers=page.data, sentences=_sentences, **pager(request, page)
    )


async def _offer(request: Request, consent: ConsentService, sub: str, offer_id: str):
    page = await consent.offers_for_customer(
        sub, starting_after=None, limit=1, offer_id=offer_id[:64]
    )
    return page.data[0] if page.data else None


@get("/app/offers/{offer_id:str}")
async def offer_page(request: Request, offer_id: str, consent: ConsentService) -> Response:
    sub = await _open(request)
    offer = await _offer(request, consent, sub, offer_id)
    if offer is None:
        return render(request, "error.html", status_code=404, message=t("No such offer."))
    return render(request, "offer.html", offer=offer, sentences=_sentences)


def _narrowing(form, offer) -> tuple[list[str], list[str]]:
    cats = [c for c in form.getall("category", []) if c in offer.terms.categories]
    purposes = [p for p in form.getall("purpose", []) if p in offer.terms.purposes]
    return cats, purposes


@post("/app/offers/{offer_id:str}/review")
async def review(request: Request, offer_id: str, consent: ConsentService) -> Response:
    sub = await _open(request)
    offer = await _offer(request, consent, sub, offer_id)
    if offer is None:
        return render(request, "error.html", status_code=404, message=t("No such offer."))
    cats, purposes = _narrowing(await request.form(), offer)
    if not cats or not purposes:
        return render(
            request,
            "offer.html",
            status_code=400,
            offer=offer,
            sentences=_sentences,
            error=t("Choose at least one category and one purpose."),
        )
    return render(request, "review.html", offer=offer, categories=cats, purposes=purposes)


@post("/app/offers/{offer_id:str}/accept")
async def accept(request: Request, offer_id: str, consent: ConsentService) -> Response:
    sub = await _open(request)
    form = await request.form()
    version = form.get("offer_version")
    grant = await consent.accept_offer(
        sub,
        offer_id,
        categories=tuple(form.getall("category", [])),
        purposes=tuple(form.getall("purpose", [])),
        offer_version=int(version) if version and str(version).isdigit() else None,
    )
    return redirect(f"/app/consents/{grant.id}?new=1")


@get("/app/consents")
async def consents(
    request: Request, consent: ConsentService, dataspace: DataSpaceService
) -> Response:
    sub = await _open(request)
    page = await consent.list_customer_grants(
        sub, status=None, starting_after=_after(request), limit=PAGE
    )
    groups = {
        "active": [g for g in page.data if g.status == "active"],
        "paused": [g for g in page.data if g.status == "paused"],
        "ended": [g for g in page.data if g.status in ("revoked", "expired")],
    }
    return render(
        request,
        "consents.html",
        groups=groups,
        deletion_status=deletion_status,
        imported=await dataspace.imported_consents(sub, starting_after=None, limit=PAGE),
        **pager(request, page),
    )


@get("/app/imported-consents")
async def imported_consents(request: Request, dataspace: DataSpaceService) -> Response:
    """The consents brought from a former operator, a page at a time (the first page is on
    "My consents")."""
    sub = await _open(request)
    page = await dataspace.imported_consents(sub, starting_after=_after(request), limit=PAGE)
    return render(request, "imported_consents.html", imported=page, **pager(request, page))


def deletion_status(grant) -> str | None:
    """Whether the partner confirmed deleting what it received under an ended or narrowed
    grant (None while nothing is owed, or for a grant of a list, which carries no obligations:
    its page says)."""
    owed = getattr(grant, "deletion", ())
    if not owed:
        return None
    if all(d.state == "not_required" for d in owed):
        return "nothing was shared, nothing to delete"
    if all(d.confirmed or d.state == "not_required" for d in owed):
        return "the partner confirmed the deletion"
    return "waiting for the partner to confirm the deletion"


def verify_receipt(request: Request, receipt: str) -> dict:
    """The receipt's signature checked against the service's published key, in plain words."""
    keys = request.app.state.keyring
    try:
        kid = jwt.get_unverified_header(receipt).get("kid")
        key = keys.signing_key(kid)
        claims = jwt.decode(receipt, key.key, algorithms=["EdDSA"], options={"verify_aud": False})
    except (jwt.PyJWTError, AttributeError, TypeError) as e:
        return {"ok": False, "why": str(e)}
    return {"ok": True, "kid": kid, "issuer": claims.get("iss"), "claims": claims}


def verify_chain(request: Request, chain: GrantReceipts) -> list[tuple[GrantReceipt, bool]]:
    """Each receipt of the chain with whether it holds: its signature verifies (as the
    acceptance's does), it names this grant and its place, and the hash of the one before."""
    out: list[tuple[GrantReceipt, bool]] = []
    previous: str | None = None
    for r in chain.data:
        check = verify_receipt(request, r.receipt)
        claims = check.get("claims", {})
        linked = (
            claims.get("consentReceiptID") == chain.grant_id
            and claims.get("receiptIndex", 0) == r.index
            and claims.get("previousReceiptHash") == (receipt_hash(previous) if previous else None)
        )
        out.append((r, bool(check["ok"] and linked)))
        previous = r.receipt
    return out


@get("/app/consents/{grant_id:str}")
async def consent_page(
    request: Request, grant_id: str, obligations: ObligationService, consent: ConsentService
) -> Response:
    sub = await _open(request)
    grant = await obligations.customer_grant(sub, grant_id)  # with what the partner owes
    chain = await consent.customer_receipts(sub, grant_id)
    return render(
        request,
        "consent.html",
        grant=grant,
        receipt=verify_receipt(request, grant.receipt),
        history=verify_chain(request, chain),
        new=request.query_params.get("new") == "1",
        deletion=deletion_status(grant),
    )


@get("/app/deletion-confirmations/{obligation_id:str}")
async def deletion_confirmation(
    request: Request, obligation_id: str, obligations: ObligationService
) -> Response:
    """The partner's signed deletion confirmation: the same JWS the API serves."""
    sub = await _open(request)
    obligation_id = obligation_id[:64]
    receipt = await obligations.confirmation_receipt(sub, obligation_id)
    return Response(
        receipt,
        media_type=JOSE,
        headers={  # the id is one the service found: a plain `dlo_…`
            "Content-Disposition": f'attachment; filename="{obligation_id}.jws"',
            "Cache-Control": "no-store",
        },
    )


@get("/app/consents/{grant_id:str}/{action:str}")
async def confirm_change(
    request: Request, grant_id: str, action: str, consent: ConsentService
) -> Response:
    sub = await _open(request)
    if action not in ACTIONS:
        return render(request, "error.html", status_code=404, message=t("No such action."))
    grant = await consent.get_customer_grant(sub, grant_id)
    return render(request, "confirm_change.html", grant=grant, action=action)


@post("/app/consents/{grant_id:str}/{action:str}")
async def change(request: Request, grant_id: str, action: str, consent: ConsentService) -> Response:
    sub = await _open(request)
    if action not in ACTIONS:
        return render(request, "error.html", status_code=404, message=t("No such action."))
    await consent.change_grant(sub, grant_id, action)
    return redirect(f"/app/consents/{grant_id}")


@get("/app/access-log")
async def access_log(request: Request, audit: AuditService, consent: ConsentService) -> Response:
    """The log a page at a time, filtered by partner and outcome in the service, so every
    entry is reachable, however old."""
    sub = await _open(request)
    q = request.query_params
    partner = (q.get("partner") or "")[:64]
    outcome = q.get("outcome") or ""
    outcome = outcome if outcome in OUTCOMES else ""
    after = q.get("after") or ""
    page = await audit.access_log(
        sub,
        # The log's cursor is an entry id; anything else (or past bigint) is the first page.
        starting_after=int(after)
        if after.isascii() and after.isdigit() and len(after) <= 18
        else None,
        limit=PAGE,
        partner_id=partner or None,
        outcome=outcome or None,
    )
    # The filter offers every partner the customer granted to, and any other on this page.
    names = await consent.customer_partners(sub)
    partners = {*names, *(i.partner_id for i in page.data if i.partner_id)}
    if partner:
        partners.add(partner)
    return render(
        request,
        "access_log.html",
        items=page.data,
        names=names,
        partners=sorted(partners, key=lambda p: (names.get(p, p), p)),
        partner=partner,
        outcome=outcome,
        reasons=lambda codes: sentences(request.app.state.rules, codes),
        **pager(request, page, partner=partner, outcome=outcome),
    )


@get("/app/notifications")
async def notifications(request: Request, obligations: ObligationService) -> Response:
    """What the customer should be told, newest first, in the page's language."""
    sub = await _open(request)
    page = await obligations.notifications(
        sub,
        accept_language=choose_language(request),
        starting_after=_after(request),
        limit=PAGE,
    )
    return render(
        request,
        "notifications.html",
        page=page,
        unread=await obligations.unread_notifications(sub),
        **pager(request, page),
    )


@post("/app/notifications/read")
async def mark_notifications_read(request: Request, obligations: ObligationService) -> Response:
    """ "Mark all as read": up to the newest notification the customer was shown (one that came
    after the page was opened stays new)."""
    sub = await _open(request)
    up_to = str((await request.form()).get("up_to") or "")[:64]
    if up_to:
        await obligations.mark_notifications_read(sub, up_to)
    return redirect("/app/notifications")


@get("/app/insights")
async def insights_page(request: Request, insights: InsightService) -> Response:
    """The aggregate releases that counted the customer, and their privacy budget."""
    sub = await _open(request)
    view = await insights.for_customer(sub)
    return render(
        request,
        "insights.html",
        insights=view,
        period_start=date.fromisoformat(view.budget_period_start),
        renews=date.fromisoformat(view.budget_period_end),
    )


@get("/app/earnings")
async def earnings(request: Request, money: LedgerService, consent: ConsentService) -> Response:
    sub = await _open(request)
    grants = await consent.list_customer_grants(
        sub, status=None, starting_after=_after(request), limit=PAGE
    )
    return render(
        request,
        "earnings.html",
        earnings=await money.customer_earnings(sub),
        grants=grants.data,
        **pager(request, grants),
    )


@get("/app/exports")
async def exports(request: Request, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    export_id = request.query_params.get("id")
    export = await dataspace.get_export(sub, export_id) if export_id else None
    return render(request, "exports.html", export=export)


@post("/app/exports")
async def start_export(request: Request, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    export = await dataspace.create_export(sub)
    return redirect(f"/app/exports?id={export.id}")


@get("/app/exports/{export_id:str}/download")
async def download(request: Request, export_id: str, dataspace: DataSpaceService) -> Stream:
    sub = await _open(request)
    body = await dataspace.open_download(sub, export_id)
    return Stream(
        body,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{export_id}.jsonl"'},
    )


@get("/app/delete")
async def delete_page(request: Request, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    return render(request, "delete.html", overview=await dataspace.overview(sub))


@get("/app/delete/{category:str}")
async def confirm_erase(request: Request, category: str, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    overview = await dataspace.overview(sub)
    held = next((c for c in overview.categories if c.category == category), None)
    if held is None:
        return render(request, "error.html", status_code=404, message=t("No such category."))
    return render(request, "confirm_erase.html", held=held)


@post("/app/delete/{category:str}")
async def erase(request: Request, category: str, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    erasure = await dataspace.erase(sub, category[:64])
    return render(request, "erased.html", erasure=erasure)


@get("/app/close")
async def confirm_close(request: Request) -> Response:
    await _open(request)
    return render(request, "confirm_close.html")


@post("/app/close")
async def close(request: Request, dataspace: DataSpaceService) -> Response:
    sub = await _open(request)
    erasure = await dataspace.close_account(sub)
    request.clear_session()
    return render(request, "closed.html", erasure=erasure)


ROUTES = [
    home,
    my_data,
    my_records,
    offers_page,
    offer_page,
    review,
    accept,
    consents,
    imported_consents,
    consent_page,
    deletion_confirmation,
    confirm_change,
    change,
    access_log,
    notifications,
    mark_notifications_read,
    insights_page,
    earnings,
    exports,
    start_export,
    download,
    delete_page,
    confirm_erase,
    erase,
    confirm_close,
    close,
]
