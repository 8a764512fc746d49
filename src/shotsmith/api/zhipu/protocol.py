"""Wire schema of Zhipu BigModel's video generation API, fields in the upstream order.

The official SDK sends every argument, unset ones as explicit null: null means
"not given". shotsmith's extensions are marked "(shotsmith)".
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shotsmith.api.common import check_prompt, clip_seconds, lora_name, model_name, output_size
from shotsmith.api.errors import ApiError
from shotsmith.api.settings import Settings
from shotsmith.jobs import Job
from shotsmith.models.registry import ENTRIES
from shotsmith.spec import GenerationSpec, build_spec

TaskStatus = Literal["PROCESSING", "SUCCESS", "FAIL"]


class VideoGenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., min_length=1, description="A shotsmith model name, e.g. cogvideox-shapes")
    prompt: str | None = Field(None, description="What to film (prompt and image_url may not both be empty)")
    image_url: str | list[str] | None = Field(
        None, description="First frame: http(s) URL, data:image/...;base64 URL or base64. A [first, last] pair "
                          "is rejected: no shotsmith model conditions on a last frame")
    quality: Literal["speed", "quality"] | None = Field(
        None, description="'quality' (default): the model's steps; 'speed': half the steps and blend "
                          "interpolation")
    with_audio: bool | None = Field(None, description="Only false: shotsmith makes silent clips")
    size: str | None = Field(None, description="Output size 'WIDTHxHEIGHT' (multiples of 16)")
    fps: int | None = Field(None, description="Output frame rate 1-60 (upstream 30 or 60)")
    duration: float | None = Field(None, description="Clip length in seconds (upstream 5 or 10)")
    request_id: str | None = Field(None, description="Your id for the task; echoed back (generated if absent)")
    user_id: str | None = Field(None, description="End user id, 6-128 characters; stored, not used")
    watermark_enabled: bool | None = Field(None, description="Only false: shotsmith adds no watermark")
    sensitive_word_check: dict | None = Field(None, description="Accepted and ignored: shotsmith has no "
                                                                 "content filter")
    # (shotsmith) extensions
    negative_prompt: str | None = Field(None, description="(shotsmith) What to avoid")
    seed: int | None = Field(None, description="(shotsmith) Seed; omitted = random")
    candidates: int | None = Field(None, description="(shotsmith) Clips with distinct seeds, 1-4")
    steps: int | None = Field(None, description="(shotsmith) Denoising steps (overrides quality)")
    guidance: float | None = Field(None, description="(shotsmith) Classifier-free guidance scale")
    interpolation: Literal["minterpolate", "blend", "none"] | None = Field(None, description="(shotsmith)")
    style: str | None = Field(None, description="(shotsmith) Style preset for the prompt agent")
    enhance: bool | None = Field(None, description="(shotsmith) Rewrite the prompt with the agent (default on)")
    lora: str | None = Field(None, description="(shotsmith) LoRA name (GET /api/v1/loras)")
    lora_scale: float | None = Field(None, description="(shotsmith) LoRA strength, -4 to 4 (default 1)")
    cache: str | None = Field(None, description="(shotsmith) Step cache (default per model)")

    def check(self) -> None:
        """The rules that come before any work: each error names its field."""
        if not self.model or not self.model.strip():
            raise ApiError("missing", "model: is required (e.g. cogvideox-shapes)", "model")
        if not (self.prompt or "").strip() and not self.image_url:
            raise ApiError("missing", "prompt: prompt and image_url may not both be empty", "prompt")
        check_prompt(self.prompt)
        check_prompt(self.negative_prompt, "negative_prompt")
        if self.with_audio:
            raise ApiError("invalid", "with_audio: shotsmith makes silent clips; send false or leave it out",
                           "with_audio")
        if self.watermark_enabled:
            raise ApiError("invalid", "watermark_enabled: shotsmith adds no watermark; send false or leave it out",
                           "watermark_enabled")
        if self.user_id is not None and not 6 <= len(self.user_id) <= 128:
            raise ApiError("invalid", f"user_id: must be 6-128 characters (got {len(self.user_id)})", "user_id")
        if self.request_id is not None and not 1 <= len(self.request_id) <= 128:
            raise ApiError("invalid", f"request_id: must be 1-128 characters (got {len(self.request_id)})",
                           "request_id")

    def image_reference(self) -> str | None:
        """The one first-frame reference, or None."""
        value = self.image_url
        if isinstance(value, list):
            if len(value) == 2:
                raise ApiError("invalid", "image_url: a [first, last] frame pair is not supported; shotsmith "
                               "models condition on the first frame only", "image_url")
            if len(value) != 1:
                raise ApiError("invalid", f"image_url: give one image (got a list of {len(value)})", "image_url")
            value = value[0]
        return value or None

    def to_spec(self, image: Path | None, settings: Settings) -> GenerationSpec:
        name = model_name(self.model, settings, "i2v" if image else "t2v")
        entry = ENTRIES[name]
        width, height = output_size(self.size)
        seconds = clip_seconds(self.duration, entry, "duration")
        steps, interpolation = self.steps, self.interpolation
        if self.quality == "speed":
            steps = steps or max(1, entry.steps // 2)
            interpolation = interpolation or "blend"
        return build_spec(
            prompt=self.prompt or "", negative_prompt=self.negative_prompt, image=str(image) if image else None,
            model=name, seed=self.seed, candidates=self.candidates, steps=steps, guidance=self.guidance,
            width=width, height=height, seconds=seconds, fps=self.fps, interpolation=interpolation,
            style=self.style, enhance=self.enhance, lora=lora_name(self.lora), lora_scale=self.lora_scale,
            cache=self.cache,
        )


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
