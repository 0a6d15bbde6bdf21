"""Service settings: one frozen object, built once from the environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service needs to know about where it runs.

    `database_url=None` means "start the embedded PostgreSQL under `data_dir`".
    """

    database_url: str | None = None
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    # JWTs: tokens must carry one of these issuers and this audience.
    jwt_issuers: tuple[str, ...] = ("marketplace-local",)
    jwt_audience: str = "marketplace"
    # The service's own Ed25519 key (signs consent receipts and local demo tokens).
    signing_key_file: Path | None = None
    # Extra public keys to trust for bearer tokens (a JWKS file from the operator's IdP).
    trusted_jwks_file: Path | None = None
    # Whether tokens signed with the service's own key are accepted (development and demos).
    accept_local_tokens: bool = True
    max_body_bytes: int = 1_048_576
    max_ingest_body_bytes: int = 16_777_216
    db_pool_min: int = 2
    db_pool_max: int = 20
    log_json: bool = True
    # GET/HEAD requests in flight per process; the rest wait first come, first served
    # (marketplace/admission.py). 0: no limit.
    max_in_flight: int = 8
    # The audit checkpoints' origin line (and note key name); default "<public host>/audit".
    audit_origin: str | None = None
    # Baseline endpoints for `make bench` (/bench/*): never on in production.
    bench_endpoints: bool = False
    # Money: the operator's fee on every compensation, in basis points (1000 = 10%).
    platform_fee_bps: int = 1000
    # Stripe. `stripe_api_base` None means Stripe itself; tests point it at localstripe.
    # `stripe_payouts_api_base` serves transfers and customer balance credits (what
    # localstripe lacks; tests point it at a recording fake); None means `stripe_api_base`.
    stripe_api_key: str = "sk_test_local"
    stripe_api_base: str | None = None
    stripe_payouts_api_base: str | None = None
    stripe_webhook_secret: str = ""
    payout_max_attempts: int = 5
    payout_backoff_seconds: float = 2.0
    # Job queue: a picked job whose worker stopped heart-beating this long is picked again.
    job_heartbeat_seconds: float = 30.0
    job_poll_seconds: float = 30.0
    # Operators whose export packages this instance imports: issuer -> JWKS URL or file path.
    trusted_exporters: dict[str, str] = field(default_factory=dict)
    # Webhook delivery: exponential backoff from the base delay, capped; attempts capped.
    webhook_base_delay_seconds: float = 1.0
    webhook_max_delay_seconds: float = 3600.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 10.0

    @property
    def export_issuer(self) -> str:
        """Who signs this instance's export packages: its public URL, else the local issuer."""
        return self.public_url or self.local_issuer

    @property
    def local_issuer(self) -> str:
        return self.jwt_issuers[0]

    @property
    def key_file(self) -> Path:
        return self.signing_key_file or self.data_dir / "signing-key.pem"

    @property
    def checkpoint_origin(self) -> str:
        """The log's name in every checkpoint: it must not change over the log's life, so the
        default is the public host without its port (a restart on another port keeps it)."""
        from urllib.parse import urlsplit

        return self.audit_origin or f"{urlsplit(self.public_url).hostname}/audit"

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        port = int(env.get("PORT", "8000"))
        host = env.get("HOST", "127.0.0.1")

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("DATA_DIR", ".data")),
            host=host,
            port=port,
            public_url=env.get("PUBLIC_URL", f"http://{host}:{port}"),
            jwt_issuers=tuple(
                s.strip() for s in env.get("JWT_ISSUERS", "marketplace-local").split(",") if s.strip()
            ),
            jwt_audience=env.get("JWT_AUDIENCE", "marketplace"),
            signing_key_file=path("SIGNING_KEY_FILE"),
            trusted_jwks_file=path("TRUSTED_JWKS_FILE"),
            accept_local_tokens=env.get("ACCEPT_LOCAL_TOKENS", "1") not in ("0", "false", "no"),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", "1048576")),
            db_pool_max=int(env.get("DB_POOL_MAX", "20")),
            log_json=env.get("LOG_FORMAT", "json") == "json",
            max_in_flight=int(env.get("MAX_IN_FLIGHT", "8")),
            audit_origin=env.get("AUDIT_ORIGIN") or None,
            bench_endpoints=env.get("BENCH_ENDPOINTS", "0") in ("1", "true", "yes"),
            platform_fee_bps=int(env.get("PLATFORM_FEE_BPS", "1000")),
            stripe_api_key=env.get("STRIPE_API_KEY", "sk_test_local"),
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_payouts_api_base=env.get("STRIPE_PAYOUTS_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
            payout_max_attempts=int(env.get("PAYOUT_MAX_ATTEMPTS", "5")),
            payout_backoff_seconds=float(env.get("PAYOUT_BACKOFF_SECONDS", "2")),
            job_heartbeat_seconds=float(env.get("JOB_HEARTBEAT_SECONDS", "30")),
            job_poll_seconds=float(env.get("JOB_POLL_SECONDS", "30")),
            trusted_exporters=json.loads(env.get("TRUSTED_EXPORTERS") or "{}"),
            webhook_base_delay_seconds=float(env.get("WEBHOOK_BASE_DELAY_SECONDS", "1")),
            webhook_max_attempts=int(env.get("WEBHOOK_MAX_ATTEMPTS", "8")),
        )

    def stripe_gateway(self):
        from ledger import StripeGateway

        return StripeGateway(
            self.stripe_api_key, self.stripe_api_base, self.stripe_payouts_api_base
        )
