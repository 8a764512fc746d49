"""Wire schema of the OpenAI Videos API, fields in the upstream order.

shotsmith's own extensions are marked "(shotsmith)". Requests turn into the one
internal `GenerationSpec` with `to_spec()`; responses are built from job records
with `VideoObject.from_job()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shotsmith.api.common import check_prompt, clip_seconds, lora_name, model_name, native_seconds, output_size
from shotsmith.api.settings import Settings
from shotsmith.jobs import Job
from shotsmith.models.registry import ENTRIES
from shotsmith.spec import GenerationSpec, build_spec

Variant = Literal["video", "thumbnail", "spritesheet"]


class InputReference(BaseModel):
    """The JSON form of `input_reference`; a multipart request sends a file part instead."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, description="A data:image/...;base64 URL or an http(s) URL")
    file_id: str | None = Field(None, description="Not supported: shotsmith has no Files API")


def _as_text(value):
    """`seconds` is a string upstream; a JSON number is accepted too."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return value


class VideoCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(..., min_length=1, description="What to film")
    input_reference: InputReference | None = Field(None, description="First-frame image (image-to-video)")
    model: str | None = Field(None, description="Model name; omitted = cogvideox-shapes (or its i2v twin "
                                                "when an image is given)")
    seconds: str | None = Field(None, description="Clip length in seconds, e.g. '6'")
    size: str | None = Field(None, description="Output size 'WIDTHxHEIGHT', e.g. '1440x960' (multiples of 16)")
    # (shotsmith) extensions
    negative_prompt: str | None = Field(None, description="(shotsmith) What to avoid")
    seed: int | None = Field(None, description="(shotsmith) Seed; omitted = random, always reported")
    candidates: int | None = Field(None, description="(shotsmith) Clips with distinct seeds, 1-4")
    steps: int | None = Field(None, description="(shotsmith) Denoising steps (default per model)")
    guidance: float | None = Field(None, description="(shotsmith) Classifier-free guidance scale")
    fps: int | None = Field(None, description="(shotsmith) Output frame rate, 1-60 (default 24)")
    interpolation: Literal["minterpolate", "blend", "none"] | None = Field(None, description="(shotsmith)")
    style: str | None = Field(None, description="(shotsmith) Style preset for the prompt agent")
    enhance: bool | None = Field(None, description="(shotsmith) Rewrite the prompt with the agent (default on)")
    lora: str | None = Field(None, description="(shotsmith) LoRA name (GET /api/v1/loras)")
    lora_scale: float | None = Field(None, description="(shotsmith) LoRA strength, -4 to 4 (default 1)")
    cache: str | None = Field(None, description="(shotsmith) Step cache (default per model)")

    @field_validator("seconds", "size", mode="before")
    @classmethod
    def _number_as_text(cls, value):
        return _as_text(value)

    def to_spec(self, image: Path | None, settings: Settings) -> GenerationSpec:
        check_prompt(self.prompt)
        check_prompt(self.negative_prompt, "negative_prompt")
        name = model_name(self.model, settings, "i2v" if image else "t2v")
        width, height = output_size(self.size)
        seconds = clip_seconds(self.seconds, ENTRIES[name])
        return build_spec(
            prompt=self.prompt, negative_prompt=self.negative_prompt, image=str(image) if image else None,
            model=name, seed=self.seed, candidates=self.candidates, steps=self.steps, guidance=self.guidance,
            width=width, height=height, seconds=seconds, fps=self.fps, interpolation=self.interpolation,
            style=self.style, enhance=self.enhance, lora=lora_name(self.lora), lora_scale=self.lora_scale,
            cache=self.cache,
        )


class VideoRemixRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
