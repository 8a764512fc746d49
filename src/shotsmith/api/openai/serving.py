"""OpenAI Videos API -> job backend. No HTTP here: the router does that."""

from __future__ import annotations

from pathlib import Path

from shotsmith.api.common import Services, remix_job, request_spec, submit_job
from shotsmith.api.errors import ApiError
from shotsmith.api.media import image_from_bytes, image_from_reference, video_from_bytes
from shotsmith.api.openai.protocol import (
    EDIT_EXTENSIONS, VideoCreateRequest, VideoDeleted, VideoEditRequest, VideoExtendRequest, VideoList, VideoObject,
    VideoRemixRequest,
)
from shotsmith.api.sources import SourceClip, clip_by_id, submit_with_sources
from shotsmith.jobs import Job

_VARIANT_FILES = {"video": ("video", "video/mp4"), "thumbnail": ("cover", "image/jpeg"),
                  "spritesheet": ("sprite", "image/jpeg")}


def create_video(svc: Services, owner: str, fields: dict) -> VideoObject:
    settings = svc.settings
    upload = fields.pop("input_reference") if isinstance(fields.get("input_reference"), bytes) else None
    request = VideoCreateRequest.model_validate(fields)
    image = None
    if upload is not None:
        image = image_from_bytes(upload, settings, "input_reference")
    elif request.input_reference is not None:
        ref = request.input_reference
        if ref.file_id:
            raise ApiError("invalid", "input_reference.file_id: shotsmith has no Files API; upload the image as "
                           "input_reference or give input_reference.image_url", "input_reference.file_id")
        if not ref.image_url:
            raise ApiError("missing", "input_reference: give a file part or image_url", "input_reference")
        image = image_from_reference(ref.image_url, settings, "input_reference.image_url")
    values = request.spec_values()
    job = submit_job(svc, owner, lambda files: request_spec(svc, values, files), inputs={"image": image},
                     source="openai")
    return VideoObject.from_job(job)


def extend_video(svc: Services, owner: str, fields: dict) -> VideoObject:
    """`seconds` more of a completed video (or an uploaded clip), stitched into one new video."""
    fields, upload = _source_fields(fields)
    request = VideoExtendRequest.model_validate(fields)
    return _submit_from_source(svc, owner, request, upload, "extend_from", request.spec_values())


def edit_video(svc: Services, owner: str, fields: dict) -> VideoObject:
    """A completed video (or an uploaded clip) remade with a prompt, as a new video."""
    fields, upload = _source_fields(fields)
    request = VideoEditRequest.model_validate(fields)
    return _submit_from_source(svc, owner, request, upload, "video", request.spec_values(EDIT_EXTENSIONS))


def _source_fields(fields: dict) -> tuple[dict, bytes | None]:
    """The uploaded clip (a file part named `video`) apart; a bare `video=ID` form value is taken
    as `video[id]` (curl users write it so)."""
    if isinstance(fields.get("video"), bytes):
        return fields, fields.pop("video")
    if isinstance(fields.get("video"), str):
        fields["video"] = {"id": fields["video"]}
    return fields, None


def _submit_from_source(svc: Services, owner: str, request, upload: bytes | None, spec_field: str,
                        values: dict) -> VideoObject:
    if upload is not None:
        if request.video is not None:
            raise ApiError("invalid", "video: give either a file part or video[id], not both", "video")
        source = SourceClip(video_from_bytes(upload, svc.settings, "video"))
    elif request.video is not None:
        source = clip_by_id(svc, owner, request.video.id, "video", spec_field)
    else:
        raise ApiError("missing", "video: give {\"id\": ...} of a completed video (multipart: video[id]) or "
                       "upload an MP4 as the video file part", "video")
    job = submit_with_sources(svc, owner, values, {spec_field: source}, source="openai",
                              renames={spec_field: "video"})
    return VideoObject.from_job(job)


def retrieve_video(svc: Services, owner: str, video_id: str) -> VideoObject:
    return VideoObject.from_job(svc.backend.get(owner, video_id))


def list_videos(svc: Services, owner: str, after: str | None, limit: int, order: str) -> VideoList:
    page = svc.backend.list(owner, after=after, limit=limit, order=order)
    data = [VideoObject.from_job(job) for job in page.jobs]
    return VideoList(data=data, has_more=page.has_more, first_id=data[0].id if data else None,
                     last_id=data[-1].id if data else None)


def delete_video(svc: Services, owner: str, video_id: str) -> VideoDeleted:
    job = svc.backend.delete(owner, video_id)
    return VideoDeleted(id=job.id)


def remix_video(svc: Services, owner: str, video_id: str, fields: dict) -> VideoObject:
    """Same settings and seed as the source video, new prompt."""
    request = VideoRemixRequest.model_validate(fields)
    return VideoObject.from_job(remix_job(svc, owner, video_id, request.prompt, source="openai"))


def content_file(svc: Services, owner: str, video_id: str, variant: str, candidate: int) -> tuple[Path, str]:
    job: Job = svc.backend.get(owner, video_id)
    if job.status != "completed":
        raise ApiError("conflict", f"video '{job.id}' is {job.status}; its content is available once it is "
                       "completed", "video_id")
    if not 1 <= candidate <= len(job.outputs):
        raise ApiError("invalid", f"candidate: must be between 1 and {len(job.outputs)} (got {candidate})",
                       "candidate")
    attr, media_type = _VARIANT_FILES[variant]
    name = getattr(job.outputs[candidate - 1], attr)
    try:
        return svc.backend.file_path(job, name), media_type
    except FileNotFoundError:
        raise ApiError("not_found", f"video '{job.id}' has no {variant} file", "variant") from None
