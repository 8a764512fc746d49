"""Extend: a clip continued by chained image-to-video segments.

Each segment starts from the last frame kept before it (the first from the source clip's
last frame), renders the model's native clip, and keeps its frames after the first (which
is the starting frame again), as many as the added length still needs. Each candidate is
its own chain from its own seed. The joins are corrected on the native frames before the
next segment starts from them (post/seams.py), so drift does not build up along a chain.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from shotsmith.engine.engine import (
    CancelFn,
    Engine,
    Progress,
    ProgressFn,
    _CandidateRun,
    encode_first_frame,
    pick_seeds,
)
from shotsmith.models.registry import ModelEntry
from shotsmith.post import seams
from shotsmith.spec import MAX_SEED, GenerationSpec, SpecError

SEGMENT_SEED_STEP = 7919  # segment j of a chain renders with seed + j * this (a prime: no overlap with candidates)
COLOUR_STRENGTH = 0.75  # how far each new frame's colour statistics move towards the source's last second


def segment_frames(spec: GenerationSpec, entry: ModelEntry) -> int:
    """Frames each segment renders: the spec's `frames`, else the model's native clip."""
    frames = spec.frames or entry.frames
    if not entry.allowed_frames(frames) or frames < 2:
        raise SpecError("frames", f"an extension segment on {entry.name} renders {entry.frame_step}k+1 frames "
                        f"({entry.frame_step + 1} to {entry.max_frames}; got {frames})")
    return frames


def added_seconds(spec: GenerationSpec, entry: ModelEntry) -> float:
    """The length an extension adds: `seconds`, else one segment's worth."""
    return spec.seconds if spec.seconds is not None else (segment_frames(spec, entry) - 1) / entry.fps


def plan_segments(spec: GenerationSpec, entry: ModelEntry) -> list[int]:
    """New native frames each segment keeps, e.g. 8 s at 4 fps of 25-frame segments -> [24, 8]."""
    needed = max(1, round(added_seconds(spec, entry) * entry.fps))
    per = segment_frames(spec, entry) - 1
    return [min(per, needed - start) for start in range(0, needed, per)]


def segment_count(spec: GenerationSpec, entry: ModelEntry) -> int:
    return math.ceil(max(1, round(added_seconds(spec, entry) * entry.fps)) / (segment_frames(spec, entry) - 1))


@dataclass
class Chain:
    """One candidate's continuation at native size and rate."""

    seed: int
    frames: np.ndarray  # the new frames after correction, uint8 (K, H, W, 3)
    raw: np.ndarray  # the same frames as the model made them (for measuring what correction does)
    segments: list[dict] = field(default_factory=list)  # seed, frames rendered, frames kept, per segment
    timings: dict[str, float] = field(default_factory=dict)
    # the sound the model made for the kept frames (a model with sound), float32 (channels, samples)
    audio: np.ndarray | None = None
    sample_rate: int | None = None


def kept_sound(audio: np.ndarray, rate: int, fps: float, keep: int) -> np.ndarray:
    """A segment's sound under the frames it keeps: frame 0 (the start frame again) is not kept,
    so its sound is not either; frames 1..keep are shown from 1/fps to (keep + 1)/fps."""
    from shotsmith.post.source import fit_audio

    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[None] if audio.ndim == 1 else audio
    return fit_audio(audio[:, round(rate / fps):], rate, keep / fps)


@torch.inference_mode()
def render_chains(engine: Engine, spec: GenerationSpec, start: np.ndarray, reference: np.ndarray,
                  on_progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                  correct: bool = True) -> list[Chain]:
    """Continue `start` (the source's last frame at native size) once per candidate.

    reference: the source's last second at native size, the colour the new frames are held to."""
    from PIL import Image

    report = on_progress or (lambda p: None)
    cancelled = should_cancel or (lambda: False)
    entry = spec.entry()
    steps = spec.denoise_steps(entry)
    guidance = spec.guidance_scale(entry)
    width, height = spec.native_size(entry)
    frames = segment_frames(spec, entry)
    plan = plan_segments(spec, entry)
    seeds = pick_seeds(spec.seed, spec.candidates)
    total = steps * len(plan) * len(seeds)
    ref_mean, ref_std = seams.colour_stats(reference)
    fade = max(1, round(entry.fps))  # the start's residual fades out over one second

    report(Progress("load", 0, total))
    pipe = engine.pipeline(entry)
    report(Progress("text", 0, total))
    t = time.perf_counter()
    prompt_call = engine.prompt_arguments(pipe, spec, entry, guidance)
    text_time = time.perf_counter() - t
    chains = []
    with engine.session(pipe, spec, entry):
        for c, seed in enumerate(seeds):
            def candidate_report(p: Progress, c=c) -> None:
                report(replace(p, candidate=c))

            kept_new, kept_raw, records, sounds = [], [], [], []
            timings = {"text": text_time, "denoise": 0.0, "decode": 0.0, "seams": 0.0}
            image = start
            for j, keep in enumerate(plan):
                segment_seed = (seed + j * SEGMENT_SEED_STEP) % (MAX_SEED + 1)
                picture = Image.fromarray(image)
                latent = (encode_first_frame(pipe, picture, height, width)
                          if entry.first_frame_lock and entry.rules.engine_decodes else None)
                call = {**prompt_call, **entry.rules.call_arguments(
                    entry, height=height, width=width, frames=frames, steps=steps, guidance=guidance, image=picture,
                    pipe=pipe)}
                run = _CandidateRun(pipe, call, latent, steps, total, candidate_report, cancelled, entry=entry,
                                    num_frames=frames)
                rendered = run(segment_seed, c * len(plan) + j)
                for key in ("denoise", "decode"):
                    timings[key] += rendered.timings.get(key, 0.0)
                t = time.perf_counter()
                raw = rendered.frames
                fixed = (seams.fade_residual(seams.match_colour(raw, ref_mean, ref_std, COLOUR_STRENGTH), image,
                                             fade) if correct else raw)
                timings["seams"] += time.perf_counter() - t
                kept_new.append(fixed[1:keep + 1])  # frame 0 is the start frame again: never repeated
                kept_raw.append(raw[1:keep + 1])
                if rendered.audio is not None:
                    sounds.append((kept_sound(rendered.audio, rendered.sample_rate, entry.fps, keep),
                                   rendered.sample_rate))
                records.append({"seed": segment_seed, "frames": frames, "kept": keep})
                image = fixed[keep]
            audio, rate = (np.concatenate([a for a, _ in sounds], axis=1), sounds[0][1]) if sounds else (None, None)
            chains.append(Chain(seed, np.concatenate(kept_new), np.concatenate(kept_raw), records, timings, audio,
                                rate))
    return chains
