"""The `/schema` docs page: Swagger UI served from the installed `swagger-ui-py` package, so it
renders offline, and under a Content-Security-Policy that lets no other origin in (tokens are
pasted into this page: no third-party script may run beside them)."""

from __future__ import annotations

import html
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

# Only what the page needs of the package; nothing else of it is reachable.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")

# Scripts, styles, images and calls come from this origin only; no inline script (the page's
# set-up is a file too), no frames, no plugins, no form posting elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

# Reads the document's URL from the page; no validator badge (it would call a public service),
# and the token pasted into Authorize is kept in memory only, never in storage.
INIT_JS = """\
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""


def swagger_assets() -> Path:
    """The folder of the installed Swagger UI files (found without importing the package,
    whose import loads adapters for other web frameworks)."""
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI at the docs root, its assets under `assets/`, its set-up in `docs.js`."""

    def __init__(self, path: str = "/") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        document = self.get_openapi_json_route(request)
        base = document.rsplit("/", 1)[0]
        title = html.escape(openapi_schema["info"]["title"])
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{base}/assets/favicon-32x32.png">
<link rel="stylesheet" href="{base}/assets/swagger-ui.css">
<script src="{base}/assets/swagger-ui-bundle.js"></script>
<script src="{base}/docs.js"></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{html.escape(document)}"></div>
</body>
</html>
"""
        return page.encode()

    def receive_router(self, router: Router) -> None:
        root = swagger_assets()
        missing = [name for name in ASSETS if not (root / name).is_file()]
        if missing:
            raise RuntimeError(f"the installed Swagger UI lacks {', '.join(missing)}")
        router.register(
            create_static_files_router(
                path="/assets",
                directories=[root],
                name="docs_assets",
                guards=[_only(ASSETS)],
                opt={"exclude_from_auth": True},
            )
        )
        router.register(docs_js)


def _only(names: tuple[str, ...]):
    """A guard serving only these files of the folder."""

    async def guard(connection, _) -> None:
        if str(connection.path_params.get("file_path", "")).lstrip("/") not in names:
            raise NotFoundException()

    return guard


@get("/docs.js", media_type="text/javascript", include_in_schema=False, sync_to_thread=False)
def docs_js() -> str:
    return INIT_JS


def docs_router() -> Router:
    """The router under which Litestar mounts the document and the docs page, every answer
    of it under the policy."""
    return Router(
        "/schema",
        route_handlers=[],
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ],
    )
