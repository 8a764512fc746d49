"""What the three API surfaces share: the app's services, model names, sizes,
durations, staging an input image, and submitting a job.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, field_validator

from shotsmith.api.errors import ApiError
from shotsmith.api.media import INPUT_FILE_NAMES, stage_input
from shotsmith.settings import Settings
from shotsmith.jobs import Job, JobBackend
from shotsmith.models.registry import DEFAULT_I2V_MODEL, DEFAULT_MODEL, ENTRIES, is_available
from shotsmith.spec import PROMPT_FIELDS, GenerationSpec, SpecError, build_spec, parse_size
from shotsmith.text import check_name


class WireModel(BaseModel):
    """Base of every request model of every contract: each text field is clean text.

    Lone surrogates are refused for the whole body by `read_body`; here one-line fields
    (names, ids, sizes) also refuse control characters, and free-text fields are left to
    the spec's prompt rule (controls dropped)."""

    model_config = ConfigDict(extra="forbid")
    free_text: ClassVar[tuple[str, ...]] = PROMPT_FIELDS
    # Image references: base64 may be wrapped over lines; the media decoder checks these
    images: ClassVar[tuple[str, ...]] = ("image", "last_image", "image_url")

    @field_validator("*", mode="after")
    @classmethod
    def _clean_names(cls, value, info):
        if isinstance(value, str) and info.field_name not in cls.free_text + cls.images:
            check_name(value, info.field_name)
        return value


@dataclass
class Services:
    settings: Settings
    backend: JobBackend


def services(request: Request) -> Services:
    return request.app.state.services


def base_url(request: Request, settings: Settings) -> str:
    """Root of the links in answers: SHOTSMITH_PUBLIC_URL, else '' (links relative to the server root).
    Never the request's Host header: a client must not choose the host its links point to."""
    return settings.public_url or ""


def registry_key(name: str, settings: Settings, field: str = "model") -> str:
    """A registry name (or an alias of one), whether or not its weights are here. Never a folder:
    no client string becomes a path."""
    key = str(name).strip().lower()
    key = settings.model_aliases.get(key, key)
    if key not in ENTRIES:
        known = ", ".join(list(ENTRIES) + sorted(settings.model_aliases))
        raise ApiError("unknown_model", f"{field}: unknown model '{str(name)[:80]}' (known: {known})", field)
    return key


def model_name(name: str | None, settings: Settings, task: str, field: str = "model") -> str:
    """A registry name (or an alias of one) whose weights this server has or may fetch."""
    if name is None or not str(name).strip():
        return DEFAULT_I2V_MODEL if task == "i2v" else DEFAULT_MODEL
    key = registry_key(name, settings, field)
    if not is_available(ENTRIES[key]) and (settings.hf_offline or not settings.allow_downloads):
        # Never start a multi-GB download because a client asked: the operator decides.
        how = ("this server is offline" if settings.hf_offline else
               "the operator has not allowed downloads (serve --allow-downloads)")
        raise ApiError("unknown_model", f"{field}: model '{key}' is not on this server and {how}; the operator "
                       "can put its diffusers folder in the server's models folder (`shotsmith models`)", field)
    return key


def lora_name(name: str | None, field: str = "lora") -> str | None:
    """A LoRA from the server's LoRA folder, by name. Never a path: no client string becomes a path."""
    if name is None or not str(name).strip():
        return None
    from shotsmith.models.lora import list_loras

    text = str(name).strip()
    if os.sep in text or "/" in text or text.startswith(".") or text.endswith(".safetensors"):
        raise ApiError("invalid", f"{field}: give the name of a LoRA on this server (GET /api/v1/loras), "
                       "not a path", field)
    if text not in list_loras():
        known = ", ".join(list_loras()) or "none installed"
        raise ApiError("invalid", f"{field}: unknown LoRA '{text[:80]}' (known: {known})", field)
    return text


def output_size(text: str | None, field: str = "size") -> tuple[int | None, int | None]:
    """'1440x960' -> (1440, 960); the spec then checks the multiple-of-16 and range rules."""
    if text is None:
        return None, None
    try:
        return parse_size(str(text), field)
    except SpecError as exc:
        raise ApiError("invalid", str(exc), field) from None


# Every contract takes the output size as one "size" field: errors about width/height name it.
SIZE_FIELDS = {"width": "size", "height": "size"}


