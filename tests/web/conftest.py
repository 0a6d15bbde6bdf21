"""The customer app's server for the page tests: a real server process on the suite's
database, signing people in through a local OpenID provider. It trusts its own exports (its
JWKS, over HTTP), so a test can move a customer's package into a new account as another
operator would."""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port, start_server

CLIENT_ID = "marketplace-web"


@pytest.fixture(scope="module")
def oidc_issuer():
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread(require_nonce=True) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def web(settings, oidc_issuer):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(
        settings,
        port,
        {
            "OIDC_ISSUER": oidc_issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": "web-secret",
            "TRUSTED_EXPORTERS": json.dumps({url: f"{url}/.well-known/jwks.json"}),
        },
    )
    yield url
    proc.terminate()
    proc.wait(timeout=10)
