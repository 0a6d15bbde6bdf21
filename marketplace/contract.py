"""Holds requests to the published contract where Litestar alone is looser.

Unknown or repeated query parameters are refused (a typo like `?stauts=active` must not silently list
everything), and OPTIONS answers `Allow` with every method of the path.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem_bytes


class Contract:
    """Per path template: the allowed methods, and each method's query parameters."""

    def __init__(self, app: Litestar):
        doc = app.openapi_schema
        self.query: dict[tuple[str, str], set[str]] = {}
        for path, item in (doc.paths or {}).items():
            for method in ("get", "post", "patch", "put", "delete"):
                operation = getattr(item, method, None)
                if operation is not None:
                    names = {p.name for p in operation.parameters or [] if p.param_in == "query"}
                    self.query[(path, method.upper())] = names
        self.allow = {r.path_format: ", ".join(sorted(r.methods)) for r in app.routes}


def contract_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        contract: Contract = scope["app"].state.contract
        template = scope.get("path_template", "")
        method = scope["method"]
        allowed = contract.query.get((template, method))
        if allowed is not None and scope.get("query_string"):
            names = [n for n, _ in parse_qsl(scope["query_string"].decode("latin-1"), True)]
            unknown = sorted(set(names) - allowed)
            repeated = sorted({n for n in names if names.count(n) > 1})
            if unknown or repeated:
                field = (unknown or repeated)[0]
                status, body, headers = problem_bytes(
                    400,
                    "unknown_parameter" if unknown else "repeated_parameter",
                    f"{'unknown' if unknown else 'repeated'} query parameter {field!r}",
                    field=field,
                )
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        if method != "OPTIONS" or template not in contract.allow:
            await app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", contract.allow[template].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_allow)

    return middleware
