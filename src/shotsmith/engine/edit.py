"""Edit (video-to-video): a source clip re-rendered with a prompt on a text-to-video model.

The family's video-to-video pipeline (CogVideoXVideoToVideoPipeline, WanVideoToVideoPipeline)
is built from the loaded text-to-video pipeline's own modules (nothing loads twice), encodes
the source frames, noises them to the level that `strength` picks and denoises from there:
1 starts from pure noise (text-to-video), small strengths keep the source's layout and
motion. Seeds, candidates, progress, cancel, step cache and LoRA go through the same code
as plain renders (`Engine.session`, `_CandidateRun`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from shotsmith.engine.engine import (
    CancelFn,
    Candidate,
    Engine,
    Progress,
    ProgressFn,
    RenderResult,
    _CandidateRun,
    padding_frames,
    pick_seeds,
)
from shotsmith.spec import DEFAULT_EDIT_STRENGTH, GenerationSpec


def edit_steps(steps: int, strength: float) -> int:
    """Denoising steps an edit runs: diffusers starts `strength` of the way into the schedule
    (int(steps * strength), so 0 for a strength below 1/steps: the source comes back as it is)."""
    return min(int(steps * strength), steps)


def edit_pipeline(engine: Engine, pipe, entry=None):
    """The video-to-video pipeline on a loaded text-to-video pipeline's modules, made once per pipeline."""
    import inspect

    cached = getattr(pipe, "_shotsmith_edit_pipeline", None)
    if cached is not None:
        return cached
    rules = entry.rules if entry is not None else _rules_of(pipe)
    cls = rules.pipeline_class("v2v")
    takes = inspect.signature(cls.__init__).parameters
    edit = cls(**{name: module for name, module in pipe.components.items() if name in takes})
    edit.set_progress_bar_config(disable=True)
    if getattr(pipe, "_all_hooks", None):
        # Model CPU offload: the copy puts its own hooks on the shared modules, and each
        # pipeline puts its own back at the end of its call (maybe_free_model_hooks).
        edit.enable_model_cpu_offload(device=getattr(pipe, "_offload_device", None))
    pipe._shotsmith_edit_pipeline = edit
    return edit


def _rules_of(pipe):
    from shotsmith.models.families import family_for_class

    found = family_for_class(type(pipe).__name__)
    if found is None:
        raise ValueError(f"{type(pipe).__name__} belongs to no known model family")
    return found[0]


def source_for_model(pipe, frames: np.ndarray, num_frames: int, pads: bool = True) -> list:
    """The source frames as the pipeline's input: PIL images, with copies of the first frame in
    front where CogVideoX 1.5 pads latent frames (its video-to-video pipeline does not pad, it
    refuses; `decode` drops the same latent frames again). pads=False for the other families."""
    from PIL import Image

    pad = padding_frames(pipe, num_frames) * pipe.vae_scale_factor_temporal if pads else 0
    images = [Image.fromarray(frame) for frame in frames]
    return [images[0]] * pad + images


@torch.inference_mode()
def render_edit(engine: Engine, spec: GenerationSpec, source: np.ndarray, on_progress: ProgressFn | None = None,
                should_cancel: CancelFn | None = None) -> RenderResult:
    """Edit `source` (uint8 (T, H, W, 3), already at the model's native size and frame count)."""
    report = on_progress or (lambda p: None)
    cancelled = should_cancel or (lambda: False)
    timings: dict[str, float] = {}
    entry = spec.entry()
    steps = spec.denoise_steps(entry)
    guidance = spec.guidance_scale(entry)
    strength = DEFAULT_EDIT_STRENGTH if spec.strength is None else spec.strength
    width, height = spec.native_size(entry)
    num_frames = spec.native_frames(entry)
    if source.shape != (num_frames, height, width, 3):
        raise ValueError(f"source frames are {source.shape}, expected {(num_frames, height, width, 3)}")
    seeds = pick_seeds(spec.seed, spec.candidates)
    run_steps = edit_steps(steps, strength)
    total = run_steps * len(seeds)

    report(Progress("load", 0, total))
    t = time.perf_counter()
    pipe = engine.pipeline(entry)
    timings["load"] = time.perf_counter() - t
    if run_steps == 0:
        # No step left to run: diffusers would start from an empty schedule. The edit of
        # strength 0 is the source itself, for every candidate.
        return RenderResult(entry, [Candidate(seed, source.copy()) for seed in seeds], 0, guidance,
                            width, height, num_frames, timings)

    report(Progress("text", 0, total))
    t = time.perf_counter()
    prompt_call = engine.prompt_arguments(pipe, spec, entry, guidance)
    timings["text"] = time.perf_counter() - t

    with engine.session(pipe, spec, entry):
        edit = edit_pipeline(engine, pipe, entry)
        call = {**prompt_call, **entry.rules.edit_arguments(
            entry, edit, video=source_for_model(pipe, source, num_frames, entry.rules.engine_decodes),
            strength=strength, height=height, width=width, frames=num_frames, steps=steps, guidance=guidance)}
        run = _CandidateRun(edit, call, None, run_steps, total, report, cancelled, entry=entry,
                            num_frames=num_frames)
        candidates = [run(seed, index) for index, seed in enumerate(seeds)]
    return RenderResult(entry, candidates, run_steps, guidance, width, height, num_frames, timings)
