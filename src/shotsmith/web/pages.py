"""The page itself: `/` serves index.html, /studio/static/ its CSS and JS.

The page loads nothing from elsewhere and runs no inline script or style, so a
strict Content-Security-Policy holds; static files are revalidated on every load
(ETag), so an upgrade of shotsmith is seen at once.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC_PREFIX = "/studio/static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_dir() -> Path:
    return Path(str(resources.files("shotsmith.web") / "static"))


class StudioFiles(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        for name in ("Cache-Control", "X-Content-Type-Options", "Referrer-Policy"):
            response.headers.setdefault(name, SECURITY_HEADERS[name])
        return response


router = APIRouter(include_in_schema=False)


@router.get("/")
def studio_page() -> FileResponse:
    return FileResponse(static_dir() / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/studio")
def studio_redirect() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)
