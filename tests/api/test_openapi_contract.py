"""The API against its own published OpenAPI document (schemathesis, bounded and seeded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from marketplace.http.dates import EARLIEST, LATEST


def _published_document() -> dict:
    """The document exactly as the app serves it (building it needs no database)."""
    import tempfile
    from pathlib import Path

    from marketplace.app import create_app
    from marketplace.config import Settings

    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp())))
    return app.openapi_schema.to_schema()


# Dates and times carry their range as formatMinimum/formatMaximum, which the generator does
# not read: valid examples come from inside the published range (outside it is a 400).
_first = datetime.combine(EARLIEST + timedelta(days=1), datetime.min.time())
_last = datetime.combine(LATEST - timedelta(days=1), datetime.min.time())
schemathesis.openapi.format("date", st.dates(EARLIEST, LATEST).map(str))
schemathesis.openapi.format(
    "date-time",
    st.datetimes(_first, _last).map(lambda d: d.replace(tzinfo=UTC).isoformat()),
)
schema = schemathesis.openapi.from_dict(_published_document())

# Which role each part of the API is for; the contract is checked as that role.
ROLE_BY_PREFIX = [
    ("/v1/admin", "operator"),
    ("/v1/partner", "partner"),
    ("/v1/me", "customer"),
    ("/v1/audit", "regulator"),
]


@pytest.fixture(scope="session")
def tokens(token):
    return {
        "operator": token("operator", "op_contract", ttl=3600),
        "partner": token("partner", "ptn_contract", ttl=3600),
        "customer": token("customer", "cus_contract", ttl=3600),
        "regulator": token("regulator", "reg_contract", jurisdictions=["DE"], ttl=3600),
    }


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_honours_its_schema(case, tokens, live_server):
    role = next((r for prefix, r in ROLE_BY_PREFIX if case.path.startswith(prefix)), None)
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    case.call_and_validate(base_url=live_server, headers=headers)


def test_the_published_document_is_valid_openapi_31_and_its_links_resolve():
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    doc = _published_document()
    assert doc["openapi"].startswith("3.1")
    OPENAPI_31_VALIDATOR.validate(doc)
    operations = {
        op["operationId"]: op
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
    }
    followed = []
    for item in doc["paths"].values():
        for op in (o for o in item.values() if isinstance(o, dict) and "responses" in o):
            for response in op["responses"].values():
                for name, link in response.get("links", {}).items():
                    target = operations[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                    assert set(link.get("parameters", {})) == names, name
                    assert "requestBody" not in link or "requestBody" in target, name
                    followed.append((op["operationId"], link["operationId"]))
    # The workflow a customer and a partner really go through, link by link.
    for step in [
        ("createOffer", "publishOffer"),
        ("publishOffer", "acceptOffer"),
        ("acceptOffer", "getReceipt"),
        ("acceptOffer", "revokeGrant"),
    ]:
        assert step in followed
