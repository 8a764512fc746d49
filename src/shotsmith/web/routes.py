"""The studio's own endpoints, on the same job backend as the API.

Only what the page needs and the API does not offer:

    GET /api/v1/studio/config          style presets, per-model defaults, limits
    GET /api/v1/studio/jobs            the key's jobs: search by prompt, filter by
                                       style / status / task, with signed media links
    GET /api/v1/studio/jobs/{id}       one job, with signed media links
    GET /studio/media/{id}/{name}      a job's file (or one of its inputs: first or last frame,
                                       source clip) by signed link
    GET /api/v1/studio/boards/{id}/links   a signed folder link for a storyboard's files
    GET /studio/board-files/{o}/{e}/{s}/{id}/{name}   a storyboard's file (cut, shot list and
                                       what it shows, a shot's image) by that link

Everything else (enhance, create, cancel, delete, progress stream) the page does
through the public API, exactly as an SDK would. Protocol, serving and routes, in
that order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from shotsmith import __version__
from shotsmith.api.auth import LOCAL_OWNER, require_owner
from shotsmith.api.common import Services, base_url, services
from shotsmith.api.errors import ApiError, openai_responses
from shotsmith.api.media import IMAGE_FORMATS, INPUT_FILE_NAMES
from shotsmith.api.native import JobObject
from shotsmith.api.openai.protocol import EXTEND_SECONDS
from shotsmith.jobs import Job, JobFilter, JobNotFound, StatusFilter, is_job_id, owner_of
from shotsmith.models.registry import DEFAULT_I2V_MODEL, DEFAULT_MODEL, ENTRIES, is_available
from shotsmith.spec import (
    DEFAULT_EDIT_STRENGTH, MAX_EXTENDED_SECONDS, MAX_EXTENSIONS, MAX_PROMPT_CHARS, MAX_SEED, GenerationSpec,
)
from shotsmith.web.links import LinkSigner

SIZES = ("1440x960", "1080x720", "960x640", "720x480", "480x320")
FPS_CHOICES = (8, 12, 16, 24, 30, 60)

# 1. Protocol ------------------------------------------------------------------


class StyleInfo(BaseModel):
    name: str
    title: str
    description: str


class ModelDefaults(BaseModel):
    name: str
    task: Literal["t2v", "i2v"]
    description: str
    native_size: str
    fps: int
    native_seconds: float = Field(..., description="Clip length at the model's default frame count")
    max_seconds: float
    steps: int
    guidance: float
    fixed_size: bool
    embedded: bool
    available: bool = Field(..., description="Weights are on this server (or in its hub cache)")
    last_frame: bool = Field(False, description="Can end the clip on a given last frame (`last_image`)")
    family: str = Field("cogvideox", description="Model family (models/families/): its frame and size rules")
    can: list[str] = Field(default_factory=list, description="What a request may ask of it: t2v or i2v, "
                           "last_frame, edit (video and strength), extend, lora, audio")
    frame_step: int = Field(8, description="Native frame counts are frame_step * k + 1")
    size_multiple: int = Field(16, description="Native width and height are multiples of this")


class StudioConfig(BaseModel):
    version: str
    auth: bool
    styles: list[StyleInfo]
    models: list[ModelDefaults]
    defaults: dict
    sizes: list[str]
    fps_choices: list[int]
    limits: dict
    loras: list[str] = Field(default_factory=list, description="LoRA adapters on this server")


class ClipLinks(BaseModel):
    seed: int
    video: str
    gif: str | None = None
    cover: str
    sprite: str
    sidecar: str


class SourceClip(BaseModel):
    """The clip an edit or an extension was made from, as the gallery names it."""

    id: str | None = Field(None, description="The source job (None: an uploaded clip)")
    prompt: str | None = Field(None, description="The source job's prompt (None when it is gone)")
    exists: bool = Field(..., description="The source job is still there to open")


class StudioJob(JobObject):
    """A native job object plus what a browser needs: links it can use without a header."""

    task: Literal["t2v", "i2v"]
    source_clip: SourceClip | None = Field(None, description="What an edit or an extension started from")
    style: str | None = None
    links: list[ClipLinks] = Field(default_factory=list, description="Signed links, one entry per clip")
    input_image_url: str | None = Field(None, description="Signed link to the first-frame image (i2v)")
    last_image_url: str | None = Field(None, description="Signed link to the last-frame image")
    input_video_url: str | None = Field(None, description="Signed link to the source clip of an edit or extension")
    contact_sheet_link: str | None = None
    links_expire_at: int


class BoardLinks(BaseModel):
    """Where a browser finds a board's files without a header."""

    files: str = Field(..., description="Signed folder link: append a file name of the board (cut.mp4, "
                                        "shotlist.html, a shot's image)")
    expires_at: int


class StudioJobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StudioJob]
    has_more: bool
    next_after: str | None = Field(None, description="Pass as `after` to continue the search")


# 2. Serving -------------------------------------------------------------------


def studio_config(settings) -> StudioConfig:
    from shotsmith.prompt import list_presets, load_preset

    styles = []
    for name in list_presets():
        preset = load_preset(name)
        styles.append(StyleInfo(name=preset.name, title=preset.title, description=preset.description))
    models = [ModelDefaults(name=e.name, task=e.task, description=e.description, native_size=f"{e.width}x{e.height}",
                            fps=e.fps, native_seconds=round(e.frames / e.fps, 3), max_seconds=round(e.max_seconds, 3),
                            steps=e.steps, guidance=e.guidance, fixed_size=e.fixed_size, embedded=e.embedded,
                            available=is_available(e), last_frame=e.last_frame, family=e.family,
                            can=e.capabilities(), frame_step=e.frame_step, size_multiple=e.size_multiple)
              for e in ENTRIES.values()]
    fields = GenerationSpec.model_fields
    defaults = {"model": DEFAULT_MODEL, "i2v_model": DEFAULT_I2V_MODEL,
                "size": f"{fields['width'].default}x{fields['height'].default}", "fps": fields["fps"].default,
                "interpolation": fields["interpolation"].default, "candidates": fields["candidates"].default,
                "enhance": fields["enhance"].default, "strength": DEFAULT_EDIT_STRENGTH}
    limits = {"max_image_bytes": settings.max_image_bytes, "max_image_pixels": settings.max_image_pixels,
              "max_body_bytes": settings.max_body_bytes, "max_video_bytes": settings.max_video_bytes,
              "max_prompt_chars": MAX_PROMPT_CHARS,
              "max_candidates": _bound(fields["candidates"], "le"), "max_steps": _bound(fields["steps"], "le"),
              "max_guidance": _bound(fields["guidance"], "le"), "max_seed": MAX_SEED,
              "image_formats": list(IMAGE_FORMATS), "extend_seconds": list(EXTEND_SECONDS),
              "max_extensions": MAX_EXTENSIONS, "max_extended_seconds": MAX_EXTENDED_SECONDS}
    from shotsmith.models.lora import list_loras

    return StudioConfig(version=__version__, auth=settings.auth_enabled, styles=styles, models=models,
                        defaults=defaults, sizes=list(SIZES), fps_choices=list(FPS_CHOICES), limits=limits,
                        loras=list_loras())


def _bound(field, name: str):
    """A numeric limit declared on a GenerationSpec field (Field(le=...)), so it is stated once."""
    return next(getattr(m, name) for m in field.metadata if getattr(m, name, None) is not None)


def source_clip(svc: Services, owner: str, base: JobObject) -> SourceClip | None:
    """What an edit or extension was made from: the source job (its prompt, whether it is still
    there) when the client named one, else an uploaded clip."""
    if base.operation == "generate":
        return None
    source_id = base.source_job_id
    if source_id is None or not is_job_id(source_id):
        return SourceClip(id=None, prompt=None, exists=False)
    try:
        source = svc.backend.get(owner, source_id)
    except LookupError:
        source = None
    prompt = (source.spec.get("prompt") or source.enhanced_prompt or "") if source else None
    return SourceClip(id=source_id, prompt=prompt, exists=source is not None)


