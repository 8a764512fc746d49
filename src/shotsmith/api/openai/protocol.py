"""Wire schema of the OpenAI Videos API, fields in the upstream order.

shotsmith's own extensions are marked "(shotsmith)" and copied from the spec
(`wire_fields`): the spec declares them. Requests give their values in the spec's
names with `spec_values()`; responses are built from job records with
`VideoObject.from_job()`.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from shotsmith.api.common import WireModel, native_seconds, output_size
from shotsmith.api.sources import job_operation, shown_notes
from shotsmith.api.errors import ApiError
from shotsmith.errors import FieldError
from shotsmith.jobs import Job
from shotsmith.spec import wire_fields
from shotsmith.text import check_name

log = logging.getLogger(__name__)
Variant = Literal["video", "thumbnail", "spritesheet"]
# The spec fields this contract exposes under their own names, marked "(shotsmith)".
EXTENSIONS = ("negative_prompt", "seed", "candidates", "steps", "guidance", "fps", "interpolation", "style",
              "enhance", "lora", "lora_scale", "cache", "audio")
_unknown_seen: set[str] = set()
MAX_UNKNOWN_REMEMBERED = 64  # names logged once each; past this, nothing more is kept or logged


class OpenAIBaseModel(WireModel):
    """Request models of this contract accept fields they do not know (the SDK may add some
    before shotsmith does), log each new name once, and ignore them; wrong values of known
    fields are still refused (vLLM's OpenAIBaseModel does the same)."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _ignore_unknown(self):
        extra = self.__pydantic_extra__ or {}
        new = [name for name in extra if name not in _unknown_seen]
        room = MAX_UNKNOWN_REMEMBERED - len(_unknown_seen)
        if new and room > 0:  # one line per request at most, a bounded memory of names
            _unknown_seen.update(new[:room])
            shown = ", ".join(repr(name[:40]) for name in new[:5])
            more = f" and {len(new) - 5} more" if len(new) > 5 else ""
            log.warning("%s: ignoring unknown field(s) %s%s (each logged once)", type(self).__name__, shown, more)
        extra.clear()
        return self


class InputReference(OpenAIBaseModel):
    """The JSON form of `input_reference`; a multipart request sends a file part instead."""

    image_url: str | None = Field(None, description="A data:image/...;base64 URL or an http(s) URL")
    file_id: str | None = Field(None, description="Not supported: shotsmith has no Files API")


def _as_text(value):
    """`seconds` is a string upstream; a JSON number is accepted too."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return value


class _VideoCreateFields(OpenAIBaseModel):
    """The upstream fields, in the upstream order; the extensions follow (see VideoCreateRequest)."""

    prompt: str = Field(..., min_length=1, description="What to film")
    input_reference: InputReference | None = Field(None, description="First-frame image (image-to-video)")
    model: str | None = Field(None, description="Model name; omitted = cogvideox-shapes (or its i2v twin "
                                                "when an image is given)")
    seconds: str | None = Field(None, description="Clip length in seconds, e.g. '6'")
    size: str | None = Field(None, description="Output size 'WIDTHxHEIGHT', e.g. '1440x960' (multiples of 16)")

    @field_validator("seconds", "size", mode="before")
    @classmethod
    def _number_as_text(cls, value):
        return _as_text(value)

    def spec_values(self) -> dict:
        """This request in the spec's names (the spec validates them, once)."""
        width, height = output_size(self.size)
        return {**self.model_dump(include=set(EXTENSIONS)), "prompt": self.prompt, "model": self.model,
                "width": width, "height": height, "seconds": _seconds(self.seconds)}


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise ApiError("invalid", f"seconds: '{text[:40]}' is not a number of seconds", "seconds") from None


VideoCreateRequest = create_model("VideoCreateRequest", __base__=_VideoCreateFields,
                                  **wire_fields(*EXTENSIONS, prefix="(shotsmith) "))


# Extension lengths the hosted API offers; `seconds` of an extension is one of these.
EXTEND_SECONDS = (4, 8, 12, 16, 20)
# An edit also takes how far it may move from its source.
EDIT_EXTENSIONS = EXTENSIONS + ("strength",)


class VideoReference(OpenAIBaseModel):
    """`video` as `{"id": ...}` (multipart: the form field `video[id]`): a completed video of this key."""

    free_text = ("id",)  # checked by _one_line instead, so an error names `video.id` once

    id: str = Field(..., min_length=1, max_length=200, description="The id of a completed video of this API key")

    @field_validator("id")
    @classmethod
    def _one_line(cls, value: str) -> str:
        try:
            return check_name(value, "id")
        except FieldError as exc:
            raise ValueError(exc.message) from None


class _VideoSourceFields(OpenAIBaseModel):
    """What an edit and an extension share; `video` may instead be an uploaded file part."""

    prompt: str = Field(..., min_length=1, description="What the new clip shows")
    video: VideoReference | None = Field(None, description="The source: {\"id\": ...} of a completed video, or "
                                         "(multipart) an uploaded MP4 as the `video` file part")
    model: str | None = Field(None, description="(shotsmith) Model name; omitted = the embedded model of the task")
    size: str | None = Field(None, description="(shotsmith) Output size 'WIDTHxHEIGHT'; omitted = the source's")

    @field_validator("size", mode="before")
    @classmethod
    def _number_as_text(cls, value):
        return _as_text(value)

    def spec_values(self, extensions: tuple[str, ...]) -> dict:
        width, height = output_size(self.size)
        return {**self.model_dump(include=set(extensions)), "prompt": self.prompt, "model": self.model,
                "width": width, "height": height}


class _VideoExtendFields(_VideoSourceFields):
    seconds: str = Field(..., description="Seconds to add: " + ", ".join(map(str, EXTEND_SECONDS)))

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_text(cls, value):
        return _as_text(value)

    def spec_values(self, extensions: tuple[str, ...] = EXTENSIONS) -> dict:
        seconds = _seconds(self.seconds)
        if seconds not in EXTEND_SECONDS:
            raise ApiError("invalid", f"seconds: an extension adds {', '.join(map(str, EXTEND_SECONDS))} "
                           f"seconds (got '{self.seconds[:40]}')", "seconds")
        return {**super().spec_values(extensions), "seconds": seconds}


VideoExtendRequest = create_model("VideoExtendRequest", __base__=_VideoExtendFields,
                                  **wire_fields(*EXTENSIONS, prefix="(shotsmith) "))
VideoEditRequest = create_model("VideoEditRequest", __base__=_VideoSourceFields,
                                **wire_fields(*EDIT_EXTENSIONS, prefix="(shotsmith) "))


class VideoRemixRequest(OpenAIBaseModel):
    prompt: str = Field(..., min_length=1, description="The new prompt; everything else (seed included) is kept")


class VideoError(BaseModel):
    code: str
    message: str


class VideoObject(BaseModel):
    id: str
    object: Literal["video"] = "video"
    created_at: int
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(..., ge=0, le=100)
    completed_at: int | None = None
    expires_at: int | None = None
    model: str
    seconds: str
    size: str
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    # (shotsmith) extensions
    enhanced_prompt: str | None = Field(None, description="(shotsmith) The prompt the model read")
    seeds: list[int] = Field(default_factory=list, description="(shotsmith) Seed of each candidate")
    candidates: int = Field(1, description="(shotsmith) Number of clips; download one with ?candidate=N")
    step: int = Field(0, description="(shotsmith) Denoising step done, of total_steps")
    total_steps: int = Field(0, description="(shotsmith)")
    operation: Literal["generate", "edit", "extend"] = Field(
        "generate", description="(shotsmith) A new video, an edit of a source video, or an extension of one")
    source_video_id: str | None = Field(None, description="(shotsmith) The video this one edits or extends "
                                        "(null for an uploaded source clip)")
    notes: list[str] = Field(default_factory=list, description="(shotsmith) What the server changed to make it, "
                             "e.g. a source clip resampled to the model's frames")

    @classmethod
    def from_job(cls, job: Job) -> "VideoObject":
        spec = job.spec
        status = "failed" if job.status == "cancelled" else job.status
        operation = job_operation(spec)
        if job.outputs:
            seconds = job.outputs[0].duration
        elif operation == "extend" and job.meta.get("source_seconds") is not None:
            seconds = float(job.meta["source_seconds"]) + float(spec.get("seconds") or 0)  # the stitched total
        else:
            seconds = native_seconds(spec)
        error = VideoError(code=job.error.code, message=job.error.message) if job.error else None
        return cls(
            id=job.id, created_at=int(job.created_at), status=status, progress=job.progress,
            completed_at=int(job.finished_at) if job.finished_at and job.terminal else None,
            model=spec.get("model") or "", seconds=f"{seconds:g}", size=f"{spec['width']}x{spec['height']}",
            prompt=spec.get("prompt"), remixed_from_video_id=job.meta.get("remixed_from"), error=error,
            enhanced_prompt=job.enhanced_prompt, seeds=job.seeds, candidates=spec.get("candidates", 1),
            step=job.step, total_steps=job.total_steps, operation=operation,
            source_video_id=job.meta.get("source_job_id"), notes=shown_notes(job),
        )


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoObject]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True
