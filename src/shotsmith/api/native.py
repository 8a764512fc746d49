"""shotsmith's own API: prompt enhancement, jobs with every option (candidates
included), their files, a progress stream (SSE), health, metrics and models.

Protocol (wire models), serving and routes of one small surface, in that order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field, create_model

from shotsmith import __version__
from shotsmith.api.auth import is_admin, require_owner
from shotsmith.api.common import (
    Services, WireModel, base_url, output_size, registry_key, request_spec, services, submit_job,
)
from shotsmith.api.errors import ApiError, openai_responses
from shotsmith.api.fields import JOB_FIELDS  # the spec fields this contract exposes under the spec's own names
from shotsmith.api.fetch import prefetch_images
from shotsmith.api.media import INPUT_FILE_NAMES, image_from_reference, is_data_url, read_body, video_from_reference
from shotsmith.api.sources import SourceClip, clip_by_id, job_operation, shown_notes, submit_with_sources
from shotsmith.api.metrics import render as render_metrics
from shotsmith.api.schema import request_body
from shotsmith.jobs import Job
from shotsmith.models.registry import ENTRIES
from shotsmith.settings import Settings
from shotsmith.spec import wire_fields

SOURCE_FIELDS = ("video", "extend_from")  # source clips: a job id or a data:video URL (api/sources.py)

EVENT_POLL_S = 0.2  # the warm CLI hears `done` at most this late

# 1. Protocol ------------------------------------------------------------------


class _EnhanceFields(WireModel):
    free_text = ("text", "scene", "content")

    text: str | None = Field(None, max_length=4000, description="A free-text idea")
    scene: str | None = Field(None, max_length=2000, description="Scene description (instead of text)")
    content: str | None = Field(None, max_length=2000, description="Content description (instead of text)")
    style: str | None = Field(None, max_length=64, description="Style preset, e.g. realistic, anime")
    mode: Literal["t2v", "i2v"] | None = Field(None, description="t2v or i2v (default: the model's task, else "
                                                                   "t2v)")
    backend: Literal["rules", "llm"] = Field("rules", description="'llm' uses the server's configured "
                                                                   "OpenAI-compatible chat endpoint, falling back "
                                                                   "to rules")


# `model`: the prompt is written for that model's caption window and task (the embedded models
# read 48 tokens); without it, a 226-token CogVideoX formula prompt.
EnhanceRequest = create_model("EnhanceRequest", __base__=_EnhanceFields,
                              **wire_fields("model", prefix="The model the prompt is for. "))




class _JobFields(WireModel):
    """What this contract names its own way; every other field is the spec's (see JobRequest)."""

    images = WireModel.images + SOURCE_FIELDS  # base64 may be wrapped over lines

    image: str | None = Field(None, description="First frame: data:image/...;base64 URL, base64, or http(s) URL")
    last_image: str | None = Field(None, description="Last frame, in the same forms as image: the clip ends on it "
                                   "(needs image and a model that can hold a last frame)")
    video: str | None = Field(None, description="Source clip to edit with the prompt (video-to-video): the id of "
                              "a completed job of this key, or a data:video/mp4;base64 URL")
    extend_from: str | None = Field(None, description="Clip to extend by `seconds`: the id of a completed job of "
                                    "this key, or a data:video/mp4;base64 URL")
    size: str | None = Field(None, description="Output size WIDTHxHEIGHT (multiples of 16), default 1440x960 "
                             "(an edit's or extension's: its source's)")

    def spec_values(self) -> dict:
        width, height = output_size(self.size)
        return {**self.model_dump(include=set(JOB_FIELDS)), "width": width, "height": height}


JobRequest = create_model("JobRequest", __base__=_JobFields, **wire_fields(*JOB_FIELDS))


class JobErrorObject(BaseModel):
    code: str
    message: str


class ClipObject(BaseModel):
    seed: int
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    video_url: str
    gif_url: str | None = None
    cover_url: str
    sprite_url: str
    sidecar_url: str


