"""The regulator's view: the log's state, per-day charts of their jurisdictions (SVG drawn on
the server with pygal), the sealed entries with filters and inclusion proofs, and the command
that verifies it all on the regulator's own machine. Same service calls as /v1/audit/*."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta

import pygal
from litestar import Request, Response, get
from pygal.style import Style

from ledger.audit import AuditError, AuditService, DayActivity

from .common import pager, render, signed_in, t

SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
CHART_DAYS = 14
GRANTED = "granted"
ENTRIES_PAGE = 50
KINDS = (
    "",
    "access.decision",
    "grant.accepted",
    "grant.paused",
    "grant.resumed",
    "grant.revoked",
    "grant.expired",
    "offer.created",
    "offer.published",
    "ledger.transaction",
    "data.erased",
    "data.exported",
    "account.closed",
)
# High-contrast colours, legible on white (WCAG AA for the text pygal draws).
STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1a1a1a",
    foreground_strong="#000000",
    foreground_subtle="#444444",
    colors=("#0b5394", "#b00020", "#38761d", "#7f6000", "#5b2c83", "#8a4b08"),
    font_family="system-ui, sans-serif",
)


def _chart(title: str, days: list[str], series: dict[str, list[int]]) -> str:
    chart = pygal.Bar(
        style=STYLE,
        height=280,
        width=720,
        disable_xml_declaration=True,
        show_legend=True,
        legend_at_bottom=True,
        x_label_rotation=30,
        js=[],  # no script from anywhere: the SVG is static
    )
    chart.title = title
    chart.x_labels = [d[5:] for d in days]
    for name, values in series.items():
        chart.add(name, values)
    # pygal always writes an inline <script> with its tooltip config: the chart needs none.
    return SCRIPT.sub("", chart.render(is_unicode=True))


def _window(now: datetime) -> tuple[datetime, datetime, list[str]]:
    end = datetime.combine(now.date(), time(), UTC) + timedelta(days=1)
    start = end - timedelta(days=CHART_DAYS)
    return start, end, [(start + timedelta(days=i)).date().isoformat() for i in range(CHART_DAYS)]


@get("/app/regulator")
async def overview(request: Request, audit: AuditService) -> Response:
    me = signed_in(request, "regulator")
    jurisdictions = list(me.jurisdictions)
    try:
        checkpoint = await audit.latest_checkpoint()
    except AuditError:
        checkpoint = None  # nothing sealed yet
    start, end, days = _window(datetime.now(UTC))
    metrics = {m.date: m for m in await audit.metrics(jurisdictions, start, end)}
    grants_given = [metrics[d].grants.new if d in metrics else 0 for d in days]
    grants_withdrawn = [metrics[d].grants.revoked if d in metrics else 0 for d in days]
    allowed = [metrics[d].decisions.allowed if d in metrics else 0 for d in days]
    by_rule: dict[str, list[int]] = {}
    for i, d in enumerate(days):
        for reason, n in (metrics[d].decisions.by_reason if d in metrics else {}).items():
            if reason != GRANTED:  # an allowed decision's reason: counted as allowed
                by_rule.setdefault(reason, [0] * len(days))[i] += n
    activity = [metrics[d].activity if d in metrics else DayActivity() for d in days]
    charts = [
        _chart(
            t("Consents given and withdrawn"),
            days,
            {t("given"): grants_given, t("withdrawn"): grants_withdrawn},
        ),
        _chart(
            t("Decisions: allowed, and denied by rule"),
            days,
            {t("allowed"): allowed, **{t("denied") + f": {r}": v for r, v in by_rule.items()}},
        ),
        _chart(
            t("Erasures and exports"),
            days,
            {
                t("erasures"): [a.erasures for a in activity],
                t("exports"): [a.exports for a in activity],
                t("accounts closed"): [a.accounts_closed for a in activity],
            },
        ),
        _chart(t("Payouts"), days, {t("payouts"): [a.payouts for a in activity]}),
    ]
    tree_size = checkpoint.tree_size if checkpoint else 0
    unsealed = await audit.unsealed_count()
    return render(
        request,
        "regulator.html",
        checkpoint=checkpoint,
        tree_size=tree_size,
        unsealed=unsealed,
        charts=charts,
        jurisdictions=jurisdictions,
        public_url=request.app.state.settings.public_url,
    )


@get("/app/regulator/entries")
async def entries(request: Request, audit: AuditService) -> Response:
    me = signed_in(request, "regulator")
    q = request.query_params
    kind, partner, outcome, rule = (q.get(n) or "" for n in ("kind", "partner", "outcome", "rule"))
    rule = rule.removeprefix("rule:")
    filters = {"kind": kind, "partner_id": partner, "outcome": outcome, "rule": rule}
    filters = {k: v[:100] for k, v in filters.items() if v}
    after = q.get("after") or ""
    if after.isascii() and after.isdigit() and len(after) <= 18:  # a leaf index
        filters["starting_after"] = int(after)
    page = await audit.entries(list(me.jurisdictions), filters, limit=ENTRIES_PAGE)
    rows = []
    for e in page.data:
        body = json.loads(e.entry)
        rows.append((e, [*(body.get("reasons") or []), *(body.get("rule_ids") or [])]))
    return render(
        request,
        "regulator_entries.html",
        rows=rows,
        kinds=KINDS,
        kind=kind,
        partner=partner,
        outcome=outcome,
        rule=rule,
        ascending=True,
        **pager(
            request,
            page,
            cursor=lambda e: e.leaf_index,
            kind=kind,
            partner=partner,
            outcome=outcome,
            rule=rule,
        ),
    )


@get("/app/regulator/proofs/{index:int}")
async def proof(request: Request, index: int, audit: AuditService) -> Response:
    signed_in(request, "regulator")
    try:
        checkpoint = await audit.latest_checkpoint()
        body = await audit.inclusion_proof(index, checkpoint.tree_size)
    except AuditError as e:
        return render(request, "error.html", status_code=404, message=str(e))
    return render(
        request,
        "proof.html",
        index=index,
        proof=json.dumps(body, indent=2, default=str),
        checkpoint=checkpoint,
    )


ROUTES = [overview, entries, proof]
