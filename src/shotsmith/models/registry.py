"""Model registry: a name -> how to load it, and the rules a request must follow.

Entries are plain data (no heavy imports), so validating a request never loads a
model. A request may also name a local diffusers folder instead of a registry
name; `resolve()` then reads that folder's configs and builds an entry for it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from shotsmith.errors import FieldError
from shotsmith.models import embedded as emb


class UnknownModel(FieldError):
    """A model name or folder that names no usable model."""

    kind = "unknown_model"


class OptionError(FieldError):
    """A bad per-model runtime option (or a request's step-cache choice)."""


DTYPE_NAMES = ("float32", "float16", "bfloat16")
CPU_OFFLOAD_MODES = ("none", "model", "sequential")
# diffusers group offloading: weights stay in CPU memory and come onto the GPU a group at a
# time, per transformer block ("block") or per layer ("leaf", the least VRAM, the slowest)
GROUP_OFFLOAD_MODES = ("none", "block", "leaf")
# layerwise_fp8: the transformer's weights stored in float8 (e4m3) and cast up layer by layer
# as they run (diffusers' enable_layerwise_casting): about half the weights' memory of bf16
MEMORY_FLAGS = ("vae_slicing", "vae_tiling", "layerwise_fp8")
MEMORY_OPTIONS = ("cpu_offload", "group_offload", *MEMORY_FLAGS)

# Step caching through diffusers' `transformer.enable_cache`: choice name -> (diffusers config
# class, the one knob a choice may set after a colon, its default, the knob's rule). All five
# work on CogVideoXTransformer3DModel in diffusers 0.42.1 (benchmarks/RESULTS.md, "support");
# MagCache is left out because it needs magnitude ratios calibrated per checkpoint.
CACHE_CHOICES: dict[str, tuple[str, str | None, float | None, str]] = {
    "none": ("", None, None, ""),
    "first-block": ("FirstBlockCacheConfig", "threshold", 0.05, "a number in (0, 1]"),
    "pyramid-attention": ("PyramidAttentionBroadcastConfig", "skip", 2, "a whole number from 2 to 10"),
    "faster-cache": ("FasterCacheConfig", "skip", 2, "a whole number from 2 to 10"),
    "taylorseer": ("TaylorSeerCacheConfig", "interval", 2, "a whole number from 2 to 10"),
}


def cache_choices_text() -> str:
    return ", ".join(name if knob is None else f"{name}[:{knob.upper()}]"
                     for name, (_, knob, _, _) in CACHE_CHOICES.items())


def parse_cache(text: str, field: str = "cache") -> tuple[str, float | None]:
    """'first-block:0.3' -> ('first-block', 0.3); 'taylorseer' -> ('taylorseer', 2).

    The name picks a diffusers cache config; the optional value after a colon sets its
    main knob (threshold, skip range or refresh interval)."""
    if not isinstance(text, str):
        raise OptionError(field, f"must be a text like 'first-block:0.3' (got {text!r})")
    name, _, value = text.strip().lower().partition(":")
    if name not in CACHE_CHOICES:
        raise OptionError(field, f"'{text}' is not a cache choice (known: {cache_choices_text()})")
    _, knob, default, rule = CACHE_CHOICES[name]
    if knob is None:
        if value:
            raise OptionError(field, f"'{name}' takes no value (got '{text}')")
        return name, None
    if not value:
        return name, default
    try:
        number = float(value)
    except ValueError:
        raise OptionError(field, f"the {knob} in '{text}' must be {rule}") from None
    if knob == "threshold":
        ok = 0 < number <= 1
    else:
        ok = number.is_integer() and 2 <= number <= 10
        number = int(number) if ok else number
    if not ok:
        raise OptionError(field, f"the {knob} in '{text}' must be {rule}")
    return name, number


def check_options(memory: dict, dtype: str, cache: str, compile: bool, threads: int | None) -> None:
    """Validate an entry's runtime options; OptionError names the first bad field."""
    if dtype not in DTYPE_NAMES:
        raise OptionError("dtype", f"'{dtype}' is not one of {', '.join(DTYPE_NAMES)}")
    unknown = sorted(set(memory) - set(MEMORY_OPTIONS))
    if unknown:
        raise OptionError("memory", f"unknown option(s) {', '.join(unknown)} (known: {', '.join(MEMORY_OPTIONS)})")
    if memory.get("cpu_offload", "none") not in CPU_OFFLOAD_MODES:
        raise OptionError("cpu_offload", f"'{memory['cpu_offload']}' is not one of {', '.join(CPU_OFFLOAD_MODES)}")
    if memory.get("group_offload", "none") not in GROUP_OFFLOAD_MODES:
        raise OptionError("group_offload", f"'{memory['group_offload']}' is not one of "
                          f"{', '.join(GROUP_OFFLOAD_MODES)}")
    if memory.get("group_offload", "none") != "none" and memory.get("cpu_offload", "none") != "none":
        raise OptionError("group_offload", "group offloading and cpu_offload both move weights on and off the "
                          "GPU; pick one (set cpu_offload to none)")
    for flag in MEMORY_FLAGS:
        if not isinstance(memory.get(flag, False), bool):
            raise OptionError(flag, f"must be true or false (got {memory[flag]!r})")
    parse_cache(cache)
    if not isinstance(compile, bool):
        raise OptionError("compile", f"must be true or false (got {compile!r})")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 256):
        raise OptionError("threads", f"must be a whole number from 1 to 256, or unset for torch's default "
                          f"(got {threads!r})")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: Literal["t2v", "i2v"]
    family: str  # a FAMILIES key (models/families/): the architecture's rules and pipeline calls
    width: int  # native size
    height: int
    frames: int
    fps: int
    dtype: str = "bfloat16"
    hub_id: str | None = None
    path: str | None = None  # a local diffusers folder (set for embedded and path entries)
    fixed_size: bool = False  # CogVideoX-5B-I2V only renders 720x480
    max_frames: int = 49
    text_limit: int = 226
    steps: int = 50
    guidance: float = 6.0
    embedded: bool = False
    # cpu_offload: none|model|sequential, group_offload: none|block|leaf, vae_slicing, vae_tiling, layerwise_fp8
    memory: dict = field(default_factory=dict)
    # The family's rules, where a checkpoint differs from its family: 0 / None take the family's
    frame_step: int = 0  # frames are frame_step * k + 1 (CogVideoX 1.5: 16)
    size_multiple: int = 0  # native width and height are multiples of this (Wan 2.2 TI2V-5B: 32)
    negative_prompt: str | None = None  # used when a request gives none
    # LTX-Video: the checkpoint's spatial latent upsampler (a hub id or a local folder), and whether
    # renders run LTX's two-stage recipe with it (families/ltx.py): the clip at 2/3 of the size,
    # its latents upsampled 2x, a short denoise at that size, decoded and resized to the asked size
    upsampler: str | None = None
    upsample: bool = False
    # LTX-2: the transformer blocks spatio-temporal guidance perturbs; None = the pipeline's
    # default (block 28) where the checkpoint has that block, () = no spatio-temporal guidance
    stg_blocks: tuple[int, ...] | None = None
    description: str = ""
    # Runtime options (validated in __post_init__; see docs/performance.md for the measured defaults)
    cache: str = "none"  # step cache, a CACHE_CHOICES name, optionally ':value'; a request may override it
    compile: bool = False  # torch.compile the transformer at load (pays off only for long-lived GPU servers)
    threads: int | None = None  # torch CPU threads while this model renders; None keeps torch's default
    # I2V: hold the first latent frame to the given image's latent (noised to each step's
    # level) while denoising, so the clip starts on the image even where the transformer
    # alone would drift from it (engine.FirstFrameLock).
    first_frame_lock: bool = False
    # I2V: can also hold the clip's last frame to a given image (first+last keyframes); an
    # entry without it refuses `last_image` rather than ignore it.
    last_frame: bool = False
    # I2V: the model learned a last image as conditioning (its latent in the image channels at
    # the last latent index), so the engine gives it there too (engine.last_frame_condition).
    # Read from an embedded or local folder's shotsmith_recipe.json.
    last_frame_condition: bool = False

    def __post_init__(self) -> None:
        from shotsmith.models.families import FAMILIES

        if self.family not in FAMILIES:
            raise UnknownModel("model", f"{self.name}: unknown model family '{self.family}' "
                               f"(known: {', '.join(FAMILIES)})")
        family = FAMILIES[self.family]
        if not self.frame_step:
            object.__setattr__(self, "frame_step", family.frame_step)
        if not self.size_multiple:
            object.__setattr__(self, "size_multiple", family.size_multiple)
        if self.negative_prompt is None:
            object.__setattr__(self, "negative_prompt", family.negative_prompt)
        check_options(self.memory, self.dtype, self.cache, self.compile, self.threads)
        for flag in ("first_frame_lock", "last_frame", "last_frame_condition", "upsample"):
            if not isinstance(getattr(self, flag), bool):
                raise OptionError(flag, f"must be true or false (got {getattr(self, flag)!r})")
        if self.upsample and not self.upsampler:
            raise OptionError("upsample", f"{self.name} has no spatial upsampler to run (set `upsampler` to its hub "
                              f"id or folder)")
        if self.upsample and self.family != "ltx":
            raise OptionError("upsample", "the two-stage upsampled render is LTX-Video's recipe; "
                              f"{family.title} has none")
        if self.stg_blocks is not None:
            blocks = self.stg_blocks
            if (isinstance(blocks, (str, bytes)) or not isinstance(blocks, (tuple, list))
                    or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in blocks)):
                raise OptionError("stg_blocks", f"must be a list of transformer block indices, e.g. [28] "
                                  f"(got {blocks!r})")
            object.__setattr__(self, "stg_blocks", tuple(blocks))

    @property
    def rules(self):
        """The entry's family (models/families/): how its pipeline is called."""
        from shotsmith.models.families import FAMILIES

        return FAMILIES[self.family]

    @property
    def audio(self) -> bool:
        """The model makes a sound track with the picture (LTX-2)."""
        return self.rules.audio

    @property
    def can_edit(self) -> bool:
        """Video-to-video edits run on a text-to-video entry whose family has a v2v pipeline."""
        return self.task == "t2v" and "v2v" in self.rules.pipelines

    def capabilities(self) -> list[str]:
        """What a request may ask of this entry: t2v or i2v, last_frame, edit, extend, lora, audio."""
        out = [self.task]
        if self.last_frame:
            out.append("last_frame")
        if self.can_edit:
            out.append("edit")
        if self.task == "i2v":
            out.append("extend")
        if self.rules.lora:
            out.append("lora")
        if self.audio:
            out.append("audio")
        return out

    def allowed_frames(self, frames: int) -> bool:
        return frames >= 1 and (frames - 1) % self.frame_step == 0 and frames <= self.max_frames

    @property
    def max_seconds(self) -> float:
        """The longest clip the model renders, in seconds at its native frame rate."""
        return self.max_frames / self.fps

    def frames_for_seconds(self, seconds: float) -> int:
        """The allowed frame count whose duration (frames / fps) is nearest to `seconds`."""
        k = max(0, round((seconds * self.fps - 1) / self.frame_step))
        return 1 + k * self.frame_step

    def to_dict(self) -> dict:
        return asdict(self)


