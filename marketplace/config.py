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
            trusted_exporters=json.loads(env.get("TRUSTED_EXPORTERS") or "{}"),
            webhook_base_delay_seconds=float(env.get("WEBHOOK_BASE_DELAY_SECONDS", "1")),
            webhook_max_attempts=int(env.get("WEBHOOK_MAX_ATTEMPTS", "8")),
        )
