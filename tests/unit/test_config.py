"""Settings come from the environment once, with documented defaults."""

from pathlib import Path

import pytest

from marketplace.config import SettingInvalid, Settings


def test_defaults_use_the_embedded_database():
    s = Settings.from_env({})
    assert s.database_url is None and s.port == 8000
    assert s.database_replica_url is None  # the primary serves every read
    assert s.key_file == Path(".data") / "signing-key.pem"
    assert s.jwt_issuers == ("marketplace-local",) and s.accept_local_tokens


def test_environment_overrides():
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "DATABASE_REPLICA_URL": "postgresql://u@replica/db",
            "REPLICA_MAX_LAG_SECONDS": "2.5",
            "PORT": "9000",
            "JWT_ISSUERS": "https://idp.example, marketplace-local",
            "ACCEPT_LOCAL_TOKENS": "0",
            "DATA_DIR": "/var/lib/mkt",
        }
    )
    assert s.database_url == "postgresql://u@h/db" and s.port == 9000
    assert s.database_replica_url == "postgresql://u@replica/db"
    assert s.replica_max_lag_seconds == 2.5
    assert s.public_url == "http://127.0.0.1:9000"
    assert s.jwt_issuers == ("https://idp.example", "marketplace-local")
    assert not s.accept_local_tokens
    assert s.key_file == Path("/var/lib/mkt/signing-key.pem")


def test_the_audit_log_keeps_its_name_across_ports():
    a = Settings.from_env({"PORT": "8000"})
    b = Settings.from_env({"PORT": "9000"})
    assert a.checkpoint_origin == b.checkpoint_origin == "127.0.0.1/audit"
    assert (
        Settings.from_env({"AUDIT_ORIGIN": "log.example.eu"}).checkpoint_origin == "log.example.eu"
    )


@pytest.mark.parametrize("value", ["0", "false", "False", "FALSE", "off", "no", "No"])
def test_local_tokens_can_be_turned_off_in_any_spelling(value):
    assert Settings.from_env({"ACCEPT_LOCAL_TOKENS": value}).accept_local_tokens is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "foo"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PLATFORM_FEE_BPS", "20000"),
        ("PLATFORM_FEE_BPS", "-1"),
        ("ACCEPT_LOCAL_TOKENS", "maybe"),
        ("BENCH_ENDPOINTS", "2"),
        ("MAX_BODY_BYTES", "1e9"),
        ("DB_POOL_MAX", "0"),
        ("PAYOUT_BACKOFF_SECONDS", "nan"),
        ("WEBHOOK_TIMEOUT_SECONDS", "-5"),
        ("LOG_FORMAT", "xml"),
        ("TRUSTED_EXPORTERS", "[1, 2]"),
        ("TRUSTED_EXPORTERS", "{not json"),
        ("STRIPE_API_BASE", "http://[::1"),
        ("PUBLIC_URL", "ftp://example.com"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("DATABASE_REPLICA_URL", "mysql://root@replica/db"),
        ("REPLICA_MAX_LAG_SECONDS", "-1"),
        ("JWT_ISSUERS", " , "),
        # GDPR Art. 12(3): a deletion deadline beyond one month is refused.
        ("DELETION_DEADLINE_DAYS", "31"),
        ("DELETION_GRACE_DAYS", "-1"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(name, value):
    with pytest.raises(SettingInvalid) as caught:
        Settings.from_env({name: value})
    message = str(caught.value)
    assert caught.value.name == name
    assert message.startswith(f"{name}={value.strip()!r} is not allowed: ")
    assert "\n" not in message


def test_the_pool_floor_cannot_exceed_its_ceiling():
    with pytest.raises(SettingInvalid, match="DB_POOL_MIN"):
        Settings.from_env({"DB_POOL_MAX": "4", "DB_POOL_MIN": "5"})
    assert Settings.from_env({"DB_POOL_MAX": "1"}).db_pool_min == 1


def test_the_command_stops_with_one_line_on_a_bad_setting():
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "marketplace.cli", "migrate"],
        env={"PORT": "foo", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "marketplace: PORT='foo' is not allowed: an integer from 1 to 65535"
    ]


def test_webhooks_reach_no_local_host_unless_the_environment_names_it():
    """Off by default, `make run` included (it builds its settings from the environment)."""
    assert Settings().webhook_allowed_hosts == ()
    assert Settings.from_env({}).webhook_allowed_hosts == ()
    s = Settings.from_env({"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1, LocalHost., [::1]"})
    assert s.webhook_allowed_hosts == ("127.0.0.1", "localhost", "::1")


@pytest.mark.parametrize(
    "value", ["*", "*.example.com", "127.0.0.1:8000", "http://localhost", "a b", "127.1", "a,,b"]
)
def test_webhook_allowed_hosts_are_names_or_addresses_only(value):
    with pytest.raises(SettingInvalid, match="WEBHOOK_ALLOWED_HOSTS"):
        Settings.from_env({"WEBHOOK_ALLOWED_HOSTS": value})
