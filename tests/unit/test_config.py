"""Settings come from the environment once, with documented defaults."""

from pathlib import Path

from marketplace.config import Settings


def test_defaults_use_the_embedded_database():
    s = Settings.from_env({})
    assert s.database_url is None and s.port == 8000
    assert s.key_file == Path(".data") / "signing-key.pem"
    assert s.jwt_issuers == ("marketplace-local",) and s.accept_local_tokens


def test_environment_overrides():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "PORT": "9000",
            "JWT_ISSUERS": "https://idp.example, marketplace-local",
            "ACCEPT_LOCAL_TOKENS": "0",
            "DATA_DIR": "/var/lib/mkt",
        }
    )
    assert s.database_url == "postgresql://u@h/db" and s.port == 9000
    assert s.public_url == "http://127.0.0.1:9000"
    assert s.jwt_issuers == ("https://idp.example", "marketplace-local")
    assert not s.accept_local_tokens
    assert s.key_file == Path("/var/lib/mkt/signing-key.pem")


def test_the_audit_log_keeps_its_name_across_ports():
    a = Settings.from_env({"PORT": "8000"})
    b = Settings.from_env({"PORT": "9000"})
    assert a.checkpoint_origin == b.checkpoint_origin == "127.0.0.1/audit"
    assert Settings.from_env({"AUDIT_ORIGIN": "log.example.eu"}).checkpoint_origin == "log.example.eu"
