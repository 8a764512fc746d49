"""The web studio: one static page (HTML, CSS, vanilla JS) served at `/` by the API app.

The page talks to the same HTTP API the SDKs use (`/api/v1/enhance`, `/api/v1/jobs`,
the job's SSE stream); the few things a browser needs beyond that (style presets,
a searchable gallery, links a `<video>` can load without a header) live in
`web/routes.py`. `mount_studio(app)` adds both to an app made by
`shotsmith.api.create_app`. See docs/studio.md.
"""

from __future__ import annotations

from fastapi import FastAPI


def mount_studio(app: FastAPI) -> FastAPI:
    """Serve the studio at `/` (its files under /studio/static) and its API routes on an API app."""
    from shotsmith.web import pages, routes
    from shotsmith.web.links import LinkSigner, redact_access_log

    settings = app.state.settings
    app.state.studio_signer = LinkSigner(settings.home, secret_file=settings.link_secret_file)
    app.state.studio_signer.secret()  # made (0600) on first start, read on the next ones
    redact_access_log()  # a link's signature is a 12-hour pass to a file: not for the log
    app.include_router(routes.router)
    app.include_router(pages.router)
    app.mount(pages.STATIC_PREFIX, pages.StudioFiles(directory=pages.static_dir()), name="studio-static")
    table = getattr(app.state, "route_table", None)
    if table is not None:  # so a 405 on a studio route names its allowed methods, like the API's own
        table.extend((r.path_regex, set(r.methods or ())) for r in (*routes.router.routes, *pages.router.routes))
    return app


__all__ = ["mount_studio"]
