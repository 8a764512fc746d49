"""What the three API surfaces share: the app's services, model names, sizes,
durations, staging an input image, and submitting a job.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fastapi import Request

from shotsmith.api.errors import ApiError
from shotsmith.api.media import save_input_image
from shotsmith.api.settings import Settings
from shotsmith.jobs import Job, JobBackend
from shotsmith.models.registry import DEFAULT_I2V_MODEL, DEFAULT_MODEL, ENTRIES, ModelEntry, is_available, models_dir
from shotsmith.spec import MAX_PROMPT_CHARS, GenerationSpec, SpecError, parse_size


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


def model_name(name: str | None, settings: Settings, task: str, field: str = "model") -> str:
    """A registry name (or an alias of one). Never a folder: no client string becomes a path."""
    if name is None or not str(name).strip():
        return DEFAULT_I2V_MODEL if task == "i2v" else DEFAULT_MODEL
    key = str(name).strip().lower()
    key = settings.model_aliases.get(key, key)
    if key not in ENTRIES:
        known = ", ".join(list(ENTRIES) + sorted(settings.model_aliases))
        raise ApiError("unknown_model", f"{field}: unknown model '{str(name)[:80]}' (known: {known})", field)
    if _offline() and not is_available(ENTRIES[key]):
        raise ApiError("unknown_model", f"{field}: model '{key}' is not downloaded on this server (offline); "
                       f"put its diffusers folder in {models_dir() / key}", field)
    return key


def lora_name(name: str | None, field: str = "lora") -> str | None:
    """A LoRA from the server's LoRA folder, by name. Never a path: no client string becomes a path."""
    if name is None or not str(name).strip():
        return None
    from shotsmith.models.lora import LoraError, list_loras, loras_dir, resolve_lora

    text = str(name).strip()
    if os.sep in text or "/" in text or text.startswith(".") or text.endswith(".safetensors"):
        raise ApiError("invalid", f"{field}: give the name of a LoRA on this server (GET /api/v1/loras), "
                       "not a path", field)
    try:
        resolve_lora(text)
    except LoraError as exc:
        known = ", ".join(list_loras()) or f"none; put LoRA folders in {loras_dir()}"
        message = str(exc) if "no LoRA named" not in str(exc) else f"{field}: unknown LoRA '{text[:80]}' (known: {known})"
        raise ApiError("invalid", message, field) from None
    return text


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_prompt(prompt: str | None, field: str = "prompt") -> None:
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError("prompt_too_long", f"{field}: {len(prompt)} characters, over the limit of "
                       f"{MAX_PROMPT_CHARS}", field)


def output_size(text: str | None, field: str = "size") -> tuple[int | None, int | None]:
    """'1440x960' -> (1440, 960); the spec then checks the multiple-of-16 and range rules."""
    if text is None:
        return None, None
    try:
        return parse_size(str(text), field)
    except SpecError as exc:
        raise ApiError("invalid", str(exc), field) from None


def max_seconds(entry: ModelEntry) -> float:
    return entry.max_frames / entry.fps


def clip_seconds(value, entry: ModelEntry, field: str = "seconds") -> float | None:
    """A requested duration ('6', 6, 6.5) checked against what the model can render."""
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        raise ApiError("invalid", f"{field}: '{str(value)[:40]}' is not a number of seconds", field) from None
    if not 0 < seconds <= 3600:
        raise ApiError("invalid", f"{field}: must be more than 0 (got {str(value)[:40]})", field)
    frames = entry.frames_for_seconds(seconds)
    if not entry.allowed_frames(frames):
        raise ApiError("invalid", f"{field}: {seconds:g} s is longer than model {entry.name} renders "
                       f"(at most {max_seconds(entry):g} s)", field)
    return seconds


def native_seconds(spec: dict) -> float:
    """The clip length a stored spec renders, from the model's frame rule (no file access)."""
    entry = ENTRIES.get(spec.get("model") or DEFAULT_MODEL) or ENTRIES[DEFAULT_MODEL]
    frames = spec.get("frames")
    if frames is None:
        frames = entry.frames if spec.get("seconds") is None else entry.frames_for_seconds(spec["seconds"])
    return frames / entry.fps


def submit_job(svc: Services, owner: str, build: Callable[[Path | None], GenerationSpec], *, image=None,
               copy_image_from: Path | None = None, source: str, meta: dict | None = None) -> Job:
    """Stage the input image under a new job folder, build the spec, queue it; clean up on any error."""
    backend = svc.backend
    job_id = backend.new_job_id()
    folder = backend.job_dir(job_id)
    try:
        image_path = None
        if image is not None:
            image_path = save_input_image(image, folder)
        elif copy_image_from is not None:
            folder.mkdir(parents=True, exist_ok=True)
            image_path = folder / copy_image_from.name
            shutil.copyfile(copy_image_from, image_path)
        spec = build(image_path)
        return backend.submit(owner, spec, job_id=job_id, source=source, meta=meta)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