def models_dir() -> Path:
    """Where local copies of real checkpoints are looked for: $SHOTSMITH_MODELS or <home>/models."""
    from shotsmith.settings import current

    return current().models_dir


_GPU = {"cpu_offload": "model", "vae_slicing": True, "vae_tiling": True}
# Wan: VAE tiling bounds the decoder's peak at 720p; a 14B transformer is 28 GB of bf16
# weights, more than a 24 GB card holds, so its blocks come onto the GPU one group at a time.
_WAN_SMALL = {"cpu_offload": "model", "vae_tiling": True}
_WAN_LARGE = {"group_offload": "block", "vae_tiling": True}
_LTX = {"cpu_offload": "model", "vae_tiling": True}
_HUNYUAN = {"cpu_offload": "model", "vae_tiling": True}
LTX_UPSAMPLER = "Lightricks/ltxv-spatial-upscaler-0.9.7"
# Measured on held-out captions (benchmarks/RESULTS.md, section 4): ~1.7x faster denoising, no
# measurable adherence loss, and of the caches that fast the one that moves the clip least
# (highest PSNR against no cache). Real checkpoints keep "none" until measured on their outputs.
EMBEDDED_T2V_CACHE = "taylorseer"

ENTRIES: dict[str, ModelEntry] = {
    e.name: e
    for e in [
        ModelEntry(emb.T2V_NAME, "t2v", "cogvideox", emb.NATIVE_WIDTH, emb.NATIVE_HEIGHT, emb.NATIVE_FRAMES,
                   emb.NATIVE_FPS, dtype="float32", path=str(emb.WEIGHTS_DIR / emb.T2V_NAME), max_frames=49,
                   # guidance: held-out adherence of the shipped v6 weights with the prompt agent at
                   # 1 / 1.5 / 2 / 2.5 / 3 / 4 / 6: 87.0 / 86.2 / 88.3 / 87.3 / 87.0 / 85.3 / 82.2 %
                   # (docs/training.md, eighteenth session). Above 2 guidance pinches triangles'
                   # sides until the detector reads a concave star (12 of 32 triangles at 4). v7 with
                   # the agent's dictionary (three seeds) at 1.5 / 2 / 2.5: 95.0 / 94.7 / 93.3 %,
                   # shape 90.6 / 87.5 / 81.1 %; as written 81.4 / 81.8 (nineteenth session). v8 (v7 fine-tuned
                   # on the broad wording) at 1.5: 95.0 / 95.5 / 95.0 %, as written 83.5 / 85.7 / 85.3 (twentieth).
                   # v9 (v8 moved onto all-mpnet-base-v2) at 1.5: 96.5 / 95.8 / 96.0 %, as written
                   # 88.7 / 89.7 / 91.3 (twenty-third). v10 (v9 on new scenes, two objects in 65 %, shape
                   # head 0.1) at 1.5: 97.2 / 97.0 / 96.2 %, as written 89.7 / 92.8 / 91.3 (twenty-fourth).
                   steps=20, guidance=1.5, embedded=True, cache=EMBEDDED_T2V_CACHE,
                   text_limit=emb.folder_text_limit(emb.WEIGHTS_DIR / emb.T2V_NAME),
                   description="Embedded shapes-world text-to-video model (ships with shotsmith)"),
        ModelEntry(emb.I2V_NAME, "i2v", "cogvideox", emb.NATIVE_WIDTH, emb.NATIVE_HEIGHT, emb.NATIVE_FRAMES,
                   emb.NATIVE_FPS, dtype="float32", path=str(emb.WEIGHTS_DIR / emb.I2V_NAME), max_frames=49,
                   # guidance: held-out adherence (seeds 1000 / 2000) of the I2V shipped before at 1 / 2:
                   # 89.7 / 86.3 and 90.3 / 90.5 %; the eighteenth session's at 2: 92.7 / 92.0 %. Above 2
                   # it gains nothing (docs/training.md, eighteenth session). The twentieth session's at 2,
                   # with the agent: 96.2 / 95.3 / 96.0 %; the twenty-first's: 96.8 / 95.8 / 95.7 %; the
                   # twenty-third's: 96.7 / 96.8 / 96.7 %, as written 93.8 / 94.2 / 93.8 %.
                   steps=20, guidance=2.0, embedded=True, first_frame_lock=True, last_frame=True,
                   text_limit=emb.folder_text_limit(emb.WEIGHTS_DIR / emb.I2V_NAME),
                   last_frame_condition=emb.folder_last_frame_condition(emb.WEIGHTS_DIR / emb.I2V_NAME),
                   description="Embedded shapes-world image-to-video model (first- and last-frame conditioned)"),
        ModelEntry("cogvideox-2b", "t2v", "cogvideox", 720, 480, 49, 8, dtype="float16", hub_id="THUDM/CogVideoX-2b",
                   memory=_GPU, description="CogVideoX-2B text-to-video"),
        ModelEntry("cogvideox-5b", "t2v", "cogvideox", 720, 480, 49, 8, hub_id="THUDM/CogVideoX-5b",
                   memory=_GPU, description="CogVideoX-5B text-to-video"),
        ModelEntry("cogvideox-5b-i2v", "i2v", "cogvideox", 720, 480, 49, 8, hub_id="THUDM/CogVideoX-5b-I2V",
                   fixed_size=True, memory=_GPU, description="CogVideoX-5B image-to-video (720x480 only)"),
        ModelEntry("cogvideox1.5-5b", "t2v", "cogvideox", 1360, 768, 81, 16, hub_id="THUDM/CogVideoX1.5-5B",
                   max_frames=161, frame_step=16, memory=_GPU, description="CogVideoX1.5-5B text-to-video"),
        ModelEntry("cogvideox1.5-5b-i2v", "i2v", "cogvideox", 1360, 768, 81, 16,
                   hub_id="THUDM/CogVideoX1.5-5B-I2V", max_frames=161, frame_step=16, memory=_GPU,
                   description="CogVideoX1.5-5B image-to-video"),
        # Wan 2.x: hub ids of the diffusers-format repositories; sizes, frames, fps, steps and
        # guidance as the model cards and diffusers' examples give them. max_frames: what the
        # checkpoints were trained to (longer clips run but loop or fall apart).
        ModelEntry("wan2.1-t2v-1.3b", "t2v", "wan", 832, 480, 81, 16, hub_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                   max_frames=81, text_limit=512, guidance=5.0, memory=_WAN_SMALL,
                   description="Wan 2.1 T2V 1.3B text-to-video, 480p"),
        ModelEntry("wan2.1-t2v-14b", "t2v", "wan", 1280, 720, 81, 16, hub_id="Wan-AI/Wan2.1-T2V-14B-Diffusers",
                   max_frames=81, text_limit=512, guidance=5.0, memory=_WAN_LARGE,
                   description="Wan 2.1 T2V 14B text-to-video (480p or 720p)"),
        ModelEntry("wan2.1-i2v-14b-480p", "i2v", "wan", 832, 480, 81, 16,
                   hub_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", max_frames=81, text_limit=512, guidance=5.0,
                   memory=_WAN_LARGE, description="Wan 2.1 I2V 14B image-to-video, 480p"),
        ModelEntry("wan2.1-i2v-14b-720p", "i2v", "wan", 1280, 720, 81, 16,
                   hub_id="Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", max_frames=81, text_limit=512, guidance=5.0,
                   memory=_WAN_LARGE, description="Wan 2.1 I2V 14B image-to-video, 720p"),
        ModelEntry("wan2.1-flf2v-14b", "i2v", "wan", 1280, 720, 81, 16,
                   hub_id="Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", max_frames=81, text_limit=512, guidance=5.0,
                   last_frame=True, memory=_WAN_LARGE,
                   description="Wan 2.1 FLF2V 14B: a clip from a first and a last frame, 720p"),
        ModelEntry("wan2.2-ti2v-5b", "t2v", "wan", 1280, 704, 121, 24, hub_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
                   max_frames=121, text_limit=512, guidance=5.0, size_multiple=32, memory=_WAN_SMALL,
                   description="Wan 2.2 TI2V 5B text-to-video, 720p at 24 fps (high-compression VAE)"),
        ModelEntry("wan2.2-t2v-a14b", "t2v", "wan", 1280, 720, 81, 16, hub_id="Wan-AI/Wan2.2-T2V-A14B-Diffusers",
                   max_frames=81, text_limit=512, steps=40, guidance=4.0, memory=_WAN_LARGE,
                   description="Wan 2.2 T2V A14B text-to-video (two 14B experts: high and low noise)"),
        ModelEntry("wan2.2-i2v-a14b", "i2v", "wan", 1280, 720, 81, 16, hub_id="Wan-AI/Wan2.2-I2V-A14B-Diffusers",
                   max_frames=81, text_limit=512, steps=40, guidance=3.5, memory=_WAN_LARGE,
                   description="Wan 2.2 I2V A14B image-to-video (two 14B experts: high and low noise)"),
        # LTX-Video 0.9.7 distilled: one checkpoint, two entries (a text-to-video one that can
        # edit, an image-to-video one that takes a first and a last frame); 8 steps, guidance 1.
        ModelEntry("ltx-video-0.9.7-distilled", "t2v", "ltx", 768, 512, 121, 24,
                   hub_id="Lightricks/LTX-Video-0.9.7-distilled", max_frames=257, text_limit=128, steps=8,
                   guidance=1.0, memory=_LTX, upsampler=LTX_UPSAMPLER, upsample=True,
                   description="LTX-Video 0.9.7 distilled 13B text-to-video (a few steps)"),
        ModelEntry("ltx-video-0.9.7-distilled-i2v", "i2v", "ltx", 768, 512, 121, 24,
                   hub_id="Lightricks/LTX-Video-0.9.7-distilled", max_frames=257, text_limit=128, steps=8,
                   guidance=1.0, last_frame=True, memory=_LTX, upsampler=LTX_UPSAMPLER, upsample=True,
                   description="LTX-Video 0.9.7 distilled 13B image-to-video, first and last frame"),
        # HunyuanVideo 1.5: the community's diffusers conversions, 480p and 720p
        ModelEntry("hunyuanvideo1.5-480p", "t2v", "hunyuanvideo15", 848, 480, 121, 24,
                   hub_id="hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v", max_frames=121, text_limit=1000,
                   steps=50, guidance=6.0, memory=_HUNYUAN, description="HunyuanVideo 1.5 text-to-video, 480p"),
        ModelEntry("hunyuanvideo1.5-480p-i2v", "i2v", "hunyuanvideo15", 848, 480, 121, 24,
                   hub_id="hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v", max_frames=121, text_limit=1000,
                   steps=50, guidance=6.0, memory=_HUNYUAN, description="HunyuanVideo 1.5 image-to-video, 480p"),
        ModelEntry("hunyuanvideo1.5-720p", "t2v", "hunyuanvideo15", 1280, 720, 121, 24,
                   hub_id="hunyuanvideo-community/HunyuanVideo-1.5-720p_t2v", max_frames=121, text_limit=1000,
                   steps=50, guidance=6.0, memory=_HUNYUAN, description="HunyuanVideo 1.5 text-to-video, 720p"),
        ModelEntry("hunyuanvideo1.5-720p-i2v", "i2v", "hunyuanvideo15", 1280, 720, 121, 24,
                   hub_id="hunyuanvideo-community/HunyuanVideo-1.5-720p_i2v", max_frames=121, text_limit=1000,
                   steps=50, guidance=6.0, memory=_HUNYUAN, description="HunyuanVideo 1.5 image-to-video, 720p"),
        # LTX-2: picture and sound in one pass; the pipeline's published sampling settings
        ModelEntry("ltx-2", "t2v", "ltx2", 768, 512, 121, 24, hub_id="Lightricks/LTX-2", max_frames=257,
                   text_limit=1024, steps=40, guidance=4.0, memory=_LTX,
                   description="LTX-2 text-to-video with sound (AAC in the MP4)"),
        ModelEntry("ltx-2-i2v", "i2v", "ltx2", 768, 512, 121, 24, hub_id="Lightricks/LTX-2", max_frames=257,
                   text_limit=1024, steps=40, guidance=4.0, memory=_LTX,
                   description="LTX-2 image-to-video with sound (AAC in the MP4)"),
    ]
}
DEFAULT_MODEL = emb.T2V_NAME
DEFAULT_I2V_MODEL = emb.I2V_NAME


