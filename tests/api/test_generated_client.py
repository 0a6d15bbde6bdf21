"""A partner's engineer generates a Python client from the published document with
openapi-python-client, and it works: no warnings (apart from the non-JSON media types it
does not read), every example holds to its schema, and the walkthrough runs through the
generated client against a real server, down to the typed 403 and its reasons."""

from __future__ import annotations

import importlib
import json
import re
import sys
from datetime import UTC, datetime, timedelta

import httpx
import jsonschema_rs
import jwt
import pytest

PACKAGE = "marketplace_client"
# What the generator cannot read, by design: the receipt (JWS), JSON Lines streams.
NON_JSON = ("application/jose", "application/jsonl")


@pytest.fixture(scope="session")
def document(live_server) -> dict:
    return httpx.get(f"{live_server}/schema/openapi.json").json()


@pytest.fixture(scope="session")
def generated(document, tmp_path_factory):
    """The client generated once per session from the served document: (warnings, package)."""
    from openapi_python_client import generate
    from openapi_python_client.config import Config, ConfigFile, MetaType

    root = tmp_path_factory.mktemp("client")
    source = root / "openapi.json"
    source.write_text(json.dumps(document))
    config = Config.from_sources(
        ConfigFile(post_hooks=[], package_name_override=PACKAGE),
        MetaType.NONE,
        source,
        "utf-8",
        True,
        root / PACKAGE,
    )
    warnings = generate(config=config)
    sys.path.insert(0, str(root))
    try:
        yield warnings, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_the_generator_warns_only_about_media_types_it_does_not_read(generated):
    warnings, _ = generated
    media = [w for w in warnings if "Unsupported content_type" in (w.detail or "")]
    assert [(w.header, w.detail) for w in warnings if w not in media] == []
    assert all(any(m in (w.detail or "") for m in NON_JSON) for w in media), media


def test_every_request_body_and_main_answer_has_an_example_that_holds(document):
    schemas = document["components"]["schemas"]
    checked = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            bodies = [("request", op.get("requestBody", {}))] + [
                (status, r) for status, r in op["responses"].items() if status.startswith("2")
            ]
            for where, body in bodies:
                for media, content in body.get("content", {}).items():
                    ref = content["schema"].get("$ref", "")
                    if not media.endswith("json") or not ref:
                        continue
                    name = ref.rsplit("/", 1)[1]
                    assert "example" in content, (method, path, where, name)
                    schema = {**schemas[name], "components": document["components"]}
                    validator = jsonschema_rs.validator_for(schema)
                    errors = [e.message for e in validator.iter_errors(content["example"])]
                    assert errors == [], (name, errors)
                    checked += 1
    assert checked > 40