class JobObject(BaseModel):
    id: str
    object: Literal["job"] = "job"
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    progress: int
    step: int
    total_steps: int
    stage: str
    source: str
    model: str
    prompt: str
    enhanced_prompt: str | None = None
    seeds: list[int]
    spec: dict = Field(..., description="The validated request (input files by their file names)")
    timings: dict
    error: JobErrorObject | None = None
    clips: list[ClipObject]
    contact_sheet_url: str | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int
    cancel_requested: bool
    operation: Literal["generate", "edit", "extend"] = Field(
        "generate", description="A new clip, an edit of a source clip (video) or an extension of one (extend_from)")
    source_job_id: str | None = Field(None, description="The job this one edits or extends (null for a clip sent "
                                      "as a data URL)")
    notes: list[str] = Field(default_factory=list, description="What the server changed to make it, e.g. a source "
                             "clip resampled to the model's frames")

    @classmethod
    def from_job(cls, job: Job, root: str) -> "JobObject":
        files = f"{root}/api/v1/jobs/{job.id}/files"
        spec = dict(job.spec)
        for name in INPUT_FILE_NAMES:
            if spec.get(name):
                spec[name] = Path(spec[name]).name  # never show a server path
        clips = [ClipObject(seed=c.seed, width=c.width, height=c.height, fps=c.fps, frames=c.frames,
                            duration=c.duration, video_url=f"{files}/{c.video}",
                            gif_url=f"{files}/{c.gif}" if c.gif else None, cover_url=f"{files}/{c.cover}",
                            sprite_url=f"{files}/{c.sprite}", sidecar_url=f"{files}/{c.sidecar}")
                 for c in job.outputs]
        return cls(
            id=job.id, status=job.status, progress=job.progress, step=job.step, total_steps=job.total_steps,
            stage=job.stage, source=job.source, model=spec.get("model") or "", prompt=spec.get("prompt") or "",
            enhanced_prompt=job.enhanced_prompt, seeds=job.seeds, spec=spec, timings=job.timings,
            error=JobErrorObject(code=job.error.code, message=job.error.message) if job.error else None,
            clips=clips, contact_sheet_url=f"{files}/{job.contact_sheet}" if job.contact_sheet else None,
            created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
            attempts=job.attempts, cancel_requested=job.cancel_requested, operation=job_operation(spec),
            source_job_id=job.meta.get("source_job_id"), notes=shown_notes(job),
        )


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobObject]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class Health(BaseModel):
    status: Literal["ok", "starting", "degraded"]
    version: str
    auth: bool
    worker: dict


class ModelInfo(BaseModel):
    name: str
    task: str
    native_size: str
    frames: int
    fps: int
    max_seconds: float
    embedded: bool
    description: str


# 2. Serving -------------------------------------------------------------------


def enhance_prompt(body: dict, settings: Settings) -> dict:
    request = EnhanceRequest.model_validate(body)
    # only the model's caption window and task are read: a registry name whose weights are not here
    # is fine; a folder never is (no client string becomes a path)
    model = registry_key(request.model, settings) if request.model and request.model.strip() else None
    try:
        from shotsmith.prompt import PromptError, enhance_for_model
    except ImportError as exc:
        raise ApiError("unavailable", f"the prompt agent is not installed ({exc})") from None
    try:
        result = enhance_for_model(request.text, scene=request.scene, content=request.content,
                                   style=request.style, mode=request.mode, backend=request.backend,
                                   model=model)
    except PromptError as exc:
        raise ApiError("invalid", str(exc), getattr(exc, "field", None)) from None
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    return json.loads(json.dumps(dataclasses.asdict(result), default=str))


def create_job(svc: Services, owner: str, body: dict) -> Job:
    request = JobRequest.model_validate(body)
    images = {name: image_from_reference(getattr(request, name), svc.settings, name) if getattr(request, name)
              else None for name in ("image", "last_image")}
    values = request.spec_values()
    sources = {name: source_clip(svc, owner, getattr(request, name), name) for name in SOURCE_FIELDS
               if getattr(request, name)}
    if sources:
        return submit_with_sources(svc, owner, values, sources, inputs=images, source="native")
    return submit_job(svc, owner, lambda files: request_spec(svc, values, files), inputs=images,
                      source="native")