def local_path(entry: ModelEntry) -> Path | None:
    """The local diffusers folder for an entry, or None when it would come from the hub."""
    if entry.path:
        return Path(entry.path)
    candidate = models_dir() / entry.name
    return candidate if (candidate / "model_index.json").exists() else None


def is_available(entry: ModelEntry) -> bool:
    path = local_path(entry)
    if path is not None:
        return (path / "model_index.json").exists()
    try:  # a copy in the Hugging Face cache counts as available offline
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(entry.hub_id, "model_index.json"), str)
    except Exception:
        return False


def entry_from_folder(folder: Path) -> ModelEntry:
    """Build an entry for a local diffusers folder from its own configs: model_index.json's
    `_class_name` names the pipeline, hence the family and the task."""
    from shotsmith.models.families import FAMILIES, family_for_class

    index_file = folder / "model_index.json"
    if not index_file.exists():
        raise UnknownModel("model", f"{folder} is not a diffusers folder (no model_index.json)")
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError) as exc:
        raise UnknownModel("model", f"{folder}/model_index.json is not readable JSON ({exc.__class__.__name__})") \
            from None
    pipeline = index.get("_class_name", "") if isinstance(index, dict) else ""
    found = family_for_class(pipeline)
    if found is None:
        known = ", ".join(name for family in FAMILIES.values() for name in family.pipelines.values())
        raise UnknownModel("model", f"{folder} holds a {pipeline or 'unknown'} pipeline, which shotsmith does not "
                           f"run (known: {known})")
    family, task = found
    task = "t2v" if task == "v2v" else task  # edits run on a text-to-video entry
    if family.name == "cogvideox":
        return _cogvideox_folder_entry(folder, pipeline, task)
    return _folder_entry(folder, family, pipeline, task, index)


