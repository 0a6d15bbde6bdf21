"""Service settings: one frozen object, built once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from offers import (
    EMAIL_PATTERN,
    MAX_RETENTION_DAYS,
    PHONE_PATTERN,
    POLICY_URL_PATTERN,
    Controller,
    ControllerProfile,
)
from offers.insights import InsightSettings
from policies import JURISDICTIONS

from .env import Environment, SettingInvalid

__all__ = ["Settings", "SettingInvalid"]


def _operator_profile(e: Environment) -> dict:
    """The OPERATOR_* settings, each validated as partner onboarding validates its own."""
    d = Settings()
    jurisdiction = e.text("OPERATOR_JURISDICTION", d.operator_jurisdiction)
    if jurisdiction not in JURISDICTIONS:
        raise SettingInvalid("OPERATOR_JURISDICTION", jurisdiction, "a supported jurisdiction")
    line = r"[^\x00-\x1f]{1,%d}"
    return {
        "operator_name": e.matching("OPERATOR_NAME", d.operator_name, line % 200, "1-200 chars"),
        "operator_jurisdiction": jurisdiction,
        "operator_contact": e.matching(
            "OPERATOR_CONTACT", d.operator_contact, line % 200, "1-200 characters"
        ),
        "operator_address": e.matching(
            "OPERATOR_ADDRESS", d.operator_address, line % 500, "a one-line postal address"
        ),
        "operator_email": e.matching(
            "OPERATOR_EMAIL", d.operator_email, EMAIL_PATTERN, "an email address"
        ),
        "operator_phone": e.matching(
            "OPERATOR_PHONE", d.operator_phone, PHONE_PATTERN, "an E.164 number: +4930123456"
        ),
        "operator_policy_url": e.matching(
            "OPERATOR_POLICY_URL", d.operator_policy_url, POLICY_URL_PATTERN, "an http(s) URL"
        ),
        "operator_retention_days": e.integer(
            "OPERATOR_RETENTION_DAYS", d.operator_retention_days, 0, MAX_RETENTION_DAYS
        ),
    }


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service needs to know about where it runs.

    `database_url=None` means "start the embedded PostgreSQL under `data_dir`".
    """

    database_url: str | None = None
    # A streaming replica of that database for the reads that may lag (docs/scale.md lists
    # them); None: the primary serves every read. `replica_max_lag_seconds` bounds how far
    # behind it may be for the reads that tolerate lag; a read that must see every write that
    # returned before it waits up to `replica_wait_ms` for the replica, then asks the primary.
    database_replica_url: str | None = None
    replica_max_lag_seconds: float = 10.0
    replica_wait_ms: int = 100
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
    # Browser sign-in: OpenID Connect (authorization code + PKCE) against the operator's
    # identity provider. None: only the demo "sign in as" list (when local tokens are accepted).
    oidc_issuer: str | None = None
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # How long a browser session lasts without a new sign-in, in seconds.
    web_session_seconds: int = 8 * 3600
    # The longest a bearer token may live (its exp - iat), in seconds.
    token_max_lifetime_seconds: int = 86_400
    max_body_bytes: int = 1_048_576
    # Per-caller (token subject) requests per second, reads and writes apart (0: no limit),
    # split evenly over the API processes that serve them (see marketplace/http/ratelimit.py).
    rate_limit_reads_per_second: int = 100
    rate_limit_writes_per_second: int = 100
    api_processes: int = 1
    max_ingest_body_bytes: int = 16_777_216
    db_pool_min: int = 2
    db_pool_max: int = 20
    # Every API statement runs under this limit; jobs (sealing, settlement) get a longer one.
    # A request waits at most db_acquire_timeout_seconds for a free connection.
    statement_timeout_ms: int = 5_000
    job_statement_timeout_ms: int = 120_000
    db_acquire_timeout_seconds: float = 5.0
    log_json: bool = True
    # Requests in flight per process, reads (GET/HEAD) and writes apart; the rest wait first
    # come, first served, in a line of at most max_queued_* (beyond: 503 `overloaded` at once;
    # marketplace/http/admission.py). 0 in flight: no limit.
    max_in_flight: int = 8
    max_writes_in_flight: int = 8
    max_queued_reads: int = 64
    max_queued_writes: int = 64
    # The job worker's health endpoint (/health, /ready, /metrics); 0: none.
    worker_health_port: int = 0
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
    # Hosts webhooks may reach although they are loopback or private (development and tests:
    # e.g. 127.0.0.1, localhost). Empty: public internet addresses only.
    webhook_allowed_hosts: tuple[str, ...] = ()
    # Deletion obligations (docs/deletion.md): the partner's deadline (GDPR Art. 12(3): within
    # one month), the reminder before it, and the grace after it before new reads stop.
    deletion_deadline_days: int = 30
    deletion_reminder_days: int = 7
    deletion_grace_days: int = 7
    # Aggregated insights (docs/insights.md explains each): the privacy parameters published
    # with every release, the epsilon budgets, and the H3 resolution stored with records.
    insights: InsightSettings = field(default_factory=InsightSettings)
    # The operator as a controller on every consent receipt, beside the partner (Kantara CR
    # 1.1 piiControllers). The defaults are the demo's: a deployment sets its own.
    operator_name: str = "Consent Marketplace (demo operator)"
    operator_jurisdiction: str = "DE"
    operator_contact: str = "Data Protection Officer"
    operator_address: str = "Musterstrasse 1, 10115 Berlin, Germany"
    operator_email: str = "privacy@marketplace.example"
    operator_phone: str = "+4930123456789"
    operator_policy_url: str = "https://marketplace.example/privacy"
    # How long the operator keeps a consent record (the receipt chain) after consent ends.
    operator_retention_days: int = 2190

    @property
    def operator(self) -> Controller:
        """The operator as receipts name it: its id is the service's public URL."""
        return Controller(
            id=self.export_issuer,
            name=self.operator_name,
            jurisdiction=self.operator_jurisdiction,
            profile=ControllerProfile(
                contact=self.operator_contact,
                address=self.operator_address,
                email=self.operator_email,
                phone=self.operator_phone,
                policy_url=self.operator_policy_url,
                retention_days=self.operator_retention_days,
            ),
        )

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
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment; raises SettingInvalid (one line naming the
        variable, its value and what is allowed) for a value the service cannot run with."""
        e = Environment(os.environ if env is None else env)
        pool_max = e.integer("DB_POOL_MAX", 20, 1, 1000)
        host = e.text("HOST", "127.0.0.1")
        port = e.integer("PORT", 8000, 1, 65535)
        return cls(
            database_url=e.postgres_url("DATABASE_URL"),
            database_replica_url=e.postgres_url("DATABASE_REPLICA_URL"),
            replica_max_lag_seconds=e.number("REPLICA_MAX_LAG_SECONDS", 10.0, 0.0, 3600.0),
            replica_wait_ms=e.integer("REPLICA_WAIT_MS", 100, 0, 10_000),
            data_dir=e.path("DATA_DIR") or Path(".data"),
            host=host,
            port=port,
            public_url=e.url("PUBLIC_URL", f"http://{host}:{port}") or "",
            jwt_issuers=e.names("JWT_ISSUERS", ("marketplace-local",)),
            jwt_audience=e.text("JWT_AUDIENCE", "marketplace"),
            signing_key_file=e.path("SIGNING_KEY_FILE"),
            trusted_jwks_file=e.path("TRUSTED_JWKS_FILE"),
            accept_local_tokens=e.flag("ACCEPT_LOCAL_TOKENS", True),
            oidc_issuer=e.url("OIDC_ISSUER", None),
            oidc_client_id=e.text("OIDC_CLIENT_ID", ""),
            oidc_client_secret=e.text("OIDC_CLIENT_SECRET", ""),
            web_session_seconds=e.integer("WEB_SESSION_SECONDS", 8 * 3600, 60, 7 * 86_400),
            token_max_lifetime_seconds=e.integer(
                "TOKEN_MAX_LIFETIME_SECONDS", 86_400, 60, 30 * 86_400
            ),
            rate_limit_reads_per_second=e.integer("RATE_LIMIT_READS_PER_SECOND", 100, 0, 10**6),
            rate_limit_writes_per_second=e.integer("RATE_LIMIT_WRITES_PER_SECOND", 100, 0, 10**6),
            api_processes=e.integer("API_PROCESSES", 1, 1, 1024),
            max_body_bytes=e.integer("MAX_BODY_BYTES", 1_048_576, 1024, 64 * 1_048_576),
            max_ingest_body_bytes=e.integer(
                "MAX_INGEST_BODY_BYTES", 16_777_216, 1024, 1024 * 1_048_576
            ),
            db_pool_min=e.integer("DB_POOL_MIN", min(2, pool_max), 1, pool_max),
            db_pool_max=pool_max,
            statement_timeout_ms=e.integer("STATEMENT_TIMEOUT_MS", 5_000, 100, 600_000),
            job_statement_timeout_ms=e.integer(
                "JOB_STATEMENT_TIMEOUT_MS", 120_000, 1_000, 86_400_000
            ),
            db_acquire_timeout_seconds=e.number("DB_ACQUIRE_TIMEOUT_SECONDS", 5.0, 0.1, 600.0),
            log_json=e.choice("LOG_FORMAT", "json", ("json", "console")) == "json",
            max_in_flight=e.integer("MAX_IN_FLIGHT", 8, 0, 100_000),
            max_writes_in_flight=e.integer("MAX_WRITES_IN_FLIGHT", 8, 0, 100_000),
            max_queued_reads=e.integer("MAX_QUEUED_READS", 64, 0, 1_000_000),
            max_queued_writes=e.integer("MAX_QUEUED_WRITES", 64, 0, 1_000_000),
            worker_health_port=e.integer("WORKER_HEALTH_PORT", 0, 0, 65535),
            audit_origin=e.optional_text("AUDIT_ORIGIN"),
            bench_endpoints=e.flag("BENCH_ENDPOINTS", False),
            # Above 100% every cash acceptance would fail: the fee is a share of the amount.
            platform_fee_bps=e.integer("PLATFORM_FEE_BPS", 1000, 0, 10_000),
            stripe_api_key=e.text("STRIPE_API_KEY", "sk_test_local"),
            stripe_api_base=e.url("STRIPE_API_BASE", None),
            stripe_payouts_api_base=e.url("STRIPE_PAYOUTS_API_BASE", None),
            stripe_webhook_secret=e.text("STRIPE_WEBHOOK_SECRET", ""),
            payout_max_attempts=e.integer("PAYOUT_MAX_ATTEMPTS", 5, 1, 100),
            payout_backoff_seconds=e.number("PAYOUT_BACKOFF_SECONDS", 2.0, 0.0, 86_400.0),
            job_heartbeat_seconds=e.number("JOB_HEARTBEAT_SECONDS", 30.0, 1.0, 3600.0),
            job_poll_seconds=e.number("JOB_POLL_SECONDS", 30.0, 0.1, 3600.0),
            trusted_exporters=e.string_map("TRUSTED_EXPORTERS"),
            webhook_base_delay_seconds=e.number("WEBHOOK_BASE_DELAY_SECONDS", 1.0, 0.0, 86_400.0),
            webhook_max_delay_seconds=e.number(
                "WEBHOOK_MAX_DELAY_SECONDS", 3600.0, 0.0, 7 * 86_400.0
            ),
            webhook_max_attempts=e.integer("WEBHOOK_MAX_ATTEMPTS", 8, 1, 100),
            webhook_timeout_seconds=e.number("WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.1, 300.0),
            webhook_allowed_hosts=e.hosts("WEBHOOK_ALLOWED_HOSTS"),
            deletion_deadline_days=e.integer("DELETION_DEADLINE_DAYS", 30, 1, 30),
            deletion_reminder_days=e.integer("DELETION_REMINDER_DAYS", 7, 0, 29),
            deletion_grace_days=e.integer("DELETION_GRACE_DAYS", 7, 0, 90),
            insights=_insight_settings(e),
            **_operator_profile(e),
        )


def _insight_settings(e: Environment) -> InsightSettings:
    d = InsightSettings()
    return InsightSettings(
        k=e.integer("INSIGHT_K", d.k, 1, 100_000),
        epsilon_default=e.number("INSIGHT_EPSILON_DEFAULT", d.epsilon_default, 0.01, 10.0),
        epsilon_max=e.number("INSIGHT_EPSILON_MAX", d.epsilon_max, 0.01, 10.0),
        delta=e.number("INSIGHT_DELTA", d.delta, 1e-12, 0.01),
        cells_per_bucket=e.integer("INSIGHT_CELLS_PER_BUCKET", d.cells_per_bucket, 1, 100),
        buckets_per_release=e.integer(
            "INSIGHT_BUCKETS_PER_RELEASE", d.buckets_per_release, 1, 10_000
        ),
        data_usage_clip_mb=e.integer("INSIGHT_DATA_USAGE_CLIP_MB", d.data_usage_clip_mb, 1, 10**6),
        partner_budget=e.number("INSIGHT_PARTNER_BUDGET", d.partner_budget, 0.01, 10_000.0),
        customer_budget=e.number("INSIGHT_CUSTOMER_BUDGET", d.customer_budget, 0.01, 10_000.0),
        budget_period_days=e.integer("INSIGHT_BUDGET_PERIOD_DAYS", d.budget_period_days, 1, 3660),
        cell_resolution=e.integer("INSIGHT_CELL_RESOLUTION", d.cell_resolution, 0, 15),
    )
