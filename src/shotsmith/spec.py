"""The one validated request type.

Every request field is declared here, once: its type, default, limits and help.
Every surface (CLI, the three HTTP contracts, the studio) turns its input into a
`GenerationSpec`; the wire models copy the fields they expose with `wire_fields()`
and keep only their contract's own names. Validation happens once, when the spec
is built (`build_spec`), and resolves the model entry once; the checks that read
files (the first-frame image, the LoRA) are one explicit step, `check_inputs()`,
run by the surface before it queues or renders. Errors are typed (`SpecError`,
a `FieldError`): they carry the field and the kind of rule, never parsed from text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from shotsmith.errors import FieldError
from shotsmith.models.registry import ModelEntry, cache_choices_text, parse_cache, resolve
from shotsmith.settings import MAX_IMAGE_PIXELS
from shotsmith.text import check_name, clean_prompt

MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**32 - 1
MAX_SECONDS = 3600  # any model's own limit is lower; this bound keeps the arithmetic finite
PROMPT_FIELDS = ("prompt", "negative_prompt", "enhanced_prompt")
NAME_FIELDS = ("image", "last_image", "video", "extend_from", "model", "upscaler", "style", "lora", "cache")
MAX_EXTENSIONS = 6  # a clip is extended at most this many times (as in the hosted API) ...
MAX_EXTENDED_SECONDS = 120  # ... and an extended clip is at most this long in total
DEFAULT_EDIT_STRENGTH = 0.6


# Every typed request error (unknown model, bad cache option, unusable LoRA, ...) is a
# FieldError; SpecError is its name where a request is checked.
SpecError = FieldError


def parse_size(text: str, field: str = "size") -> tuple[int, int]:
    """'1440x960' -> (1440, 960), with a clear error for anything else."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() for p in parts):
        raise SpecError(field, f"'{str(text)[:40]}' is not a size like 1440x960 (WIDTHxHEIGHT)")
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


def check_video(path: Path, field: str = "video") -> dict:
    """Probe a source clip once (container, stream, a decodable first frame), so a bad upload
    fails here with the field's name, not in the worker. Returns the probe (size, fps, frames)."""
    from shotsmith.post.media import PostError, iter_frames, probe_video

    if not path.is_file():
        raise SpecError(field, f"file {path} does not exist")
    try:
        info = probe_video(path)
        if info["width"] * info["height"] > MAX_IMAGE_PIXELS:
            raise SpecError(field, f"video is {info['width']}x{info['height']}, over the {MAX_IMAGE_PIXELS} "
                            "pixel limit")
        if not any(True for _ in iter_frames(path, [0])):
            raise PostError("no decodable frame")
    except SpecError:
        raise
    except (PostError, OSError, ValueError) as exc:
        raise SpecError(field, f"{path.name} is not a readable video ({str(exc)[:120]})") from None
    return info


def source_output_defaults(info: dict) -> dict:
    """An edit or an extension keeps its source clip's look unless the request says otherwise:
    the output size (to the nearest multiples of 16) and frame rate of the probed source
    (`check_video`), for the fields a surface left unset."""
    def side(pixels) -> int:
        return min(4096, max(16, int(round(pixels / 16)) * 16))

    out = {}
    if info.get("width") and info.get("height"):
        out["width"], out["height"] = side(info["width"]), side(info["height"])
    if info.get("fps"):
        out["fps"] = min(60, max(1, round(float(info["fps"]))))
    return out


def audio_models() -> list[str]:
    from shotsmith.models.registry import ENTRIES

    return [name for name, entry in ENTRIES.items() if entry.audio]


def last_frame_models() -> list[str]:
    from shotsmith.models.registry import ENTRIES

    return [name for name, entry in ENTRIES.items() if entry.last_frame]


class GenerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="What to film")
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS, description="What to avoid")
    image: str | None = Field(None, description="First-frame image file (image-to-video)")
    last_image: str | None = Field(None, description="Last-frame image file: the clip ends on it "
                                   "(first+last keyframes; needs image and a model that can hold a last frame)")
    video: str | None = Field(None, description="Source clip file to edit with the prompt (video-to-video, "
                              "on a text-to-video model)")
    strength: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                   description="How far an edit moves from the source clip: 0 gives it back, "
                                   f"1 ignores it (default {DEFAULT_EDIT_STRENGTH}; edits only)")
    extend_from: str | None = Field(None, description="Clip file to continue: `seconds` more follow its last "
                                    "frame (chained image-to-video), stitched into one clip")
    model: str | None = Field(None, description="Registry name or local diffusers folder; default by task")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Seed; omitted = random, always reported")
    candidates: int = Field(1, ge=1, le=4, description="Clips with distinct seeds, 1-4")
    steps: int | None = Field(None, ge=1, le=200, description="Denoising steps (default per model)")
    guidance: float | None = Field(None, ge=0.0, le=30.0, allow_inf_nan=False,
                                   description="Classifier-free guidance scale (default per model)")
    native_width: int | None = Field(None, ge=16, le=2048, description="Native render width (default per model)")
    native_height: int | None = Field(None, ge=16, le=2048, description="Native render height (default per model)")
    frames: int | None = Field(None, ge=1, le=321, description="Native frame count (model rule: 8k+1 or 16k+1)")
    width: int = Field(1440, ge=16, le=4096, description="Output width after upscaling (multiple of 16)")
    height: int = Field(960, ge=16, le=4096, description="Output height after upscaling (multiple of 16)")
    seconds: float | None = Field(None, allow_inf_nan=False,
                                  description="Clip length in seconds (the nearest frame count the model allows)")
    fps: int = Field(24, ge=1, le=60, description="Output frame rate after interpolation, 1-60")
    interpolation: Literal["minterpolate", "blend", "none"] = Field(
        "minterpolate", description="How frames are added up to fps: minterpolate, blend or none")
    upscaler: str = Field("lanczos", max_length=1000,
                          description="'lanczos' or a super-resolution weights file (spandrel)")
    style: str | None = Field(None, max_length=64, description="Style preset for the prompt agent")
    enhance: bool = Field(True, description="Rewrite the prompt with the prompt agent")
    enhance_backend: Literal["rules", "llm"] = Field("rules", description="Prompt agent backend")
    enhanced_prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS,
                                        description="Use this prompt as is (set by the prompt agent otherwise)")
    lora: str | None = Field(None, max_length=1000, description="LoRA adapter: a name in the LoRA folder or a "
                             "path to one (`shotsmith train lora --out`)")
    lora_scale: float = Field(1.0, ge=-4.0, le=4.0, allow_inf_nan=False,
                              description="LoRA strength, -4 to 4 (0 = the base model)")
    audio: bool | None = Field(None, description="A sound track made with the picture, in the MP4 (AAC): only "
                               "models that make sound (default: on for them, off for the rest)")
    cache: str | None = Field(None, max_length=64, description="Step cache for denoising: "
                              f"{cache_choices_text()} (default per model)")

    _entry: ModelEntry | None = PrivateAttr(None)

    @field_validator(*PROMPT_FIELDS)
    @classmethod
    def _clean_prompt(cls, value: str | None, info) -> str | None:
        return None if value is None else clean_prompt(value, info.field_name)

    @field_validator(*NAME_FIELDS)
    @classmethod
    def _clean_name(cls, value: str | None, info) -> str | None:
        return None if value is None else check_name(value, info.field_name)

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
    def _lora_text(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("seconds")
    @classmethod
    def _positive_seconds(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= MAX_SECONDS:
            raise ValueError(f"seconds must be more than 0 and at most {MAX_SECONDS} (got {value:g})")
        return value

    @field_validator("cache")
    @classmethod
    def _known_cache(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, knob = parse_cache(value)
        return name if knob is None else f"{name}:{knob:g}"  # one spelling per setting, for records

    @property
    def operation(self) -> Literal["generate", "edit", "extend"]:
        """What the request does: a new clip, an edit of `video`, or a continuation of `extend_from`."""
        return "edit" if self.video else "extend" if self.extend_from else "generate"

    @property
    def task(self) -> Literal["t2v", "i2v"]:
        """The model task the request needs: an image or a clip to continue needs image-to-video."""
        return "i2v" if self.image or self.extend_from else "t2v"

    def _operation_rules(self) -> None:
        """Which inputs go together; checked before the model is resolved, so errors name the input."""
        if self.video and self.extend_from:
            raise SpecError("video", "give either a clip to edit (video) or one to extend (extend_from), not both")
        if self.video and self.image:
            raise SpecError("image", "an edit starts from its source video and takes no first-frame image")
        if self.extend_from and self.image:
            raise SpecError("image", "an extension starts from its source clip's last frame and takes no "
                            "first-frame image")
        if self.strength is not None and not self.video:
            raise SpecError("strength", "only an edit (a source video) takes a strength")
        if self.last_image and not self.image:
            raise SpecError("last_image", "a last frame needs a first frame too (image)", "missing")

    @model_validator(mode="after")
    def _model_rules(self) -> "GenerationSpec":
        self._operation_rules()
        entry = self._entry = resolve(self.model, self.task)  # resolved once
        # before the image rules: a last frame on a text-to-video model is named as such
        if self.last_image and not entry.last_frame:
            kind = "is text-to-video and " if entry.task == "t2v" else ""
            raise SpecError("last_image", f"model {entry.name} {kind}cannot hold a last frame (models that can: "
                            f"{', '.join(last_frame_models()) or 'none'})")
        if self.lora and not entry.rules.lora:
            raise SpecError("lora", f"{entry.rules.title} model {entry.name} takes no LoRA (diffusers has no LoRA "
                            "loader for its pipeline)")
        if self.audio and not entry.audio:
            raise SpecError("audio", f"model {entry.name} makes silent clips (models with sound: "
                            f"{', '.join(audio_models()) or 'none'}); send false or leave it out")
        if self.video and entry.task != "t2v":
            raise SpecError("model", f"model {entry.name} is image-to-video; an edit (video) runs on a "
                            "text-to-video model")
        if self.video and not entry.can_edit:
            raise SpecError("video", f"{entry.rules.title} model {entry.name} has no video-to-video pipeline; "
                            "pick a model that can edit")
        if self.extend_from and entry.task != "i2v":
            raise SpecError("model", f"model {entry.name} is text-to-video; an extension runs on an "
                            "image-to-video model")
        if entry.task == "i2v" and not (self.image or self.extend_from):
            raise SpecError("image", f"model {entry.name} is image-to-video and needs a first-frame image")
        if entry.task == "t2v" and self.image:
            raise SpecError("image", f"model {entry.name} is text-to-video and takes no image (pick an i2v model)")
        if entry.task == "t2v" and not self.prompt:
            raise SpecError("prompt", "a text-to-video request needs a prompt", "missing")
        if self.extend_from:
            if self.seconds is not None and self.seconds > MAX_EXTENDED_SECONDS:
                raise SpecError("seconds", f"an extension adds at most {MAX_EXTENDED_SECONDS} s "
                                f"(got {self.seconds:g})")
            return self  # `seconds` is the added length, made of several segments: not one render's limit
        if self.seconds is not None and not entry.allowed_frames(entry.frames_for_seconds(self.seconds)):
            raise SpecError("seconds", f"{self.seconds:g} s is longer than model {entry.name} renders "
                            f"(at most {entry.max_frames / entry.fps:g} s)")
        frames = self.native_frames()
        if not entry.allowed_frames(frames):
            raise SpecError("frames", f"{entry.rules.title} model {entry.name} needs {entry.frame_step}k+1 frames, "
                            f"at most {entry.max_frames} (got {frames})")
        if self.last_image and frames == 1:
            raise SpecError("last_image", "a one-frame clip has no last frame apart from its first; ask for "
                            f"{1 + entry.frame_step} frames or more")
        w, h = self.native_size()
        if entry.fixed_size and (w, h) != (entry.width, entry.height):
            raise SpecError("native_width", f"{entry.name} only renders {entry.width}x{entry.height}")
        for name, side in (("native_width", w), ("native_height", h)):
            if side % entry.size_multiple:
                raise SpecError(name, f"{entry.rules.title} model {entry.name} renders sizes in multiples of "
                                f"{entry.size_multiple} (got {side})")
        return self

    def check_inputs(self) -> "GenerationSpec":
        """The checks that read files: the first-frame image decodes, the LoRA exists and fits the
        model. Run once by the surface that accepted the request, before it queues or renders."""
        if self.image:
            check_image(Path(self.image))
        if self.last_image:
            check_image(Path(self.last_image), "last_image")
        for name in ("video", "extend_from"):
            if getattr(self, name):
                check_video(Path(getattr(self, name)), name)
        if self.extend_from:
            self.check_extension()
        if self.lora:
            from shotsmith.models.lora import resolve_lora

            resolve_lora(self.lora, self.entry().name)
        return self

    def check_extension(self) -> None:
        """The hosted API's limits, read from the source clip: at most MAX_EXTENSIONS extensions
        of one clip, at most MAX_EXTENDED_SECONDS in total."""
        from shotsmith.engine.extend import added_seconds, segment_frames
        from shotsmith.post.source import probe_source, source_segments

        segment_frames(self, self.entry())  # SpecError naming `frames` for a segment length the model can't render
        source = probe_source(self.extend_from)
        _, extensions = source_segments(self.extend_from)
        if extensions >= MAX_EXTENSIONS:
            raise SpecError("extend_from", f"{source.name} has been extended {extensions} times already; "
                            f"a clip is extended at most {MAX_EXTENSIONS} times")
        total = source.duration + added_seconds(self, self.entry())
        if total > MAX_EXTENDED_SECONDS + 0.01:
            raise SpecError("seconds", f"{source.name} lasts {source.duration:.2f} s; adding "
                            f"{total - source.duration:g} s makes {total:.2f} s, over the "
                            f"{MAX_EXTENDED_SECONDS} s limit for an extended clip")

    # Derived values: computed from the spec and its model entry, never stored twice.
    def entry(self) -> ModelEntry:
        if self._entry is None:  # a spec made with model_construct() skips validation
            self._entry = resolve(self.model, self.task)
        return self._entry

    def native_frames(self, entry: ModelEntry | None = None) -> int:
        entry = entry or self.entry()
        if self.frames is not None:
            return self.frames
        return entry.frames if self.seconds is None else entry.frames_for_seconds(self.seconds)

    def native_size(self, entry: ModelEntry | None = None) -> tuple[int, int]:
        entry = entry or self.entry()
        return self.native_width or entry.width, self.native_height or entry.height

    def denoise_steps(self, entry: ModelEntry | None = None) -> int:
        """The denoising steps this request runs: its own, else the model's default."""
        return self.steps or (entry or self.entry()).steps

    def guidance_scale(self, entry: ModelEntry | None = None) -> float:
        """The guidance scale this request runs with: its own (0 counts), else the model's default."""
        return (entry or self.entry()).guidance if self.guidance is None else self.guidance

    def cache_choice(self, entry: ModelEntry | None = None) -> str:
        """The step cache this request runs with: its own, else the model's default."""
        return self.cache or (entry or self.entry()).cache

    def with_sound(self, entry: ModelEntry | None = None) -> bool:
        """Whether the clip carries the model's sound track: the request's choice, else yes where there is one."""
        entry = entry or self.entry()
        return entry.audio and self.audio is not False

    def negative_text(self, entry: ModelEntry | None = None) -> str:
        """The negative prompt this request runs with: its own, else its model family's habit."""
        return self.negative_prompt or (entry or self.entry()).negative_prompt or ""

    def model_prompt(self) -> str:
        """The text the model reads: the enhanced prompt when the agent wrote one."""
        return self.enhanced_prompt or self.prompt

    def cost(self) -> float:
        """What the request asks of the machine, in giga pixel-steps: output pixels x native
        frames x denoising steps x candidates / 1e9 (the server caps it per request); an
        extension renders one segment's frames per segment."""
        entry = self.entry()
        steps = self.denoise_steps(entry)
        if self.extend_from:  # one render of a segment's frames per segment
            from shotsmith.engine.extend import segment_count, segment_frames

            frames = segment_frames(self, entry) * segment_count(self, entry)
        else:
            frames = self.native_frames()
        return self.width * self.height * frames * steps * self.candidates / 1e9


def wire_fields(*names: str, prefix: str = "") -> dict[str, Any]:
    """Optional copies of spec fields for a wire model (`pydantic.create_model`): the same type,
    limits and help text, default None ("not given"), so a field is declared only here."""
    out = {}
    for name in names:
        info = GenerationSpec.model_fields[name]
        inner = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        out[name] = (Optional[inner], Field(None, description=prefix + (info.description or "")))
    return out


def spec_default(name: str):
    """A spec field's default, for surfaces that show it (CLI options, the studio)."""
    return GenerationSpec.model_fields[name].default


def spec_help(name: str) -> str:
    return GenerationSpec.model_fields[name].description or ""


def error_kind(err: dict) -> tuple[str, str]:
    """(field, kind) of one pydantic error: typed errors carry theirs; a too-long prompt is its own kind."""
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, FieldError):
        return original.field, original.kind
    field = ".".join(str(p) for p in err["loc"])
    if err.get("type") == "string_too_long" and field in PROMPT_FIELDS:
        return field, "prompt_too_long"
    return field, "missing" if err.get("type") == "missing" else "invalid"


def validation_message(exc: ValidationError) -> str:
    """One line per problem, each naming the field: for CLIs and API error bodies."""
    lines = []
    for err in exc.errors():
        original = (err.get("ctx") or {}).get("error")
        msg = str(original) if isinstance(original, FieldError) else err["msg"].removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"])
        lines.append(msg if not field or msg.startswith(field) else f"{field}: {msg}")
    return "; ".join(lines)


def build_spec(**values) -> GenerationSpec:
    """Validate keyword values (None = not given) into a spec; SpecError names the first field at
    fault and its kind, and its message lists every problem."""
    try:
        return GenerationSpec(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        field, kind = error_kind(exc.errors()[0])
        message = validation_message(exc)
        raise SpecError(field, message.removeprefix(f"{field}: ") if field else message, kind) from None
    except FieldError as exc:  # raised by the model rules, outside pydantic's field validators
        raise SpecError(exc.field, exc.message, exc.kind) from None
