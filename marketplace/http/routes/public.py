"""Endpoints anyone may call: liveness, readiness, public keys, vocabulary."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from policies import CATEGORIES, PURPOSES

from ...db import ping
from ..problems import problem

PUBLIC = {"exclude_from_auth": True}


@get("/health", operation_id="getHealth", opt=PUBLIC, tags=["public"])
async def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/ready", operation_id="getReadiness", opt=PUBLIC, tags=["public"])
async def ready(state: State) -> Response:
    """Readiness: the database answers."""
    try:
        await ping(state.pool, timeout=2)
    except Exception:  # any failure to reach the database means "not ready"
        return problem(503, "database_unavailable", "the database is not reachable")
    return Response({"status": "ready"})


@get("/.well-known/jwks.json", operation_id="getJwks", opt=PUBLIC, tags=["public"])
async def jwks(state: State) -> dict:
    """The public keys that verify consent receipts, exports and locally issued tokens: the
    active key first, then every retired one (what a retired key signed keeps verifying)."""
    return await state.services.key_lifecycle.jwks()


@get("/v1/vocabulary", operation_id="getVocabulary", opt=PUBLIC, tags=["public"])
async def vocabulary() -> dict:
    """Data categories and purposes, each with its W3C Data Privacy Vocabulary IRI."""

    def entries(table) -> list[dict]:
        return [
            {"code": e.code, "iri": e.iri, "label": e.label, "description": e.description}
            for e in table
        ]

    return {"categories": entries(CATEGORIES), "purposes": entries(PURPOSES)}


ROUTES = [health, ready, jwks, vocabulary]