def _read_config(folder: Path, part: str) -> dict:
    try:
        return json.loads((folder / part / "config.json").read_text())
    except (OSError, ValueError):
        raise UnknownModel("model", f"{folder} has no readable {part}/config.json") from None


def _cogvideox_folder_entry(folder: Path, pipeline: str, task: str) -> ModelEntry:
    tcfg = _read_config(folder, "transformer")
    vcfg = _read_config(folder, "vae")
    spatial = 2 ** (len(vcfg.get("block_out_channels", [0] * 4)) - 1)
    is_15 = tcfg.get("patch_size_t") is not None  # CogVideoX 1.5: 16k+1 frames
    frames = tcfg.get("sample_frames", 49)
    recipe = folder / "shotsmith_recipe.json"
    fps = json.loads(recipe.read_text())["native"]["fps"] if recipe.exists() else (16 if is_15 else 8)
    return ModelEntry(
        name=str(folder), task=task, family="cogvideox", width=tcfg.get("sample_width", 90) * spatial,
        height=tcfg.get("sample_height", 60) * spatial, frames=frames, fps=fps, dtype="float32",
        path=str(folder), max_frames=max(frames, 161 if is_15 else 49), frame_step=16 if is_15 else 8,
        fixed_size=task == "i2v" and not is_15 and tcfg.get("use_learned_positional_embeddings", False),
        text_limit=emb.folder_text_limit(folder),
        # an I2V folder that learned the last frame as a condition can take `last_image`
        last_frame=task == "i2v" and emb.folder_last_frame_condition(folder),
        last_frame_condition=task == "i2v" and emb.folder_last_frame_condition(folder),
        description=f"local folder ({pipeline})",
    )


