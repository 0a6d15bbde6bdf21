"""Every creating POST tells clients how to retry it safely; every 503 says when."""

from __future__ import annotations


async def test_every_post_documents_the_idempotency_key_and_retry_after(client):
    doc = (await client.get("/schema/openapi.json")).json()
    posts = 0
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            if path not in ("/health", "/ready"):
                assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
            if method != "post" or path == "/v1/stripe/webhook":
                continue
            posts += 1
            names = [p["name"] for p in operation.get("parameters", [])]
            assert "Idempotency-Key" in names, path
            assert "Idempotency-Key" in operation["description"], path
    assert posts >= 15