def source_clip(svc: Services, owner: str, ref: str, field: str) -> SourceClip:
    """`video` / `extend_from`: a data:video URL (the clip itself) or a completed job's id."""
    if is_data_url(ref):
        return SourceClip(video_from_reference(ref, svc.settings, field))
    return clip_by_id(svc, owner, ref.strip(), field, field)


def job_list(svc: Services, owner: str, root: str, after: str | None, limit: int, order: str) -> JobList:
    page = svc.backend.list(owner, after=after, limit=limit, order=order)
    data = [JobObject.from_job(job, root) for job in page.jobs]
    return JobList(data=data, has_more=page.has_more, first_id=data[0].id if data else None,
                   last_id=data[-1].id if data else None)


async def job_events(svc: Services, owner: str, job_id: str, root: str, request: Request):
    """SSE: a `progress` event whenever status/stage/step changes, then `done` with the whole job.
    FastAPI's EventSourceResponse frames the events and sends the keep-alive comments."""
    last = None
    while True:
        try:
            job = await run_in_threadpool(svc.backend.get, owner, job_id)
        except LookupError:
            yield ServerSentEvent(event="deleted", data={"id": job_id})
            return
        state = (job.status, job.stage, job.step, job.progress)
        if state != last:
            last = state
            yield ServerSentEvent(event="progress", data={
                "id": job.id, "status": job.status, "stage": job.stage, "progress": job.progress, "step": job.step,
                "total_steps": job.total_steps})
        if job.terminal:
            yield ServerSentEvent(event="done", data=JobObject.from_job(job, root))
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_POLL_S)


# 3. Routes --------------------------------------------------------------------

router = APIRouter(tags=["shotsmith"], responses=openai_responses(400, 401, 404, 413))


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(svc: Services = Depends(services)):
    """Liveness and readiness (no key needed). 503 while the worker cannot run jobs."""
    state = svc.backend.health()
    worker = state.get("worker", {})
    if not state.get("ok"):
        status = "degraded"
    elif worker.get("enabled") and not worker.get("ready"):
        status = "starting"
    else:
        status = "ok"
    body = Health(status=status, version=__version__, auth=svc.settings.auth_enabled,
                  worker={k: worker[k] for k in ("enabled", "alive", "ready", "error", "remote") if k in worker})
    return JSONResponse(body.model_dump(), status_code=503 if status == "degraded" else 200)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(owner: str = Depends(require_owner), svc: Services = Depends(services)) -> Response:
    """Prometheus text format: worker state; jobs by status (every key's) for an admin key."""
    text, media_type = render_metrics(svc.backend.health(), every_key=is_admin(owner, svc.settings))
    return Response(text, media_type=media_type)


class LoraInfo(BaseModel):
    name: str
    model: str | None = Field(None, description="The model it was trained on")
    rank: int | None = None
    steps: int | None = None


@router.get("/api/v1/loras", response_model=list[LoraInfo])
def list_lora_adapters(owner: str = Depends(require_owner)) -> list[LoraInfo]:
    """LoRA adapters on this server (the LoRA folder); pass a name as `lora` in a request."""
    from shotsmith.models.lora import list_loras, resolve_lora

    out = []
    for name in list_loras():
        info = resolve_lora(name).info
        out.append(LoraInfo(name=name, model=info.get("model"), rank=info.get("rank"), steps=info.get("steps")))
    return out


@router.get("/api/v1/models", response_model=list[ModelInfo])
def list_models(owner: str = Depends(require_owner)) -> list[ModelInfo]:
    return [ModelInfo(name=e.name, task=e.task, native_size=f"{e.width}x{e.height}", frames=e.frames, fps=e.fps,
                      max_seconds=round(e.max_seconds, 3), embedded=e.embedded, description=e.description)
            for e in ENTRIES.values()]


