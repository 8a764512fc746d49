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
from shotsmith.api.errors import ApiError
from shotsmith.jobs import Job
from shotsmith.spec import wire_fields

log = logging.getLogger(__name__)
Variant = Literal["video", "thumbnail", "spritesheet"]
# The spec fields this contract exposes under their own names, marked "(shotsmith)".
EXTENSIONS = ("negative_prompt", "seed", "candidates", "steps", "guidance", "fps", "interpolation", "style",
              "enhance", "lora", "lora_scale", "cache")
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

    @classmethod
    def from_job(cls, job: Job) -> "VideoObject":
        spec = job.spec
        status = "failed" if job.status == "cancelled" else job.status
        seconds = job.outputs[0].duration if job.outputs else native_seconds(spec)
        error = VideoError(code=job.error.code, message=job.error.message) if job.error else None
        return cls(
            id=job.id, created_at=int(job.created_at), status=status, progress=job.progress,
            completed_at=int(job.finished_at) if job.finished_at and job.terminal else None,
            model=spec.get("model") or "", seconds=f"{seconds:g}", size=f"{spec['width']}x{spec['height']}",
            prompt=spec.get("prompt"), remixed_from_video_id=job.meta.get("remixed_from"), error=error,
            enhanced_prompt=job.enhanced_prompt, seeds=job.seeds, candidates=spec.get("candidates", 1),
            step=job.step, total_steps=job.total_steps,
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