def studio_job(job: Job, owner: str, root: str, signer: LinkSigner, svc: Services) -> StudioJob:
    expires = signer.expiry()
    spec = job.spec

    def link(name: str | None) -> str | None:
        return signer.url(owner, job.id, name, expires) if name else None

    def input_link(field: str) -> str | None:
        return link(INPUT_FILE_NAMES[field]) if spec.get(field) else None

    links = [ClipLinks(seed=c.seed, video=link(c.video), gif=link(c.gif), cover=link(c.cover),
                       sprite=link(c.sprite), sidecar=link(c.sidecar)) for c in job.outputs]
    base = JobObject.from_job(job, root)
    return StudioJob(**base.model_dump(), source_clip=source_clip(svc, owner, base), task="i2v" if spec.get("image") or spec.get("extend_from") else "t2v",
                     style=spec.get("style"), links=links, input_image_url=input_link("image"),
                     last_image_url=input_link("last_image"),
                     input_video_url=input_link("video") or input_link("extend_from"),
                     contact_sheet_link=link(job.contact_sheet), links_expire_at=expires)


def search_jobs(svc: Services, owner: str, *, q: str, style: str | None, status: StatusFilter,
                task: Literal["t2v", "i2v"] | None, after: str | None,
                limit: int) -> tuple[list[Job], bool, str | None]:
    """Newest first: the first `limit` matches after the cursor (the filter runs in the database)."""
    page = svc.backend.search(owner, JobFilter.search(q, style=style, status=status, task=task), after=after,
                              limit=limit)
    return page.jobs, page.has_more, page.jobs[-1].id if page.has_more else None


def media_path(svc: Services, owner: str, job_id: str, name: str) -> Path:
    job = svc.backend.get(owner, job_id)
    for field, file_name in INPUT_FILE_NAMES.items():  # the job's inputs, under the names the server gave them
        if name == file_name and job.spec.get(field):
            path = svc.backend.job_dir(job.id) / file_name
            if path.is_file():
                return path
    try:
        return svc.backend.file_path(job, name)
    except FileNotFoundError:
        raise ApiError("not_found", f"job '{job.id}' has no file '{name[:80]}'", "name") from None


def known_owners(settings) -> set[str]:
    if not settings.auth_enabled:
        return {LOCAL_OWNER}
    return {owner_of(key) for key in settings.api_keys}


def board_service(request: Request):
    """The app's BoardService (made once per app by the boards API)."""
    from shotsmith.api.boards import board_service as service

    return service(request)


def board_call(fn, *args):
    """A BoardService lookup; another key's board (or no such file) is the API's 404."""
    from shotsmith.board.records import BoardNotFound

    try:
        return fn(*args)
    except BoardNotFound as exc:
        raise ApiError("not_found", f"{exc} for this API key", exc.field) from None


# The shot list is HTML written from people's words: it runs sandboxed (an origin of its own),
# so nothing in it can reach the studio's storage, where the API key is kept.
BOARD_FILE_HEADERS = {"Cache-Control": "private, max-age=3600", "Referrer-Policy": "no-referrer",
                      "X-Content-Type-Options": "nosniff",
                      "Content-Security-Policy": "sandbox allow-scripts allow-popups allow-downloads"}
TEXT_TYPES = {".md": "text/markdown; charset=utf-8", ".csv": "text/csv; charset=utf-8",
              ".html": "text/html; charset=utf-8"}


# 3. Routes --------------------------------------------------------------------

router = APIRouter(tags=["studio"], responses=openai_responses(400, 401, 404))


def signer(request: Request) -> LinkSigner:
    return request.app.state.studio_signer


@router.get("/api/v1/studio/config", response_model=StudioConfig)
def config(owner: str = Depends(require_owner), svc: Services = Depends(services)) -> StudioConfig:
    """What the studio's form offers: style presets, models with their defaults, sizes, limits."""
    return studio_config(svc.settings)


