"""The one validated request type.

Every surface (CLI, HTTP API, studio) turns its input into a `GenerationSpec`;
the spec is checked once here against the model's rules and then travels
unchanged to the worker. Error messages name the field and the rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shotsmith.models.registry import ModelEntry, OptionError, UnknownModel, cache_choices_text, parse_cache, resolve

MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**32 - 1
MAX_IMAGE_PIXELS = 4096 * 4096


class SpecError(ValueError):
    """A request that breaks a rule; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message if message.startswith(field) else f"{field}: {message}")
        self.field = field
        self.message = message


def parse_size(text: str, field: str = "size") -> tuple[int, int]:
    """'1440x960' -> (1440, 960), with a clear error for anything else."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SpecError(field, f"'{text}' is not a size like 1440x960 (WIDTHxHEIGHT)")
    return int(parts[0]), int(parts[1])


def check_image(path: Path, field: str = "image") -> tuple[int, int]:
    """Open the image header and decode it once, so a bad file fails here, not in the worker."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise SpecError(field, f"file {path} does not exist")
    try:
        with Image.open(path) as img:
            size = img.size
            if size[0] * size[1] > MAX_IMAGE_PIXELS:
                raise SpecError(field, f"image is {size[0]}x{size[1]}, over the {MAX_IMAGE_PIXELS} pixel limit")
            img.load()
    except SpecError:
        raise
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise SpecError(field, f"{path.name} is not a readable image ({exc.__class__.__name__})") from None
    return size


class GenerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="What to film")
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    image: str | None = Field(None, description="First-frame image file (image-to-video)")
    model: str | None = Field(None, description="Registry name or local diffusers folder; default by task")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="None picks a random seed (always reported)")
    candidates: int = Field(1, ge=1, le=4, description="Clips with distinct seeds")
    steps: int | None = Field(None, ge=1, le=200)
    guidance: float | None = Field(None, ge=0.0, le=30.0)
    native_width: int | None = Field(None, ge=16, le=2048)
    native_height: int | None = Field(None, ge=16, le=2048)
    frames: int | None = Field(None, ge=1, le=321, description="Native frame count (model rule applies)")
    width: int = Field(1440, ge=16, le=4096, description="Output width after upscaling")
    height: int = Field(960, ge=16, le=4096)
    seconds: float | None = Field(None, description="Clip length; picks the nearest allowed frame count")
    fps: int = Field(24, ge=1, le=60, description="Output frame rate after interpolation")
    interpolation: Literal["minterpolate", "blend", "none"] = "minterpolate"
    upscaler: str = Field("lanczos", description="'lanczos' or a super-resolution weights file (spandrel)")
    style: str | None = Field(None, max_length=64, description="Style preset for the prompt agent")
    enhance: bool = True
    enhance_backend: Literal["rules", "llm"] = "rules"
    enhanced_prompt: str | None = Field(None, description="Set by the prompt agent; used instead of prompt")
    lora: str | None = Field(None, max_length=1000, description="LoRA adapter: a name in the LoRA folder "
                             "($SHOTSMITH_LORAS) or a path to one (`shotsmith train lora --out`)")
    lora_scale: float = Field(1.0, ge=-4.0, le=4.0, description="Strength of the LoRA (0 = the base model)")
    cache: str | None = Field(None, max_length=64, description="Step cache for denoising (diffusers enable_cache): "
                              f"{cache_choices_text()}; None uses the model's default")

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _strip_controls(cls, value: str) -> str:
        return "".join(ch for ch in value if ch in "\n\t" or ch.isprintable()).strip()

    @field_validator("width", "height", "native_width", "native_height")
    @classmethod
    def _multiple_of_16(cls, value: int | None, info) -> int | None:
        if value is not None and value % 16:
            raise ValueError(f"{info.field_name} must be a multiple of 16 (got {value})")
        return value

    @field_validator("style")
    @classmethod
    def _known_style(cls, value: str | None) -> str | None:
        from shotsmith.prompt import list_presets

        if value is not None and value not in list_presets():
            raise ValueError(f"style '{value}' is not a preset (known: {', '.join(list_presets())})")
        return value

    @field_validator("lora")
    @classmethod
    def _usable_lora(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from shotsmith.models.lora import LoraError, resolve_lora

        try:
            resolve_lora(value)
        except LoraError as exc:
            raise ValueError(str(exc).removeprefix("lora: ")) from None
        return value.strip()

    @field_validator("cache")
    @classmethod
    def _known_cache(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            name, knob = parse_cache(value)
        except OptionError as exc:
            raise ValueError(str(exc)) from None
        return name if knob is None else f"{name}:{knob:g}"  # one spelling per setting, for records

    @field_validator("seconds")
    @classmethod
    def _positive_seconds(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 20:
            raise ValueError(f"seconds must be more than 0 and at most 20 (got {value})")
        return value

    @model_validator(mode="after")
    def _model_rules(self) -> "GenerationSpec":
        entry = self.entry()
        if entry.task == "i2v" and not self.image:
            raise ValueError(f"image: model {entry.name} is image-to-video and needs a first-frame image")
        if entry.task == "t2v" and self.image:
            raise ValueError(f"image: model {entry.name} is text-to-video and takes no image (pick an i2v model)")
        if entry.task == "t2v" and not self.prompt:
            raise ValueError("prompt: a text-to-video request needs a prompt")
        frames = self.native_frames(entry)
        if not entry.allowed_frames(frames):
            rule = "8k+1" if entry.family == "1.0" else "16k+1"
            raise ValueError(f"frames: CogVideoX {entry.family} models need {rule} frames, at most "
                             f"{entry.max_frames} (got {frames})")
        w, h = self.native_size(entry)
        if entry.fixed_size and (w, h) != (entry.width, entry.height):
            raise ValueError(f"native_width/native_height: {entry.name} only renders {entry.width}x{entry.height}")
        if self.image:
            check_image(Path(self.image))
        return self

    # Derived values: computed from the spec and its model entry, never stored twice.
    def entry(self) -> ModelEntry:
        try:
            return resolve(self.model, "i2v" if self.image else "t2v")
        except UnknownModel as exc:
            raise ValueError(str(exc)) from None

    def native_frames(self, entry: ModelEntry | None = None) -> int:
        entry = entry or self.entry()
        if self.frames is not None:
            return self.frames
        return entry.frames if self.seconds is None else entry.frames_for_seconds(self.seconds)

    def native_size(self, entry: ModelEntry | None = None) -> tuple[int, int]:
        entry = entry or self.entry()
        return self.native_width or entry.width, self.native_height or entry.height

    def cache_choice(self, entry: ModelEntry | None = None) -> str:
        """The step cache this request runs with: its own, else the model's default."""
        return self.cache or (entry or self.entry()).cache

    def model_prompt(self) -> str:
        """The text the model reads: the enhanced prompt when the agent wrote one."""
        return self.enhanced_prompt or self.prompt


def validation_message(exc: ValidationError) -> str:
    """One line per problem, each naming the field: for CLIs and API error bodies."""
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"])
        lines.append(msg if not field or msg.startswith(field) else f"{field}: {msg}")
    return "; ".join(lines)


def build_spec(**values) -> GenerationSpec:
    """Validate keyword values into a spec, raising SpecError with a readable message."""
    try:
        return GenerationSpec(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or first["msg"].removeprefix("Value error, ").split(":")[0]
        raise SpecError(field, validation_message(exc)) from None
