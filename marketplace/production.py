"""What `marketplace serve` refuses to start with: settings that are fine for the demo and the
tests but unsafe in production, each with the one line an operator needs to fix it."""

from __future__ import annotations

from urllib.parse import urlsplit

from .config import Settings

LOCAL_ISSUER = "marketplace-local"


def unsafe_setting(settings: Settings) -> str | None:
    """The first reason these settings are unsafe for production, or None if there is none.

    Checked in order of consequence: who may call the API, where the money goes, what the
    service may reach, then what would be lost."""
    for reason in _reasons(settings):
        return reason
    return None


def _reasons(s: Settings):
    if s.accept_local_tokens:
        yield (
            "ACCEPT_LOCAL_TOKENS is on: anyone holding this service's signing key could mint "
            "tokens for any role; set ACCEPT_LOCAL_TOKENS=0"
        )
    if s.trusted_jwks_file is None:
        yield (
            "no identity provider is trusted: set TRUSTED_JWKS_FILE to your IdP's JWKS and "
            "JWT_ISSUERS to its issuer"
        )
    elif not s.trusted_jwks_file.is_file():
        yield f"TRUSTED_JWKS_FILE={str(s.trusted_jwks_file)!r} does not exist"
    if LOCAL_ISSUER in s.jwt_issuers:
        yield f"JWT_ISSUERS includes {LOCAL_ISSUER!r}: list only your identity provider's issuer"
    if s.stripe_api_key.startswith(("sk_test_", "rk_test_")):
        yield "STRIPE_API_KEY is a Stripe test key (sk_test_...): set a live secret key"
    for name, base in (
        ("STRIPE_API_BASE", s.stripe_api_base),
        ("STRIPE_PAYOUTS_API_BASE", s.stripe_payouts_api_base),
    ):
        if base is not None:
            yield f"{name} is set ({base}): production talks to Stripe itself; unset it"
    if not s.stripe_webhook_secret:
        yield (
            "STRIPE_WEBHOOK_SECRET is empty: partner funding could never be credited; set the "
            "endpoint's signing secret (whsec_...)"
        )
    if s.webhook_allowed_hosts:
        yield (
            f"WEBHOOK_ALLOWED_HOSTS={','.join(s.webhook_allowed_hosts)!r} lets partner "
            "webhooks reach loopback and private addresses; unset it"
        )
    if s.bench_endpoints:
        yield "BENCH_ENDPOINTS is on: the benchmark's unaudited endpoints must never be served"
    if urlsplit(s.public_url).scheme != "https":
        yield f"PUBLIC_URL={s.public_url!r} is not https: tokens would cross the network in clear"
    if s.database_url is None:
        yield (
            "DATABASE_URL is not set: the embedded PostgreSQL is for the demo; point "
            "DATABASE_URL at your PostgreSQL"
        )
    if s.signing_key_file is None:
        yield (
            "SIGNING_KEY_FILE is not set: the key that signs receipts, exports and audit "
            "checkpoints must live where it is backed up, not under DATA_DIR by default"
        )