@router.get("/api/v1/studio/jobs", response_model=StudioJobList)
def list_studio_jobs(
    request: Request,
    q: str = Query("", max_length=200, description="Words that must all match: prompt words, a seed or the job id"),
    style: str | None = Query(None, max_length=64, description="A style preset name, or 'none'"),
    status: StatusFilter = Query("all"),
    task: Literal["t2v", "i2v"] | None = Query(None),
    after: str | None = Query(None, description="next_after of the previous page"),
    limit: int = Query(24, ge=1, le=100),
    owner: str = Depends(require_owner), svc: Services = Depends(services),
    links: LinkSigner = Depends(signer),
) -> StudioJobList:
    """The key's jobs, newest first, searched and filtered: the queue view and the gallery."""
    jobs, has_more, next_after = search_jobs(svc, owner, q=q, style=style or None, status=status, task=task,
                                             after=after, limit=limit)
    root = base_url(request, svc.settings)
    return StudioJobList(data=[studio_job(job, owner, root, links, svc) for job in jobs], has_more=has_more,
                         next_after=next_after)


@router.get("/api/v1/studio/jobs/{job_id}", response_model=StudioJob)
def get_studio_job(job_id: str, request: Request, owner: str = Depends(require_owner),
                   svc: Services = Depends(services), links: LinkSigner = Depends(signer)) -> StudioJob:
    job = svc.backend.get(owner, job_id)
    return studio_job(job, owner, base_url(request, svc.settings), links, svc)


@router.get("/studio/media/{job_id}/{name}", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}, "image/jpeg": {}, "image/gif": {}, "image/png": {}, "application/json": {}},
          "description": "One of the job's files"}})
def media(job_id: str, name: str, o: str = Query(..., max_length=64), e: int = Query(...),
          s: str = Query(..., max_length=64), download: bool = Query(False),
          svc: Services = Depends(services), links: LinkSigner = Depends(signer)) -> FileResponse:
    """A job's file by a signed link from a studio job view (no Authorization header needed)."""
    if not is_job_id(job_id):
        raise JobNotFound(job_id)
    owner = links.owner(o, job_id, e, s, known_owners(svc.settings))
    if owner is None:
        raise ApiError("invalid_key", "this media link is invalid or has expired; reload the studio page")
    path = media_path(svc, owner, job_id, name)
    filename = f"shotsmith-{job_id.removeprefix('video_')[:8]}-{name}" if download else None
    headers = {"Cache-Control": "private, max-age=3600", "Referrer-Policy": "no-referrer"}
    return FileResponse(path, filename=filename, headers=headers)


@router.get("/api/v1/studio/boards/{board_id}/links", response_model=BoardLinks)
def board_links(board_id: str, owner: str = Depends(require_owner), boards=Depends(board_service),
                links: LinkSigner = Depends(signer)) -> BoardLinks:
    """A signed link to the board's folder, for its cut, shot list and images (12 hours)."""
    board_call(boards.store.get, owner, board_id)  # the key's board, or a 404 naming board_id
    expires = links.expiry()
    return BoardLinks(files=links.board_files_url(owner, board_id, expires), expires_at=expires)


@router.get("/studio/board-files/{o}/{e}/{s}/{board_id}/{name:path}", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}, "text/html": {}, "text/csv": {}, "text/markdown": {}, "image/png": {},
                      "image/jpeg": {}}, "description": "A file of the board"}})
def board_file(o: str, e: int, s: str, board_id: str, name: str, download: bool = Query(False),
               svc: Services = Depends(services), boards=Depends(board_service),
               links: LinkSigner = Depends(signer)) -> FileResponse:
    """A board's file by its signed folder link (no Authorization header needed)."""
    owner = links.owner(o[:64], board_id, e, s[:64], known_owners(svc.settings))
    if owner is None:
        raise ApiError("invalid_key", "this board link is invalid or has expired; reload the studio page")
    path = board_call(boards.file_path, owner, board_id, name)
    filename = path.name if download else None
    return FileResponse(path, media_type=TEXT_TYPES.get(path.suffix), filename=filename,
                        headers=BOARD_FILE_HEADERS)
