"""Runs a GenerationSpec on a diffusers pipeline.

Reads like the pipeline's own `__call__`: resolve the model, pick seeds, encode the
prompt once for all candidates, denoise each candidate (progress and cancel go
through `callback_on_step_end`), decode, return frames with per-stage timings.
Pipelines stay loaded between calls, and so do the last few text embeddings (the
empty negative prompt is the same for nearly every request).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from shotsmith.models.loader import load_pipeline, set_cache
from shotsmith.models.lora import apply_lora, clear_lora
from shotsmith.models.registry import ModelEntry, OptionError
from shotsmith.spec import MAX_SEED, GenerationSpec


class Cancelled(Exception):
    """Raised between denoising steps when the caller asked to stop."""

    job_code = "cancelled"  # the code a failed job records (jobs/worker.py)


@dataclass
class Progress:
    stage: str  # load | text | denoise | decode
    step: int = 0  # denoising step within the whole request (all candidates)
    total: int = 0
    candidate: int = 0

    @property
    def percent(self) -> int:
        return int(100 * self.step / self.total) if self.total else 0


@dataclass
class Candidate:
    seed: int
    frames: np.ndarray  # uint8 (T, H, W, 3) at native size
    timings: dict[str, float] = field(default_factory=dict)
    audio: np.ndarray | None = None  # float32 (channels, samples), where the model makes sound
    sample_rate: int | None = None


@dataclass
class RenderResult:
    entry: ModelEntry
    candidates: list[Candidate]
    steps: int
    guidance: float
    width: int
    height: int
    frames: int
    timings: dict[str, float] = field(default_factory=dict)
    candidate_steps: int = 0  # steps each candidate ran over every stage (0: just `steps`)


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]

TEXT_CACHE_SIZE = 16  # embeddings kept per engine: 16 x 226 x 4096 bf16 is ~30 MB on a 5B model
THREADS_ENV = "SHOTSMITH_THREADS"
# First+last keyframes: how the last image becomes the last latent frame, and the final steps
# left unreplaced (measured in benchmarks/keyframes.py; docs/models.md keeps the table)
LAST_FRAME_TARGET = "held"
LAST_FRAME_RELEASE = 0
# A model that learned the last frame as a condition (entry.last_frame_condition): the RePaint
# lock stays on top of the condition. Measured on the shipped I2V (benchmarks/keyframes.py, 12
# pairs): with it 11/12 monotonic paths and the last frame at 28.2 dB, without it 10/12 and
# 24.6 dB (docs/models.md keeps the table)
CONDITIONED_LAST_FRAME_LOCK = True


def threads_from_env() -> int | None:
    """SHOTSMITH_THREADS: torch CPU threads for every render in this process (unset: per model)."""
    from shotsmith.settings import current

    try:
        return current().threads
    except ValueError as exc:
        raise OptionError(THREADS_ENV, str(exc).removeprefix(f"{THREADS_ENV}: ")) from None


def pick_seeds(seed: int | None, count: int) -> list[int]:
    """Distinct seeds for the candidates; no seed means a random one."""
    base = secrets.randbelow(MAX_SEED - 8) if seed is None else seed
    return [(base + i) % (MAX_SEED + 1) for i in range(count)]


class Engine:
    def __init__(self, device: str | None = None, threads: int | None = None):
        """threads: torch CPU threads for all renders (default $SHOTSMITH_THREADS, else each
        model's own `threads`, else torch's default of one per core)."""
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.threads = threads or threads_from_env()
        if self.threads:
            torch.set_num_threads(self.threads)
        self._pipes: dict[tuple, object] = {}
        self._lock = threading.Lock()
        # Renders take turns: the step cache is switched per request on a shared
        # transformer, and two renders on one CPU would only compete for its cores.
        self._render_lock = threading.Lock()
        self._text_cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    @staticmethod
    def pipeline_key(entry: ModelEntry) -> tuple:
        """What makes two entries need different loaded pipelines (load-time options only)."""
        return (entry.name, entry.path, entry.dtype, tuple(sorted(entry.memory.items())), entry.compile)

    def pipeline(self, entry: ModelEntry):
        key = self.pipeline_key(entry)
        with self._lock:
            if key not in self._pipes:
                self._pipes[key] = load_pipeline(entry, self.device)
            return self._pipes[key]

    @torch.inference_mode()
    def text_embeddings(self, pipe, entry: ModelEntry, text: str) -> dict:
        """One prompt's conditioning as the pipeline's keyword arguments (`prompt_embeds`, and a mask
        where the family uses one), from the cache when this pipeline encoded it recently."""
        key = (self.pipeline_key(entry), text, entry.text_limit)
        cached = self._text_cache.get(key)
        if cached is not None:
            self._text_cache.move_to_end(key)
            return cached
        conditioning = entry.rules.encode_text(pipe, text, entry.text_limit)
        self._text_cache[key] = conditioning
        if len(self._text_cache) > TEXT_CACHE_SIZE:
            self._text_cache.popitem(last=False)
        return conditioning

    def prompt_arguments(self, pipe, spec: GenerationSpec, entry: ModelEntry, guidance: float) -> dict:
        """The prompt's and (with guidance above 1) the negative prompt's conditioning, as call arguments."""
        call = dict(self.text_embeddings(pipe, entry, spec.model_prompt()))
        if guidance > 1.0:
            call.update(entry.rules.as_negative(self.text_embeddings(pipe, entry, spec.negative_text(entry))))
        return call

    @contextmanager
    def session(self, pipe, spec: GenerationSpec, entry: ModelEntry):
        """One render at a time on a pipeline set up for this request: threads, step cache, LoRA
        (all shared state). Plain renders, edits and each segment of an extension run inside one."""
        with self._render_lock:
            threads = self.threads or entry.threads
            if threads and threads != torch.get_num_threads():
                torch.set_num_threads(threads)
            set_cache(pipe, spec.cache_choice(entry))  # OptionError names `cache`: a request error
            # The pipeline is shared between requests: the LoRA is switched on for this
            # one and off for the next one that names none (adapters stay loaded for reuse).
            if spec.lora:  # LoraError names `lora` or `lora_scale`: a request error
                apply_lora(pipe, spec.lora, spec.lora_scale, model=entry.name)
            else:
                clear_lora(pipe)
            yield

    def loaded(self) -> list[str]:
        return [key[0] for key in self._pipes]

    @torch.inference_mode()
    def render(self, spec: GenerationSpec, on_progress: ProgressFn | None = None,
               should_cancel: CancelFn | None = None) -> RenderResult:
        report = on_progress or (lambda p: None)
        cancelled = should_cancel or (lambda: False)
        timings: dict[str, float] = {}

        # 1. Resolve the model and its settings
        entry = spec.entry()
        steps = spec.denoise_steps(entry)
        guidance = spec.guidance_scale(entry)
        width, height = spec.native_size(entry)
        num_frames = spec.native_frames(entry)
        seeds = pick_seeds(spec.seed, spec.candidates)
        candidate_steps = steps + entry.rules.extra_steps(entry)  # every stage of the family's render
        total = candidate_steps * len(seeds)

        # 2. Load (cached after the first call)
        report(Progress("load", 0, total))
        t = time.perf_counter()
        pipe = self.pipeline(entry)
        timings["load"] = time.perf_counter() - t

        # 3. Encode the prompt once for every candidate (and the negative once per process)
        report(Progress("text", 0, total))
        t = time.perf_counter()
        prompt_call = self.prompt_arguments(pipe, spec, entry, guidance)
        timings["text"] = time.perf_counter() - t
        image = _load_image(spec.image) if spec.image else None
        last_image = _load_image(spec.last_image) if spec.last_image else None
        rules = entry.rules

        with self.session(pipe, spec, entry):
            # 4. Denoise and decode each candidate (the image's latent is the same for all of them).
            # Where the engine decodes (CogVideoX) it also holds the first and last latent frames;
            # other families take the last frame as a pipeline argument.
            locks = rules.engine_decodes
            image_latent = (encode_first_frame(pipe, image, height, width)
                            if locks and image is not None and entry.first_frame_lock else None)
            last_latent = (encode_last_frame(pipe, last_image, height, width, LAST_FRAME_TARGET)
                           if locks and last_image is not None else None)  # the spec let it through: entry.last_frame
            call = {**prompt_call, **rules.call_arguments(
                entry, height=height, width=width, frames=num_frames, steps=steps, guidance=guidance, image=image,
                last_image=None if locks else last_image, pipe=pipe)}
            run = _CandidateRun(pipe, call, image_latent, candidate_steps, total, report, cancelled, last_latent,
                                entry.last_frame_condition, entry=entry, num_frames=num_frames, staged=True)
            candidates = [run(seed, index) for index, seed in enumerate(seeds)]
        return RenderResult(entry, candidates, steps, guidance, width, height, num_frames, timings,
                            candidate_steps=candidate_steps)


class _CandidateRun:
    """Denoises and decodes one candidate at a time with a request's shared pipeline arguments:
    progress after every step, cancel through the pipeline's interrupt flag, the I2V first- and
    last-frame locks. `staged`: a plain render, which runs every stage of the family's recipe
    (`Family.run`, e.g. LTX-Video's upsampled second stage); edits and extension segments call
    the pipeline once."""

    def __init__(self, pipe, call: dict, image_latent, steps: int, total: int, report: ProgressFn,
                 cancelled: CancelFn, last_latent=None, last_condition: bool = False, *, entry: ModelEntry,
                 num_frames: int, staged: bool = False):
        self.pipe, self.call, self.image_latent, self.last_latent = pipe, call, image_latent, last_latent
        self.last_condition = last_condition and last_latent is not None
        self.steps, self.total, self.report, self.cancelled = steps, total, report, cancelled
        self.entry, self.rules, self.num_frames, self.staged = entry, entry.rules, num_frames, staged

    def __call__(self, seed: int, index: int) -> Candidate:
        pipe, num_frames = self.pipe, self.num_frames
        done_before = index * self.steps
        denoised_at: list[float] = []  # when the last step ended, where the pipeline decodes itself
        lock = (FirstFrameLock(self.image_latent, pipe.scheduler, seed, padding_frames(pipe, num_frames))
                if self.image_latent is not None else None)
        last_lock = (LastFrameLock(self.last_latent, pipe.scheduler, seed, self.steps, LAST_FRAME_RELEASE)
                     if self.last_latent is not None and (CONDITIONED_LAST_FRAME_LOCK or not self.last_condition)
                     else None)
        stopped_at: list[int] = []

        def on_step(pipe_, i, t, kwargs):
            if self.cancelled():
                # diffusers' own stop (STYLE.md): the loop skips the steps left and the pipeline
                # still ends normally, so maybe_free_model_hooks() runs; we raise once it returns
                pipe_._interrupt = True
                stopped_at.append(done_before + i + 1)
                return kwargs
            self.report(Progress("denoise", done_before + i + 1, self.total, index))
            if i + 1 == self.steps and not self.rules.engine_decodes:
                self.report(Progress("decode", done_before + self.steps, self.total, index))
                denoised_at.append(time.perf_counter())
            if lock is not None:
                kwargs["latents"] = lock(kwargs["latents"], t)
            if last_lock is not None:
                kwargs["latents"] = last_lock(kwargs["latents"], t, i)
            return kwargs

        timings: dict[str, float] = {}
        t = time.perf_counter()
        generator = torch.Generator(device="cpu").manual_seed(seed)
        if self.rules.stepwise:  # no step callback in this pipeline: the scheduler's steps are counted
            with counted_steps(pipe, on_step):
                result = self.rules.run(self.entry, pipe, self.call, generator, None, staged=self.staged)
        else:
            with last_frame_condition(pipe, self.last_latent if self.last_condition else None):
                result = self.rules.run(self.entry, pipe, self.call, generator, on_step, staged=self.staged)
        if stopped_at:
            raise Cancelled(f"cancelled at step {stopped_at[0]} of {self.total}")
        if not self.rules.engine_decodes:
            # The pipeline decoded: the denoising ended at the last step's callback
            output = self.rules.output(pipe, result)
            end = time.perf_counter()
            timings["denoise"] = (denoised_at[0] if denoised_at else end) - t
            timings["decode"] = end - (denoised_at[0] if denoised_at else end)
            return Candidate(seed=seed, frames=output.frames, timings=timings, audio=output.audio,
                             sample_rate=output.sample_rate)
        latents = result.frames
        _wait_for_device(latents)
        timings["denoise"] = time.perf_counter() - t
        if self.cancelled():
            raise Cancelled(f"cancelled after denoising candidate {index + 1}")
        self.report(Progress("decode", done_before + self.steps, self.total, index))
        t = time.perf_counter()
        frames = decode(pipe, latents, num_frames)  # ends on the CPU: no wait needed
        timings["decode"] = time.perf_counter() - t
        return Candidate(seed=seed, frames=frames, timings=timings)


class FirstFrameLock:
    """Holds an I2V clip's first latent frame to the given image while denoising.

    In CogVideoX's causal VAE the first latent frame encodes the first video frame
    alone, so the image's own latent is what that frame should end as. After each
    step the first frame is set to that latent noised to the level of the step the
    scheduler just reached (the same noise every step, as on a DDIM path); after the
    last step it is the image's latent exactly. The other frames are denoised
    alongside it, so they follow on from the image (replacement as in RePaint).
    """

    def __init__(self, latent: torch.Tensor, scheduler, seed: int, offset: int = 0):
        self.latent = latent  # (B, 1, C, h, w), from encode_first_frame
        self.noise = _fixed_noise(latent, seed)
        self.scheduler = scheduler
        self.offset = offset  # CogVideoX 1.5 pads latent frames in front of the first one

    def __call__(self, latents: torch.Tensor, timestep) -> torch.Tensor:
        first = _noised_to_step(self.latent, self.noise, self.scheduler, timestep)
        latents = latents.clone()
        latents[:, self.offset:self.offset + 1] = first.to(latents.dtype)
        return latents


class LastFrameLock:
    """Holds an I2V clip's last latent frame to a last image while denoising (first+last keyframes).

    The last latent frame of the causal VAE encodes the clip's last four video frames,
    so its target is the latent of the last image held for those four frames
    (`encode_last_frame`). It is replaced like the first frame: after each step, set to
    that latent noised to the level the scheduler just reached (RePaint-style), until
    `release` steps before the end. benchmarks/keyframes.py measured the choices
    (docs/models.md): replacing through the last step (release 0), at the step's own
    noise level (ahead 0), ends closest to the image and steps back least on the way.
    """

    def __init__(self, latent: torch.Tensor, scheduler, seed: int, steps: int, release: int = 0, ahead: int = 0):
        self.latent = latent  # (B, 1, C, h, w), from encode_last_frame
        self.noise = _fixed_noise(latent, seed + 1)  # not the first frame's noise: they are different images
        self.scheduler = scheduler
        self.steps = steps
        self.until = steps - release  # replace after steps 0 .. until-1
        self.ahead = ahead  # noised to the level `ahead` steps further on (less noise), so the others see it sooner

    def __call__(self, latents: torch.Tensor, timestep, step: int) -> torch.Tensor:
        if step >= self.until:
            return latents
        if self.ahead:
            later = step + self.ahead
            last = (self.latent.float() if later >= self.steps else
                    _noised_to_step(self.latent, self.noise, self.scheduler, self.scheduler.timesteps[later]))
        else:
            last = _noised_to_step(self.latent, self.noise, self.scheduler, timestep)
        latents = latents.clone()
        latents[:, -1:] = last.to(latents.dtype)
        return latents


@contextmanager
def counted_steps(pipe, on_step):
    """For a pipeline without `callback_on_step_end`: `on_step(pipe, i, t, {})` after each of its
    scheduler's steps, so progress and cancel (the pipeline's interrupt flag, which its loop
    reads) work the same. Wraps this scheduler object's `step` for the call and restores it."""
    scheduler = pipe.scheduler
    step = scheduler.step
    done = [0]

    def counted(model_output, timestep, *args, **kwargs):
        out = step(model_output, timestep, *args, **kwargs)
        on_step(pipe, done[0], timestep, {})
        done[0] += 1
        return out

    scheduler.step = counted
    try:
        yield
    finally:
        del scheduler.step  # the class's own method again


