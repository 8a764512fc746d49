"""HTTP routes of Zhipu BigModel's video API (`/api/paas/v4`). Thin: parse, call serving, answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from shotsmith.api.auth import require_owner
from shotsmith.api.common import Services, base_url, services
from shotsmith.api.errors import ApiError, zhipu_responses
from shotsmith.api.fetch import prefetch_images
from shotsmith.api.media import read_body
from shotsmith.api.schema import request_body
from shotsmith.api.zhipu import serving
from shotsmith.api.zhipu.protocol import VideoGenerationRequest, VideoTask, VideoTaskResult

router = APIRouter(prefix="/api/paas/v4", tags=["Zhipu BigModel API"], responses=zhipu_responses(400, 401, 404, 413))


@router.post("/videos/generations", response_model=VideoTask, responses=zhipu_responses(415, 429),
             openapi_extra=request_body(VideoGenerationRequest))
async def video_generations(request: Request, owner: str = Depends(require_owner),
                            svc: Services = Depends(services)) -> VideoTask:
    """Create a video task (JSON). Poll it with GET /async-result/{id}."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError("unsupported_media_type", f"Content-Type {media or 'none'} is not supported: send "
                       "application/json")
    body = await read_body(request, max_file_bytes=0)
    await prefetch_images(request, owner, body, "image_url")  # on the event loop, not a pool thread
    return await run_in_threadpool(serving.create_task, svc, owner, body)


@router.get("/async-result/{task_id}", response_model=VideoTaskResult)
def async_result(task_id: str, request: Request, owner: str = Depends(require_owner),
                 svc: Services = Depends(services)) -> VideoTaskResult:
    """The task's status and, once SUCCESS, download URLs (fetch them with the same key)."""
    return serving.task_result(svc, owner, task_id, base_url(request, svc.settings))
