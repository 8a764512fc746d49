"""The FastAPI app factory. Nothing happens at import time: `create_app(settings)`
builds the app, and its lifespan opens the job store and starts the worker.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from shotsmith import __version__
from shotsmith.api.common import Services
from shotsmith.api.errors import error_schemas, register_error_handlers
from shotsmith.api.media import BodyLimit
from shotsmith.settings import Settings, configure
from shotsmith.jobs import JobBackend, LocalBackend

log = logging.getLogger(__name__)

DESCRIPTION = """\
shotsmith's HTTP API: the OpenAI Videos API (`/v1/videos`), Zhipu BigModel's video API
(`/api/paas/v4`) and shotsmith's own endpoints (`/api/v1`). Authenticate with
`Authorization: Bearer <key>`; each key sees only its own jobs.
"""


def local_backend(settings: Settings) -> LocalBackend:
    return LocalBackend(settings.home, run_worker=settings.worker, preload=settings.preload or None,
                        max_active_per_owner=settings.max_active_jobs_per_key, max_attempts=settings.max_attempts,
                        db=settings.db_url, lease_s=settings.lease_s)


def default_backend(settings: Settings) -> JobBackend:
    """The local worker, or the distributed queue when a queue URL is set."""
    if not settings.queue_url:
        return local_backend(settings)
    from shotsmith.jobs.distributed import QueueBackend

    return QueueBackend(settings.home, queue_url=settings.queue_url, db_url=settings.db_url,
                        max_active_per_owner=settings.max_active_jobs_per_key, max_attempts=settings.max_attempts,
                        lease_s=settings.lease_s)


def create_app(settings: Settings | None = None, *, backend: JobBackend | None = None) -> FastAPI:
    from shotsmith.api.boards import router as boards_router
    from shotsmith.api.native import router as native_router
    from shotsmith.api.openai.router import router as openai_router
    from shotsmith.api.zhipu.router import router as zhipu_router

    settings = settings or Settings.from_env()
    configure(settings)  # the whole process (registry, LoRA folder, engine) reads these settings
    backend = backend or default_backend(settings)
    if not settings.auth_enabled:
        log.warning("!!! SHOTSMITH_API_KEYS is not set: authentication is OFF; anyone who can reach this "
                    "server can use it. Serve on loopback only, or set SHOTSMITH_API_KEYS. !!!")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(backend.start)
        log.info("shotsmith API ready; data in %s", settings.home)
        try:
            yield
        finally:
            await run_in_threadpool(backend.stop)

    app = FastAPI(title="shotsmith", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.services = Services(settings=settings, backend=backend)
    register_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    routers = (openai_router, zhipu_router, native_router, boards_router)
    for router in routers:
        app.include_router(router)
    # path regex -> methods, for the Allow header of a 405
    app.state.route_table = [(route.path_regex, set(route.methods or ())) for router in routers
                             for route in router.routes]
    app.openapi = lambda: _openapi(app)

    # --- web studio (issue 7): the page at / and its routes, all in shotsmith/web ---
    from shotsmith.web import mount_studio

    mount_studio(app)
    # --- end web studio ---
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the error body schemas the responses refer to."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {}).update(error_schemas())
        app.openapi_schema = schema
    return app.openapi_schema
