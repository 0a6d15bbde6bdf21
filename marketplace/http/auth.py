"""Bearer-token authentication (asymmetric JWTs) and role guards."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

import jwt
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from ..keys import KeyRing

Role = Literal["operator", "partner", "customer", "regulator"]
ROLES: tuple[Role, ...] = ("operator", "partner", "customer", "regulator")
# Asymmetric only: `none` and HMAC (which a public key could forge) are refused by construction.
ALGORITHMS_BY_KTY = {"OKP": ["EdDSA"], "EC": ["ES256"]}
CLOCK_SKEW_SECONDS = 30
# Tokens already verified (signature, issuer, audience, claims), by their exact text, with their
# expiry: a client sends the same token on every request, and an Ed25519 check plus PyJWT's
# parsing was ~7% of a partner read's CPU. Expiry is still checked on every use. Bounded: the
# whole map is dropped when full. It holds identities only, never a grant or a decision.
VERIFIED_TOKENS_MAX = 4096


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role, the actor's id, and a regulator's jurisdictions."""

    role: Role
    sub: str
    jurisdictions: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.role}:{self.sub}"


class InvalidToken(Exception):
    """A bearer token that does not authenticate; the message says why, without secrets."""


@dataclass(frozen=True)
class TokenVerifier:
    keys: KeyRing
    issuers: tuple[str, ...]
    audience: str
    # The longest lifetime a token may claim (exp - iat): a leaked long-lived token is refused.
    max_lifetime_seconds: int = 86_400
    _verified: dict[str, tuple[Principal, float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            if time.time() <= hit[1] + CLOCK_SKEW_SECONDS:
                return hit[0]
            del self._verified[token]  # expired: the full check below says so
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:  # malformed, or a header PyJWT refuses (odd `kid`, `crit`)
            raise InvalidToken("malformed token") from None
        if "crit" in header:  # no extension is understood here (RFC 7515 §4.1.11)
            raise InvalidToken("unsupported critical header")
        kid = header.get("kid")
        key = self.keys.trusted.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown signing key")
        algorithms = ALGORITHMS_BY_KTY.get(key.key_type or "", [])
        if header.get("alg") not in algorithms:
            raise InvalidToken("algorithm not accepted")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=list(self.issuers),
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("issuer not trusted") from None
        except jwt.PyJWTError:
            raise InvalidToken("invalid token") from None
        except (TypeError, ValueError):  # a claim of an unexpected type
            raise InvalidToken("invalid token") from None
        issued = claims.get("iat", time.time())
        if not isinstance(issued, int | float) or not isinstance(claims["exp"], int | float):
            raise InvalidToken("invalid token times")
        if claims["exp"] - issued > self.max_lifetime_seconds + CLOCK_SKEW_SECONDS:
            raise InvalidToken("token lifetime too long")
        role, sub = claims.get("role"), claims.get("sub")
        if role not in ROLES:
            raise InvalidToken("unknown role")
        if not isinstance(sub, str) or not 1 <= len(sub) <= 100:
            raise InvalidToken("invalid subject")
        jurisdictions = claims.get("jurisdictions", [])
        if role == "regulator" and (
            not isinstance(jurisdictions, list)
            or not jurisdictions
            or not all(isinstance(j, str) and len(j) == 2 for j in jurisdictions)
        ):
            raise InvalidToken("a regulator token needs a jurisdictions list")
        principal = Principal(role=role, sub=sub, jurisdictions=tuple(jurisdictions))
        return principal, float(claims["exp"])


def issue_token(
    keys: KeyRing,
    *,
    issuer: str,
    audience: str,
    role: Role,
    sub: str,
    jurisdictions: tuple[str, ...] = (),
    ttl: int = 3600,
) -> str:
    """A token signed with the service's own key (development, demos and tests)."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if jurisdictions:
        claims["jurisdictions"] = list(jurisdictions)
    return jwt.encode(claims, keys.private_key, algorithm="EdDSA", headers={"kid": keys.kid})


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Puts the verified Principal on the connection as `user`."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        headers = connection.headers.getall("authorization", [])
        if len(headers) > 1:
            # One caller, one credential: servers and proxies disagree on which of two wins.
            raise NotAuthorizedException("send one Authorization header, not several")
        header = headers[0] if headers else ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthorizedException("a bearer token is required")
        verifier: TokenVerifier = connection.app.state.verifier
        try:
            principal = verifier.verify(token.strip())
        except InvalidToken as e:
            raise NotAuthorizedException(str(e)) from None
        return AuthenticationResult(user=principal, auth=None)


def requires(*roles: Role):
    """A guard admitting only these roles."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if user is None:
            # OPTIONS skips authentication (CORS preflight); it only answers with `Allow`.
            scope = connection.scope
            if scope["type"] == ScopeType.HTTP and scope["method"] == "OPTIONS":
                return
            raise NotAuthorizedException("a bearer token is required")
        if user.role not in roles:
            raise PermissionDeniedException(f"this endpoint is for the {'/'.join(roles)} role")

    return guard