@contextmanager
def last_frame_condition(pipe, latent: torch.Tensor | None):
    """While rendering, the I2V pipeline's image conditioning also holds `latent` (from
    `encode_last_frame`) at the last latent index, where a model trained with
    `i2v_last_frame_share` learned to read the clip's last frame (the CogVideoX I2V layout:
    first frame's latent, then zeros). Wraps this pipeline object's `prepare_latents`, which
    builds that conditioning, for the call and restores it after; None changes nothing."""
    if latent is None:
        yield
        return
    prepare = pipe.prepare_latents

    def with_last_frame(*args, **kwargs):
        latents, image_latents = prepare(*args, **kwargs)
        image_latents = image_latents.clone()
        image_latents[:, -1:] = latent.to(image_latents)
        return latents, image_latents

    pipe.prepare_latents = with_last_frame
    try:
        yield
    finally:
        del pipe.prepare_latents  # the class's own method again


def _fixed_noise(latent: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.randn(latent.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32).to(latent)


def _noised_to_step(latent: torch.Tensor, noise: torch.Tensor, scheduler, timestep) -> torch.Tensor:
    """`latent` at the noise level of the step after `timestep` (exact after the last step), as on a DDIM path."""
    prev = int(timestep) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    alpha = scheduler.alphas_cumprod[prev] if prev >= 0 else scheduler.final_alpha_cumprod
    alpha = alpha.to(device=latent.device, dtype=torch.float32)
    return alpha.sqrt() * latent.float() + (1 - alpha).sqrt() * noise.float()


@torch.no_grad()
def encode_first_frame(pipe, image, height: int, width: int) -> torch.Tensor:
    """The image's latent as the clip's first latent frame: (1, 1, C, h, w), the pipeline's layout."""
    return _encode_clip(pipe, [image], height, width)


LAST_FRAME_TARGETS = ("single", "held", "fade")


@torch.no_grad()
def encode_last_frame(pipe, image, height: int, width: int, target: str = "held", first=None) -> torch.Tensor:
    """The latent a clip's last latent frame should end as, to end on `image`: (1, 1, C, h, w).

    "held": the image held for the four frames that latent frame encodes (a 5-frame clip of
    it, second latent); "single": the image encoded alone, like a first frame; "fade": four
    frames fading from `first` into the image. (The embedded model's VAE gives "held" and "single"
    the same latent, to 1e-6: a still clip encodes to the same latent at every position.)"""
    if target == "single":
        return _encode_clip(pipe, [image], height, width)
    if target == "held":
        clip = [image] * 5
    elif target == "fade":
        from PIL import Image

        clip = [first] + [Image.blend(first, image, k / 4) for k in range(1, 5)]
    else:
        raise ValueError(f"target: '{target}' is not one of {', '.join(LAST_FRAME_TARGETS)}")
    return _encode_clip(pipe, clip, height, width)[:, 1:2]


def _encode_clip(pipe, images: list, height: int, width: int) -> torch.Tensor:
    """Images as one clip through the VAE: (1, F, C, h, w) latents, scaled, in the pipeline's layout."""
    pixels = torch.cat([pipe.video_processor.preprocess(img, height=height, width=width) for img in images])
    vae = pipe.vae
    pixels = pixels.to(device=vae.device, dtype=vae.dtype).permute(1, 0, 2, 3).unsqueeze(0)  # (1, C, F, H, W)
    latent = vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor
    return latent.permute(0, 2, 1, 3, 4)


def padding_frames(pipe, num_frames: int) -> int:
    """Latent frames CogVideoX 1.5 adds in front to make their count a multiple of p_t (0 for 1.0)."""
    p_t = pipe.transformer.config.patch_size_t
    if not p_t:
        return 0
    latent_frames = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
    return (p_t - latent_frames % p_t) % p_t


def decode(pipe, latents: torch.Tensor, num_frames: int) -> np.ndarray:
    """Latents (B, F, C, H, W) -> uint8 frames (T, H, W, 3) of the first video."""
    latents = latents[:, padding_frames(pipe, num_frames):]
    video = pipe.decode_latents(latents)  # (B, C, T, H, W) in [-1, 1]
    video = (video[0].float().clamp(-1, 1) + 1) * 127.5
    # uint8 before leaving the device (a quarter of float32's bytes); contiguous once here
    # so the encoder can hand each frame's buffer to ffmpeg without another copy.
    return video.round().to(torch.uint8).permute(1, 2, 3, 0).contiguous().cpu().numpy()


def _wait_for_device(tensor: torch.Tensor) -> None:
    """CUDA runs ahead of Python; wait for it so a stage's time is that stage's work."""
    if tensor.is_cuda:
        torch.cuda.synchronize(tensor.device)


def _load_image(path: str):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")