def request_spec(svc: "Services", values: dict, files: dict[str, Path] | None = None,
                 renames: dict[str, str] | None = None) -> GenerationSpec:
    """A contract's values (in spec names) and its staged input files ({spec field: path}, see
    `submit_job`) -> the validated spec: the server's rules on model and LoRA names, the spec's own
    rules, the file checks, then the cost cap. `renames` maps a spec field to the contract's name
    for it, so an error names the field the client sent."""
    renames = {**SIZE_FIELDS, **(renames or {})}
    files = files or {}
    values = {**values, **{name: str(path) for name, path in files.items()}}
    values.setdefault("image", None)
    task = "i2v" if files.get("image") or files.get("extend_from") else "t2v"
    try:
        values["model"] = model_name(values.get("model"), svc.settings, task, renames.get("model", "model"))
        values["lora"] = lora_name(values.get("lora"), renames.get("lora", "lora"))
        spec = build_spec(**values).check_inputs()
    except SpecError as exc:
        message = exc.message
        for spec_name, wire_name in renames.items():
            message = message.replace(f"{spec_name}: ", f"{wire_name}: ")
        message = "; ".join(dict.fromkeys(message.split("; ")))  # width and height may say the same of size
        raise SpecError(renames.get(exc.field, exc.field), message, exc.kind) from None
    limit = svc.settings.max_request_cost
    if limit and spec.cost() > limit:
        raise SpecError("candidates", f"this request asks for {spec.cost():.1f} giga pixel-steps (output pixels x "
                        f"frames x steps x candidates), over this server's limit of {limit:g}; lower the size, "
                        "steps, length or candidates", "too_costly")
    return spec


def native_seconds(spec: dict) -> float:
    """The clip length a stored spec renders, from the model's frame rule (no file access)."""
    entry = ENTRIES.get(spec.get("model") or DEFAULT_MODEL) or ENTRIES[DEFAULT_MODEL]
    frames = spec.get("frames")
    if frames is None:
        frames = entry.frames if spec.get("seconds") is None else entry.frames_for_seconds(spec["seconds"])
    return frames / entry.fps


def submit_job(svc: Services, owner: str, build: Callable[[dict[str, Path]], GenerationSpec], *,
               inputs: dict[str, object] | None = None, source: str, meta: dict | None = None) -> Job:
    """Stage the request's input files under a new job folder (`inputs`: {spec field: a decoded
    image, a server file to copy, or uploaded bytes}; see media.stage_input), build the spec from
    their paths (`request_spec`), queue it; clean up on any error."""
    backend = svc.backend
    job_id = backend.new_job_id()
    folder = backend.job_dir(job_id)
    try:
        files = {name: stage_input(value, folder, name) for name, value in (inputs or {}).items()
                 if value is not None}
        spec = build(files)
        return backend.submit(owner, spec, job_id=job_id, source=source, meta=meta)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def remix_job(svc: Services, owner: str, source_id: str, prompt: str, *, source: str) -> Job:
    """A new job with a completed job's settings and first seed and a new prompt (the agent runs
    again on it); an image-to-video source gives its own staged input image, never another path."""
    original = svc.backend.get(owner, source_id)
    if original.status != "completed":
        raise ApiError("conflict", f"video '{original.id}' is {original.status}; only a completed video can be "
                       "remixed", "video_id")
    # Every input file (first/last frame, a source clip) is staged again from the source job's own
    # folder under the server's name for it: never a path taken from a stored spec.
    staged = {name: svc.backend.job_dir(original.id) / file_name for name, file_name in INPUT_FILE_NAMES.items()
              if original.spec.get(name)}
    values = {**original.spec, "prompt": prompt, "enhanced_prompt": None, **{name: None for name in INPUT_FILE_NAMES}}
    if original.seeds:
        values["seed"] = original.seeds[0]
    return submit_job(svc, owner, lambda files: request_spec(svc, values, files), inputs=staged,
                      source=source, meta={"remixed_from": original.id, **_source_links(original)})


def _source_links(job: Job) -> dict:
    """A remix of an edit or extension stays linked to the same source (api/sources.py)."""
    from shotsmith.api.sources import SOURCE_META

    return {name: job.meta[name] for name in SOURCE_META if name in job.meta}
