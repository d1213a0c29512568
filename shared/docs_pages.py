"""The API docs pages, with Swagger UI's assets served by the platform itself (from the
fastapi-offline package), so that the docs work on a machine without internet access."""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from shared.settings import SERVICE_NAMES

API_PREFIX = "/api/v1"
ASSETS = f"{API_PREFIX}/docs/assets"
_ASSETS_DIR = importlib.resources.files("fastapi_offline") / "static"


class _Assets(StaticFiles):
    """Swagger UI's files change only with the package: browsers may keep them a day."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install_docs(app: FastAPI, service: str, title: str) -> None:
    """The service's own docs page (`/api/v1/<service>/docs`) and the assets every docs page
    loads (`/api/v1/docs/assets/...`)."""
    app.mount(ASSETS, _Assets(directory=str(_ASSETS_DIR)), name="docs-assets")

    @app.get(f"{API_PREFIX}/{service}/docs", include_in_schema=False)
    async def service_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/{service}/openapi.json",
            title=f"{title} - docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )


_SPECS = [(name, f"{API_PREFIX}/{name}/openapi.json") for name in SERVICE_NAMES]
_OPTIONS = "".join(f'<option value="{url}">{name}</option>' for name, url in _SPECS)
# One Swagger UI with a selector over every service's OpenAPI document.
PLATFORM_PAGE = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Remit API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon.png">
</head>
<body>
<label style="font-family: sans-serif; margin: 1em; display: block">Service
<select id="service">{_OPTIONS}</select>
</label>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script>
const pick = document.getElementById("service");
const show = (url) => SwaggerUIBundle({{
  url: url,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
}});
pick.addEventListener("change", () => show(pick.value));
show({json.dumps(_SPECS[0][1])});
</script>
</body>
</html>
"""
