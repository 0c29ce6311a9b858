"""The web dashboard: ``/`` (one HTML page) and ``/static/...`` (ES modules, CSS, plotly.js), all local.

No build step: the browser loads plain ES modules from ``app/static``. plotly.js is served straight from the
installed ``plotly`` Python package (``plotly/package_data/plotly.min.js``), so no 4 MB copy lives in the repo
and nothing is fetched from a CDN (the page works on an air-gapped cluster). The page is public (it holds no
data); every API call it makes carries the user's bearer token when auth is on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.jsonbody import JsonRoute
from store.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
PLOTLY_NAME = "plotly.min.js"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
# Everything the page loads comes from this origin; plotly needs inline styles and data:/blob: images
# (its "download as PNG" button), nothing more.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(route_class=JsonRoute, include_in_schema=False)


@lru_cache(maxsize=1)
def plotly_path() -> Path:
    """The ``plotly.min.js`` bundled with the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / PLOTLY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the plotly package")
    return path


def static_file(rel: str) -> Path:
    """The file under ``STATIC_DIR`` named by ``rel``; ``NotFound`` for anything outside it or missing."""
    target = (STATIC_DIR / rel).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file() or target.suffix not in MEDIA_TYPES:
        raise NotFound(f"no static file {rel!r}", code="not_found")
    return target


@router.get("/")
def index() -> FileResponse:
    """The single page; views are chosen by the URL fragment (``#/p/<project>/runs`` ...)."""
    return FileResponse(
        STATIC_DIR / "index.html",
        media_type=MEDIA_TYPES[".html"],
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP},
    )


@router.get("/static/vendor/" + PLOTLY_NAME)
def plotly_js() -> FileResponse:
    return FileResponse(
        plotly_path(), media_type=MEDIA_TYPES[".js"], headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/static/{rel:path}")
def static(rel: str) -> FileResponse:
    path = static_file(rel)
    # Small files that change with the code: the browser revalidates (ETag / Last-Modified) on each load.
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
