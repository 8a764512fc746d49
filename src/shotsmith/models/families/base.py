"""What a model family is: its rules and how its diffusers pipeline is called.

A family states, as plain data, what its checkpoints accept (frame rule, size multiple,
tasks, text limit, default negative prompt, sound) and, as a few small methods, how its
pipeline is driven: which class loads a folder, how a prompt becomes embeddings, which
keyword arguments one render passes, and how the pipeline's output becomes uint8 frames
(and audio). The engine never names a family: it asks the entry's family for these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and diffusers load lazily: validating a request never imports them
    import numpy as np

TASKS = ("t2v", "i2v", "v2v")


@dataclass
class Output:
    """One candidate as the pipeline made it: frames, and audio where the family makes sound."""

    frames: "np.ndarray"  # uint8 (T, H, W, 3)
    audio: "np.ndarray | None" = None  # float32 (channels, samples) in [-1, 1]
    sample_rate: int | None = None


@dataclass(frozen=True)
class Family:
    name: str  # the registry's family key, e.g. "wan"
    title: str  # as users know it, e.g. "Wan 2.x"
    # diffusers pipeline class per task; a folder's model_index.json `_class_name` picks the task
    pipelines: dict[str, str]
    frame_step: int  # frames must be frame_step * k + 1 (the VAE's temporal compression)
    size_multiple: int  # native width and height: multiples of this (VAE spatial factor x patch size)
    fps: int  # the frame rate the family's checkpoints were trained at
    text_limit: int  # tokens the text encoder reads
    native: tuple[int, int, int]  # width, height, frames of a folder that states no native clip of its own
    max_frames: int  # the longest clip a folder entry allows
    negative_prompt: str = ""  # used when a request gives none (the family's published habit)
    steps: int = 50
    guidance: float = 5.0
    lora: bool = True  # diffusers loads LoRA adapters into this family's transformer
    audio: bool = False  # the pipeline makes a sound track with the picture
    # True: the engine asks for latents and decodes them itself (CogVideoX, whose first- and
    # last-frame locks work on latents); False: the pipeline decodes, the engine takes frames.
    engine_decodes: bool = False
    # True: the pipeline has no step callback; the engine counts steps on the scheduler instead
    stepwise: bool = False

    def frame_rule(self) -> str:
        return f"{self.frame_step}k+1"

    def task_for_class(self, class_name: str) -> str | None:
        for task, name in self.pipelines.items():
            if name == class_name:
                return task
        return None

    def pipeline_class(self, task: str):
        import diffusers

        if task not in self.pipelines:
            raise KeyError(f"{self.title} has no {task} pipeline")
        return getattr(diffusers, self.pipelines[task])

    # -- a local folder's rules ---------------------------------------------------------
    def compression(self, folder: Path) -> tuple[int, int]:
        """(frame_step, size_multiple) read from the folder's VAE and transformer configs."""
        return self.frame_step, self.size_multiple

    def folder_rules(self, folder: Path, index: dict) -> dict:
        """ModelEntry fields for a local folder of this family. The native clip is the family's
        unless the folder states its own in shotsmith_recipe.json {"native": {width, height,
        frames, fps}} (as the embedded models' folders do)."""
        frame_step, size_multiple = self.compression(folder)
        width, height, frames = self.native
        fps = self.fps
        recipe = folder / "shotsmith_recipe.json"
        if recipe.exists():
            try:
                native = json.loads(recipe.read_text()).get("native", {})
                width, height = int(native.get("width", width)), int(native.get("height", height))
                frames, fps = int(native.get("frames", frames)), int(native.get("fps", fps))
            except (OSError, ValueError, TypeError, AttributeError):
                pass  # an unreadable recipe leaves the family's native clip
        return dict(width=width, height=height, frames=frames, fps=fps, frame_step=frame_step,
                    size_multiple=size_multiple, max_frames=max(frames, self.max_frames),
                    text_limit=self.text_limit, steps=self.steps, guidance=self.guidance,
                    last_frame=self.folder_last_frame(index))

    def folder_last_frame(self, index: dict) -> bool:
        """Whether a folder's i2v pipeline can end on a given last frame."""
        return False

    # -- calling the pipeline ------------------------------------------------------------
    def encode_text(self, pipe, text: str, limit: int) -> dict[str, Any]:
        """One prompt's conditioning as pipeline keyword arguments (`prompt_embeds`, masks ...)."""
        embeds = pipe.encode_prompt(text, do_classifier_free_guidance=False, max_sequence_length=limit,
                                    device=pipe._execution_device)[0]
        return {"prompt_embeds": embeds}

    @staticmethod
    def as_negative(conditioning: dict[str, Any]) -> dict[str, Any]:
        """The same keyword arguments for the negative prompt (prompt_embeds -> negative_prompt_embeds)."""
        return {f"negative_{key}": value for key, value in conditioning.items()}

    def call_arguments(self, entry, *, height: int, width: int, frames: int, steps: int, guidance: float,
                       image=None, last_image=None, pipe=None) -> dict[str, Any]:
        """The keyword arguments of one render besides the prompt's, the seed and the callback
        (`pipe`: the loaded pipeline, for settings that depend on the checkpoint)."""
        call = dict(height=height, width=width, num_frames=frames, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="np")
        if image is not None:
            call["image"] = image
        if last_image is not None:
            call["last_image"] = last_image
        return call

    def edit_arguments(self, entry, pipe, *, video: list, strength: float, height: int, width: int, frames: int,
                       steps: int, guidance: float) -> dict[str, Any]:
        """The keyword arguments of one video-to-video render (the source frames as PIL images)."""
        return dict(video=video, strength=strength, height=height, width=width, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="np")

    def prepare(self, pipe, entry) -> None:
        """Load what the entry's renders use beside the pipeline's own modules (called once the
        pipeline is loaded and placed; LTX-Video's spatial latent upsampler)."""

    def extra_steps(self, entry) -> int:
        """Denoising steps a render runs after the asked ones (LTX-Video's refine stage at the upsampled
        size), so progress counts every step the render takes."""
        return 0

    def run(self, entry, pipe, call: dict[str, Any], generator, on_step, staged: bool = False):
        """One candidate: the pipeline called once. `on_step(pipe, i, t, kwargs)` is diffusers' step
        callback, i counting over every stage of the render (None: a pipeline without one, whose
        steps the engine counts on the scheduler). `staged`: a plain render, which runs every stage of
        the family's recipe (edits and extension segments: False)."""
        steps = {} if on_step is None else {"callback_on_step_end": on_step}
        return pipe(**call, generator=generator, **steps)

    def output(self, pipe, result) -> Output:
        """The pipeline's return value -> the first video's uint8 frames (T, H, W, 3)."""
        return Output(frames=to_uint8(result.frames[0]))


def to_uint8(video) -> "np.ndarray":
    """A decoded video in [0, 1] (numpy (T, H, W, C) or torch (T, C, H, W)) -> uint8 (T, H, W, 3)."""
    import numpy as np

    if not isinstance(video, np.ndarray):
        video = video.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return np.ascontiguousarray((np.clip(video, 0, 1) * 255).round().astype(np.uint8))


def resize_video(video, height: int, width: int):
    """A decoded video in [0, 1], numpy (T, H, W, C), resized to height x width (bilinear, antialiased)."""
    import torch

    if video.shape[1:3] == (height, width):
        return video
    frames = torch.from_numpy(video).float().permute(0, 3, 1, 2)
    frames = torch.nn.functional.interpolate(frames, size=(height, width), mode="bilinear", antialias=True,
                                             align_corners=False)
    return frames.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def read_config(folder: Path, part: str) -> dict:
    try:
        return json.loads((folder / part / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def patch_hw(config: dict, default: int = 1) -> int:
    """The transformer's spatial patch from its config ((t, h, w) tuple or one number)."""
    patch = config.get("patch_size", default)
    return int(patch[-1]) if isinstance(patch, (list, tuple)) else int(patch or default)
