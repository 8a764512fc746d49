"""Wire schema of Zhipu BigModel's video generation API, fields in the upstream order.

The official SDK sends every argument, unset ones as explicit null: null means
"not given". shotsmith's extensions are marked "(shotsmith)".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

from shotsmith.api.common import WireModel, output_size
from shotsmith.api.errors import ApiError
from shotsmith.jobs import Job
from shotsmith.models.registry import ENTRIES
from shotsmith.spec import wire_fields

TaskStatus = Literal["PROCESSING", "SUCCESS", "FAIL"]
# The spec fields this contract exposes under their own names (fps is upstream's too)
EXTENSIONS = ("fps", "negative_prompt", "seed", "candidates", "steps", "guidance", "interpolation", "style",
              "enhance", "lora", "lora_scale", "cache")
# spec field -> this contract's name, for error messages ("last_image" before "image": the
# messages are rewritten in this order, and "last_image: " ends with "image: ")
RENAMES = {"seconds": "duration", "last_image": "image_url", "image": "image_url", "audio": "with_audio"}


class _VideoGenerationFields(WireModel):
    """The upstream fields, in the upstream order; the extensions follow (see VideoGenerationRequest)."""

    model: str | None = Field(None, description="A shotsmith model name, e.g. cogvideox-shapes (required: the "
                                                "SDK sends an unset one as null)")
    prompt: str | None = Field(None, description="What to film (prompt and image_url may not both be empty)")
    image_url: str | list[str] | None = Field(
        None, description="First frame: http(s) URL, data:image/...;base64 URL or base64; or a list of one "
                          "(first frame) or two (first and last frame: the clip goes from one to the other, on "
                          "a model that can hold a last frame)")
    quality: Literal["speed", "quality"] | None = Field(
        None, description="'quality' (default): the model's steps; 'speed': half the steps and blend "
                          "interpolation")
    with_audio: bool | None = Field(None, description="A sound track in the MP4: only models that make sound "
                                                      "(e.g. ltx-2); default: on for them, off for the rest")
    size: str | None = Field(None, description="Output size 'WIDTHxHEIGHT' (multiples of 16)")
    duration: float | None = Field(None, allow_inf_nan=False, description="Clip length in seconds (upstream 5 "
                                                                          "or 10)")
    request_id: str | None = Field(None, min_length=1, max_length=128,
                                   description="Your id for the task; echoed back (generated if absent)")
    user_id: str | None = Field(None, min_length=6, max_length=128,
                                description="End user id, 6-128 characters; stored, not used")
    watermark_enabled: bool | None = Field(None, description="Only false: shotsmith adds no watermark")
    sensitive_word_check: dict | None = Field(None, description="Accepted and ignored: shotsmith has no "
                                                                 "content filter")

    def check(self) -> None:
        """The contract's own rules, before any work: each error names its field."""
        if not (self.model or "").strip():  # the one check of `model` before the server resolves it
            raise ApiError("missing", "model: is required (e.g. cogvideox-shapes)", "model")
        if not (self.prompt or "").strip() and not self.image_url:
            raise ApiError("missing", "prompt: prompt and image_url may not both be empty", "prompt")
        if self.watermark_enabled:
            raise ApiError("invalid", "watermark_enabled: shotsmith adds no watermark; send false or leave it out",
                           "watermark_enabled")

    def image_references(self) -> tuple[str | None, str | None]:
        """The first-frame and last-frame references (either may be None)."""
        value = self.image_url
        if not isinstance(value, list):
            return value or None, None
        if len(value) not in (1, 2):
            raise ApiError("invalid", f"image_url: give one image or a [first, last] pair (got a list of "
                           f"{len(value)})", "image_url")
        if not all(item.strip() for item in value):
            raise ApiError("invalid", "image_url: an item of the list is empty", "image_url")
        return value[0], value[1] if len(value) == 2 else None

    def spec_values(self, model: str) -> dict:
        """This request in the spec's names (the spec validates them, once); `model` is the
        registry name the server resolved `self.model` to (quality=speed halves its steps)."""
        width, height = output_size(self.size)
        values = {**self.model_dump(include=set(EXTENSIONS)), "prompt": self.prompt or "", "model": model,
                  "width": width, "height": height, "seconds": self.duration, "audio": self.with_audio}
        if self.quality == "speed":
            values["steps"] = values["steps"] or max(1, ENTRIES[model].steps // 2)
            values["interpolation"] = values["interpolation"] or "blend"
        return values


VideoGenerationRequest = create_model("VideoGenerationRequest", __base__=_VideoGenerationFields,
                                      **wire_fields(*EXTENSIONS, prefix="(shotsmith) "))


class VideoResult(BaseModel):
    url: str
    cover_image_url: str


class TaskError(BaseModel):
    code: str
    message: str


class VideoTask(BaseModel):
    """Create answer: the task id and PROCESSING."""

    id: str
    model: str
    request_id: str
    task_status: TaskStatus = "PROCESSING"


class VideoTaskResult(BaseModel):
    """Poll answer (upstream has no id here)."""

    model: str
    request_id: str
    task_status: TaskStatus
    video_result: list[VideoResult] = Field(default_factory=list)
    # (shotsmith) extensions
    progress: int = Field(0, description="(shotsmith) 0-100")
    error: TaskError | None = Field(None, description="(shotsmith) Why the task failed")

    @classmethod
    def from_job(cls, job: Job, files_url: str) -> "VideoTaskResult":
        status = {"completed": "SUCCESS", "failed": "FAIL", "cancelled": "FAIL"}.get(job.status, "PROCESSING")
        results = [VideoResult(url=f"{files_url}/{clip.video}", cover_image_url=f"{files_url}/{clip.cover}")
                   for clip in job.outputs] if status == "SUCCESS" else []
        error = TaskError(code=job.error.code, message=job.error.message) if job.error else None
        return cls(model=job.spec.get("model") or "", request_id=job.meta.get("request_id") or job.id,
                   task_status=status, video_result=results, progress=job.progress, error=error)
