"""`/docs`: Swagger UI served from the installed `swagger-ui-bundle-v2` package and this package's own start script,
under the atlas's Content-Security-Policy: nothing is fetched from another origin, so it works offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from hubindex.api.routes.atlas import CSP, STATIC
from swagger_ui_bundle import swagger_ui_path

from hubindex.errors import NotFoundError

SWAGGER = Path(str(swagger_ui_path))
# The only files served under /docs/assets: name -> (folder, media type).
ASSETS = {"swagger-ui.css": (SWAGGER, "text/css"), "swagger-ui-bundle.js": (SWAGGER, "text/javascript"),
          "docs.js": (STATIC, "text/javascript")}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def docs() -> FileResponse:
    return FileResponse(STATIC / "docs.html", media_type="text/html", headers={"Content-Security-Policy": CSP})


@router.get("/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFoundError("no such docs asset")
    folder, media = ASSETS[name]
    return FileResponse(folder / name, media_type=media, headers={"Cache-Control": "max-age=3600"})