def test_the_document_reads_well_for_a_client(document):
    ops = {
        op["operationId"]: (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert {"listOffers", "acceptOffer", "readRecords", "revokeGrant"} <= set(ops)
    assert all(op["summary"] and op["description"] for _, _, op in ops.values())
    # Each name is chosen, not derived from the path (a client's method names must not change
    # when a path does): verb first, lowerCamelCase.
    assert [i for i in ops if not re.fullmatch(r"[a-z]+[A-Z][A-Za-z]*", i)] == []
    for op_id, (method, _path, op) in ops.items():
        if method == "post" and op.get("security"):
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "header"]
            assert "Idempotency-Key" in names, op_id
    assert "Location" in ops["acceptOffer"][2]["responses"]["201"]["headers"]
    denied = ops["readRecords"][2]["responses"]["403"]["content"]["application/problem+json"]
    assert denied["schema"]["$ref"].endswith("/AccessDeniedProblem")
    assert "404" not in ops["getHealth"][2]["responses"]
    schemas = document["components"]["schemas"]
    assert [s.get("title") for s in schemas.values()].count("Record") == 0
    assert len({s.get("title") for s in schemas.values()}) == len(schemas)
    problem = schemas["Problem"]["properties"]
    assert all("items" in p for p in problem.values() if p.get("type") == "array")
    text = json.dumps(document)
    # One shared enum per vocabulary: the category codes are spelled out once.
    assert text.count('"call_records"') == 1


def test_the_walkthrough_through_the_generated_client(generated, live_server, token):
    _, client_package = generated
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    for audience in ("operator", "partner", "customer", "public"):
        importlib.import_module(f"{PACKAGE}.api.{audience}")
    from importlib import import_module

    def call(audience: str, name: str):
        return import_module(f"{PACKAGE}.api.{audience}.{name}")

    def as_(role: str, sub: str):
        return client_package.AuthenticatedClient(base_url=live_server, token=token(role, sub))

    operator = as_("operator", "op_walkthrough")
    partner_r = call("operator", "create_partner").sync_detailed(
        client=operator,
        body=models.CreatePartner(
            name="Walkthrough GmbH",
            jurisdiction=models.Jurisdiction.DE,
            contact="Data Protection Officer",
            address="Hauptstrasse 1, 10115 Berlin, Germany",
            email="privacy@walkthrough.example",
            phone="+4930123456789",
            policy_url="https://walkthrough.example/privacy",
            retention_days=30,
        ),
    )
    assert partner_r.status_code == 201, partner_r.content
    partner_id = partner_r.parsed.id
    adjusted = call("operator", "adjust_escrow").sync_detailed(
        partner_id,
        client=operator,
        body=models.EscrowAdjustment(amount=100_000, currency="EUR", reference="walkthrough"),
    )
    assert adjusted.status_code == 201, adjusted.content
    customer = call("operator", "create_customer").sync_detailed(
        client=operator,
        body=models.CreateCustomer(
            external_ref=f"walkthrough-{partner_id}", jurisdiction=models.Jurisdiction.FR
        ),
    )
    assert customer.status_code == 201, customer.content
    customer_id = customer.parsed.id
    recorded = datetime.now(UTC) - timedelta(days=1)
    ingested = call("operator", "ingest_records").sync_detailed(
        customer_id,
        client=operator,
        body=models.IngestRecords(
            records=[
                models.RecordIn(
                    category=models.Category.LOCATION,
                    recorded_at=recorded,
                    payload=models.JsonObject.from_dict({"lat": 48.85, "lon": 2.35}),
                    source="phone",
                )
            ]
        ),
    )
    assert ingested.status_code == 201, ingested.content

    partner = as_("partner", partner_id)
    created = call("partner", "create_offer").sync_detailed(
        client=partner,
        body=models.CreateOffer(
            title="Footfall insights",
            description="Aggregated footfall counts for retail planning.",
            categories=[models.Category.LOCATION, models.Category.DATA_USAGE],
            purposes=[models.Purpose.AGGREGATED_ANALYTICS, models.Purpose.RESEARCH],
            duration_days=30,
            lookback_days=14,
            compensation=models.CompensationIn(
                kind=models.CompensationKind.DISCOUNT, amount=500, currency="EUR"
            ),
            jurisdictions=[models.Jurisdiction.FR],
        ),
    )
    assert created.status_code == 201, created.content
    assert created.headers["location"] == f"/v1/partner/offers/{created.parsed.id}"
    published = call("partner", "publish_offer").sync(created.parsed.id, client=partner)
    assert isinstance(published, models.Offer)
    assert published.status == models.OfferStatus.ACTIVE

    me = as_("customer", customer_id)
    accepted = call("customer", "accept_offer").sync_detailed(
        client=me,
        body=models.AcceptOffer(
            offer_id=published.id,
            categories=[models.Category.LOCATION],
            purposes=[models.Purpose.AGGREGATED_ANALYTICS],
        ),
        idempotency_key="walkthrough-accept",
    )
    assert accepted.status_code == 201, accepted.content
    grant = accepted.parsed
    assert isinstance(grant, models.Grant)
    assert grant.categories == [models.Category.LOCATION]  # narrowed
    assert accepted.headers["location"] == f"/v1/me/grants/{grant.id}"

    receipt = call("customer", "get_receipt").sync_detailed(grant.id, client=me)
    assert receipt.status_code == 200
    jwks = call("public", "get_jwks").sync(client=client_package.Client(base_url=live_server))
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.to_dict()["keys"]}
    compact = receipt.content.decode()
    claims = jwt.decode(
        compact, keys[jwt.get_unverified_header(compact)["kid"]], options={"verify_aud": False}
    )
    assert json.dumps(claims)  # a verified, signed receipt

    read = call("partner", "read_records")
    page = read.sync(
        customer_id,
        client=partner,
        category=models.Category.LOCATION,
        purpose=models.Purpose.AGGREGATED_ANALYTICS,
    )
    assert isinstance(page, models.RecordsPage), page
    assert [r.category for r in page.data] == ["location"]
    assert page.data[0].payload == {"lat": 48.85, "lon": 2.35}
    assert page.decision.allowed is True

    revoked = call("customer", "revoke_grant").sync(grant.id, client=me)
    assert isinstance(revoked, models.Grant)
    assert revoked.status == models.GrantStatus.REVOKED

    denied = read.sync_detailed(
        customer_id,
        client=partner,
        category=models.Category.LOCATION,
        purpose=models.Purpose.AGGREGATED_ANALYTICS,
    )
    assert denied.status_code == 403
    problem = denied.parsed
    assert isinstance(problem, models.AccessDeniedProblem)
    assert problem.code == "access_denied"
    assert problem.decision.allowed is False
    assert problem.decision.reasons  # why, for the partner to act on
    assert api is not None
