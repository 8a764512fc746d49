"""HTTP routes of the OpenAI Videos API (`/v1/videos`). Thin: parse, call serving, answer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from shotsmith.api.auth import require_owner
from shotsmith.api.common import Services, services
from shotsmith.api.errors import openai_responses
from shotsmith.api.fetch import prefetch_images
from shotsmith.api.media import read_body
from shotsmith.api.openai import serving
from shotsmith.api.openai.protocol import (
    VideoCreateRequest, VideoDeleted, VideoEditRequest, VideoExtendRequest, VideoList, VideoObject, VideoRemixRequest,
)
from shotsmith.api.schema import request_body

router = APIRouter(prefix="/v1", tags=["OpenAI Videos API"], responses=openai_responses(400, 401, 404, 413))


@router.post("/videos", response_model=VideoObject, responses=openai_responses(415, 429),
             openapi_extra=request_body(VideoCreateRequest, file_fields=("input_reference",)))
async def create_video(request: Request, owner: str = Depends(require_owner),
                       svc: Services = Depends(services)) -> VideoObject:
    """Create a video job (multipart/form-data as the SDK sends it, or JSON)."""
    fields = await read_body(request, file_fields=("input_reference",), max_file_bytes=svc.settings.max_image_bytes)
    await prefetch_images(request, owner, fields, "input_reference.image_url")  # on the event loop
    return await run_in_threadpool(serving.create_video, svc, owner, fields)


@router.post("/videos/extensions", response_model=VideoObject, responses=openai_responses(409, 415, 429),
             openapi_extra=request_body(VideoExtendRequest, file_fields=("video",)))
async def extend_video(request: Request, owner: str = Depends(require_owner),
                       svc: Services = Depends(services)) -> VideoObject:
    """`seconds` more of a completed video (`video[id]`) or of an uploaded clip: one new, stitched video."""
    fields = await read_body(request, file_fields=("video",), max_file_bytes=svc.settings.max_video_bytes)
    return await run_in_threadpool(serving.extend_video, svc, owner, fields)


@router.post("/videos/edits", response_model=VideoObject, responses=openai_responses(409, 415, 429),
             openapi_extra=request_body(VideoEditRequest, file_fields=("video",)))
async def edit_video(request: Request, owner: str = Depends(require_owner),
                     svc: Services = Depends(services)) -> VideoObject:
    """A completed video (`video[id]`) or an uploaded clip remade with a prompt (video-to-video)."""
    fields = await read_body(request, file_fields=("video",), max_file_bytes=svc.settings.max_video_bytes)
    return await run_in_threadpool(serving.edit_video, svc, owner, fields)


@router.get("/videos", response_model=VideoList)
def list_videos(after: str | None = Query(None, description="Last id of the previous page"),
                limit: int = Query(20, ge=1, le=100), order: Literal["asc", "desc"] = Query("desc"),
                owner: str = Depends(require_owner), svc: Services = Depends(services)) -> VideoList:
    return serving.list_videos(svc, owner, after, limit, order)


@router.get("/videos/{video_id}", response_model=VideoObject)
def retrieve_video(video_id: str, response: Response, owner: str = Depends(require_owner),
                   svc: Services = Depends(services)) -> VideoObject:
    video = serving.retrieve_video(svc, owner, video_id)
    if video.status in ("queued", "in_progress"):
        response.headers["openai-poll-after-ms"] = str(svc.settings.poll_after_ms)
    return video


@router.delete("/videos/{video_id}", response_model=VideoDeleted)
def delete_video(video_id: str, owner: str = Depends(require_owner),
                 svc: Services = Depends(services)) -> VideoDeleted:
    return serving.delete_video(svc, owner, video_id)


@router.get("/videos/{video_id}/content", response_class=FileResponse, responses={
    200: {"content": {"video/mp4": {}, "image/jpeg": {}}, "description": "The file"},
    **openai_responses(409)})
def download_content(video_id: str, variant: Literal["video", "thumbnail", "spritesheet"] = Query("video"),
                     candidate: int = Query(1, ge=1, le=4, description="(shotsmith) Which candidate clip"),
                     owner: str = Depends(require_owner), svc: Services = Depends(services)) -> FileResponse:
    path, media_type = serving.content_file(svc, owner, video_id, variant, candidate)
    return FileResponse(path, media_type=media_type, filename=f"{video_id}{path.suffix}")


@router.post("/videos/{video_id}/remix", response_model=VideoObject, responses=openai_responses(409, 415, 429),
             openapi_extra=request_body(VideoRemixRequest))
async def remix_video(video_id: str, request: Request, owner: str = Depends(require_owner),
                      svc: Services = Depends(services)) -> VideoObject:
    """A new video from a completed one: same settings and seed, new prompt."""
    fields = await read_body(request, max_file_bytes=0)
    return await run_in_threadpool(serving.remix_video, svc, owner, video_id, fields)