@router.post("/api/v1/enhance", openapi_extra=request_body(EnhanceRequest), responses=openai_responses(415, 503))
async def enhance(request: Request, owner: str = Depends(require_owner),
                  svc: Services = Depends(services)) -> dict:
    """The prompt agent: an idea (or scene + content) and a style in, a full cinematic prompt out."""
    body = await read_body(request, max_file_bytes=0)
    return await run_in_threadpool(enhance_prompt, body, svc.settings)


@router.post("/api/v1/jobs", response_model=JobObject, openapi_extra=request_body(JobRequest),
             responses=openai_responses(409, 415, 429))
async def create(request: Request, owner: str = Depends(require_owner),
                 svc: Services = Depends(services)) -> JobObject:
    """Queue a generation with every option (candidates, seed, steps, style...)."""
    body = await read_body(request, max_file_bytes=0)
    await prefetch_images(request, owner, body, "image", "last_image")  # on the event loop, not a pool thread
    job = await run_in_threadpool(create_job, svc, owner, body)
    return JobObject.from_job(job, base_url(request, svc.settings))


@router.get("/api/v1/jobs", response_model=JobList)
def list_jobs(request: Request, after: str | None = Query(None), limit: int = Query(20, ge=1, le=100),
              order: Literal["asc", "desc"] = Query("desc"), owner: str = Depends(require_owner),
              svc: Services = Depends(services)) -> JobList:
    return job_list(svc, owner, base_url(request, svc.settings), after, limit, order)


@router.get("/api/v1/jobs/{job_id}", response_model=JobObject)
def get_job(job_id: str, request: Request, owner: str = Depends(require_owner),
            svc: Services = Depends(services)) -> JobObject:
    return JobObject.from_job(svc.backend.get(owner, job_id), base_url(request, svc.settings))


@router.post("/api/v1/jobs/{job_id}/cancel", response_model=JobObject, responses=openai_responses(409))
def cancel_job(job_id: str, request: Request, owner: str = Depends(require_owner),
               svc: Services = Depends(services)) -> JobObject:
    """Queued: cancelled at once. Running: stops between denoising steps (poll or stream to see it)."""
    return JobObject.from_job(svc.backend.cancel(owner, job_id), base_url(request, svc.settings))


@router.delete("/api/v1/jobs/{job_id}", response_model=JobObject)
def delete_job(job_id: str, request: Request, owner: str = Depends(require_owner),
               svc: Services = Depends(services)) -> JobObject:
    return JobObject.from_job(svc.backend.delete(owner, job_id), base_url(request, svc.settings))


@router.get("/api/v1/jobs/{job_id}/files/{name}", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}, "image/jpeg": {}, "image/gif": {}, "application/json": {}},
          "description": "One of the job's files"}})
def job_file(job_id: str, name: str, owner: str = Depends(require_owner),
             svc: Services = Depends(services)) -> FileResponse:
    """A file the job made, by the name its record lists (nothing else is served)."""
    job = svc.backend.get(owner, job_id)
    try:
        path = svc.backend.file_path(job, name)
    except FileNotFoundError:
        raise ApiError("not_found", f"job '{job.id}' has no file '{name[:80]}'", "name") from None
    return FileResponse(path)


def owned_job(job_id: str, owner: str = Depends(require_owner), svc: Services = Depends(services)) -> Job:
    """The key's own job, or 404 (before any response starts, so a stream never opens for it)."""
    return svc.backend.get(owner, job_id)


@router.get("/api/v1/jobs/{job_id}/events", response_class=EventSourceResponse, responses={
    200: {"content": {"text/event-stream": {}}, "description": "progress events, then done"}})
async def job_events_stream(request: Request, job: Job = Depends(owned_job), owner: str = Depends(require_owner),
                            svc: Services = Depends(services)):
    """Server-sent events: `progress` on every change, `done` (the whole job) at the end."""
    async for event in job_events(svc, owner, job.id, base_url(request, svc.settings), request):
        yield event