def _folder_entry(folder: Path, family, pipeline: str, task: str, index: dict) -> ModelEntry:
    """A folder of another family: the family's native clip, its rules read from the VAE and
    transformer configs where a checkpoint may differ (spatial and temporal compression, patch)."""
    from shotsmith.models.families import folder_rules

    rules = folder_rules(family, folder, index)
    return ModelEntry(
        name=str(folder), task=task, family=family.name, path=str(folder), dtype="float32",
        description=f"local folder ({pipeline})", **rules,
    )


def resolve(name: str | None, task: str | None = None) -> ModelEntry:
    """Registry name or local folder -> entry. None picks the default for the task."""
    if not name:
        return ENTRIES[DEFAULT_I2V_MODEL if task == "i2v" else DEFAULT_MODEL]
    key = name.strip().lower()
    if key in ENTRIES:
        return ENTRIES[key]
    if os.sep in name or name.startswith("."):
        folder = Path(name).expanduser()
        if folder.is_dir():
            return entry_from_folder(folder.resolve())
        raise UnknownModel("model", f"folder {name} does not exist")
    known = ", ".join(ENTRIES)
    raise UnknownModel("model", f"unknown model '{name}' (known: {known}; or give a local diffusers folder)")


def with_memory(entry: ModelEntry, **memory) -> ModelEntry:
    return replace(entry, memory={**entry.memory, **{k: v for k, v in memory.items() if v is not None}})


def with_options(entry: ModelEntry, **options) -> ModelEntry:
    """A copy of entry with runtime options changed (dtype, cache, compile, threads, the memory
    options cpu_offload, group_offload, vae_slicing, vae_tiling, layerwise_fp8, first_frame_lock,
    last_frame, last_frame_condition, and the family recipes' upsample, upsampler (LTX-Video) and
    stg_blocks (LTX-2)); None leaves an option as it is. Bad values raise OptionError."""
    known = {"dtype", "cache", "compile", "threads", "first_frame_lock", "last_frame", "last_frame_condition",
             "upsample", "upsampler", "stg_blocks", *MEMORY_OPTIONS}
    unknown = sorted(set(options) - known)
    if unknown:
        raise OptionError(unknown[0], f"not a model option (known: {', '.join(sorted(known))})")
    memory = {k: options.pop(k) for k in MEMORY_OPTIONS if k in options}
    top = {k: v for k, v in options.items() if v is not None}
    return replace(with_memory(entry, **memory), **top)
