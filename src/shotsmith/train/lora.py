"""LoRA fine-tuning of a video transformer (`shotsmith train lora`): CogVideoX, Wan, LTX-Video and LTX-2.

Steps, all resumable:
  1. Data: the training folder is scanned (`shotsmith.train.clips`); each usable clip
     is brought to the model's native size and frame count, encoded once by the VAE
     and its caption once by the text encoder. Both go to OUT/cache/ (one file per
     clip, keyed by model, size, file and caption), so a second run, or a resumed
     one, does not decode or encode anything again. Bad clips are reported by name
     and skipped.
  2. Training: peft LoRA adapters on the transformer's attention projections
     (to_q, to_k, to_v, to_out.0), everything else frozen. CogVideoX: v-prediction under the
     model's own CogVideoX DDIM scheduler, as the embedded model was trained
     (`shotsmith.train.shapes`), 10% empty captions so classifier-free guidance
     keeps working, and optionally the object-weighted loss of the shapes recipe.
     Wan, LTX-Video and LTX-2 (flow matching): the velocity noise - x0 at a uniform sigma, on
     latents normalised as their pipelines normalise them. Image-to-video models see the first
     frame as their I2V pipeline gives it: Wan through its conditioning channels (mask and the
     first frame's latents, and CLIP image states where the model has an image encoder), LTX-Video
     as a clean first latent frame at timestep 0 that the loss leaves out. LTX-2 trains the
     picture: each step shows its transformer the sound stream as pure noise (where a render
     starts), the loss reads the video stream only, and the adapter sits on the video stream's own
     attention (attn1, attn2), so the sound branch's weights are left as they were.
     AdamW on the adapter weights only.
  3. Every `checkpoint_every` steps (and on Ctrl-C) OUT/checkpoints/step-N.pt holds
     the adapter, the optimiser, the step and the random state; a new run with the
     same OUT continues from the newest one. Every `validate_every` steps a clip of
     the validation prompt is written to OUT/validation/step-N.mp4.
  4. The result is OUT/pytorch_lora_weights.safetensors, written by the pipeline
     class's `save_lora_weights`, so plain diffusers loads it with
     `pipe.load_lora_weights(OUT)`. OUT/lora.json records how it was made.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable


if TYPE_CHECKING:  # torch loads lazily: `shotsmith --help` should not pay for it
    import numpy as np
    import torch

from shotsmith.train.checkpoint import save_atomically
from shotsmith.train.clips import ClipError, DataError, load_clip, scan_folder, write_clip

Log = Callable[[str], None]

LORA_FILE = "pytorch_lora_weights.safetensors"
INFO_FILE = "lora.json"
TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
KEEP_CHECKPOINTS = 2
TRAINABLE_FAMILIES = ("cogvideox", "wan", "ltx", "ltx2")  # the families whose training step this module knows
# LTX-2: the video stream's self- and text attention only (peft matches these as name suffixes, so
# `audio_attn1.to_q` and the audio/video cross attention are not among them)
LTX2_TARGET_MODULES = tuple(f"{attn}.{proj}" for attn in ("attn1", "attn2") for proj in TARGET_MODULES)


def target_modules(entry) -> tuple[str, ...]:
    return LTX2_TARGET_MODULES if entry.family == "ltx2" else TARGET_MODULES


class TrainingError(ValueError):
    """A setting or a checkpoint that training cannot go on with."""


@dataclass
class LoraRecipe:
    rank: int = 32
    alpha: float | None = None  # None: equal to rank (adapter scale 1)
    steps: int = 400
    lr: float = 5e-4
    batch: int | None = None  # None: 4 for the embedded model, 1 for real ones
    warmup: int = 20
    checkpoint_every: int = 100
    validate_every: int = 0  # 0: only after the last step
    validation_prompt: str | None = None  # None: the first clip's caption
    validation_seed: int = 0
    empty_caption_rate: float = 0.1
    # The shapes recipe's loss: error on pixels that differ from the frame's median
    # background counts (1 + object_weight) times. None: 3.0 for the embedded model,
    # 0 (plain MSE) for real video.
    object_weight: float | None = None
    gradient_checkpointing: bool | None = None  # None: on for real models on a GPU
    minutes: float | None = None  # wall-clock cap for the training steps
    seed: int = 0
    threads: int | None = None  # torch CPU threads; None leaves torch's default

    def check(self) -> None:
        rules = [
            ("rank", self.rank >= 1, "must be at least 1"),
            ("steps", self.steps >= 1, "must be at least 1"),
            ("lr", 0 < self.lr < 1, "must be between 0 and 1"),
            ("batch", self.batch is None or self.batch >= 1, "must be at least 1"),
            ("checkpoint-every", self.checkpoint_every >= 1, "must be at least 1"),
            ("validate-every", self.validate_every >= 0, "must be 0 (only at the end) or more"),
            ("minutes", self.minutes is None or self.minutes > 0, "must be above 0"),
        ]
        for name, ok, rule in rules:
            if not ok:
                raise TrainingError(f"{name}: {rule}")


@dataclass
class LoraResult:
    path: Path  # the folder holding pytorch_lora_weights.safetensors
    steps: int
    clips: int
    problems: list[str] = field(default_factory=list)
    validation: list[Path] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)  # cache, train
    stopped_early: bool = False  # the time cap ended training before `steps`


# ---------------------------------------------------------------- model


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_for_training(model: str | None):
    """(entry, pipeline) on the CPU; real models in bfloat16 where a GPU will train them."""
    from shotsmith.models.loader import load_pipeline
    from shotsmith.models.registry import resolve

    entry = resolve(model)
    if _device() == "cuda" and not entry.embedded:
        entry = replace(entry, dtype="bfloat16")  # fp16 training needs loss scaling; bf16 does not
    # device="cpu": the loader then installs no offload hooks, which would fight the
    # training loop; components move to the GPU one at a time below.
    pipe = load_pipeline(entry, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return entry, pipe


def _check_trainable(model: str | None) -> None:
    from shotsmith.models.registry import resolve

    entry = resolve(model)
    if not entry.rules.lora:
        raise TrainingError(f"model: diffusers loads no LoRA into {entry.rules.title} models")
    if entry.family not in TRAINABLE_FAMILIES:
        raise TrainingError(f"model: `train lora` trains CogVideoX, Wan, LTX-Video and LTX-2 models, not "
                            f"{entry.rules.title} ({entry.name}); a {entry.rules.title} LoRA in diffusers' format "
                            "still loads with --lora")
    if entry.family == "ltx2" and entry.task != "t2v":
        raise TrainingError(f"model: LoRA training on LTX-2 runs on its text-to-video model ({entry.name} is "
                            "image-to-video, whose first-frame training step is not written)")


def _check_loaded(entry, pipe) -> None:
    """What only the loaded pipeline tells: layouts whose training step is not written here."""
    if getattr(pipe, "transformer_2", None) is not None:
        raise TrainingError(f"model: {entry.name} switches between two transformers (Wan 2.2 A14B); "
                            "`train lora` trains a single transformer")
    if entry.family == "wan" and entry.task == "i2v" and pipe.config.get("expand_timesteps"):
        raise TrainingError(f"model: {entry.name} conditions on the first frame by timestep (Wan 2.2 TI2V); "
                            "`train lora` trains the channel-conditioned Wan image-to-video models")


def add_lora(transformer, rank: int, alpha: float | None, targets: tuple[str, ...] = TARGET_MODULES
             ) -> list[torch.nn.Parameter]:
    """Freeze the transformer, add the adapter, return its (float32) trainable weights."""
    from peft import LoraConfig

    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=alpha or rank, init_lora_weights=True,
                                       target_modules=list(targets)))
    params = [p for p in transformer.parameters() if p.requires_grad]
    for p in params:  # adapters train in float32 even beside a bfloat16 transformer
        p.data = p.data.float()
    return params


def _adapter_state(transformer) -> dict[str, torch.Tensor]:
    return {k: p.detach().cpu().clone() for k, p in transformer.named_parameters() if p.requires_grad}


def save_lora(pipe, transformer, out: Path) -> Path:
    """OUT/pytorch_lora_weights.safetensors in diffusers' format (with the adapter's config)."""
    import torch

    from peft.utils import get_peft_model_state_dict

    layers = {k: v.detach().to("cpu", torch.float32).contiguous()
              for k, v in get_peft_model_state_dict(transformer).items()}
    type(pipe).save_lora_weights(out, transformer_lora_layers=layers,
                                 transformer_lora_adapter_metadata=transformer.peft_config["default"].to_dict())
    return out / LORA_FILE


# ---------------------------------------------------------------- cache


def _cache_key(entry, source, width: int, height: int, frames: int) -> str:
    stat = source.path.stat()
    raw = json.dumps([entry.name, width, height, frames, source.name, stat.st_size, stat.st_mtime_ns,
                      source.caption])
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


def _text_key(entry, text: str) -> str:
    return "text-" + hashlib.sha1(json.dumps([entry.name, text]).encode()).hexdigest()[:20]


def _encode_text(pipe, entry, texts: list[str], device: str) -> torch.Tensor:
    import torch

    with torch.no_grad():
        if _flow(entry):  # the family's own encoding, as the engine's (families/)
            embeds = torch.cat([_masked_embeds(entry.rules.encode_text(pipe, text, entry.text_limit))
                                for text in texts])
        else:
            embeds, _ = pipe.encode_prompt(texts, do_classifier_free_guidance=False,
                                           max_sequence_length=entry.text_limit, device=device)
    return embeds.to("cpu", torch.float16)


def _masked_embeds(conditioning: dict) -> torch.Tensor:
    """Embeddings with the padding positions zeroed where the family gives a mask (LTX): the mask is
    then read back from the embeddings (`_text_mask`), so the cache keeps one tensor per caption."""
    embeds, mask = conditioning["prompt_embeds"], conditioning.get("prompt_attention_mask")
    return embeds if mask is None else embeds * mask[..., None].to(embeds.dtype)


def _text_mask(embeds: torch.Tensor) -> torch.Tensor:
    """The attention mask of embeddings from `_masked_embeds`: the positions that are not all zero."""
    return (embeds.abs().sum(-1) > 0).long()


def _flow(entry) -> bool:
    """Flow-matching families (Wan) train on velocity under a rectified-flow path; CogVideoX on
    v-prediction under its DDIM schedule."""
    return entry.family != "cogvideox"


def _encode_video(pipe, frames: np.ndarray, device: str, i2v: bool, entry=None) -> dict:
    import torch

    with torch.no_grad():
        if entry is not None and _flow(entry):
            if entry.family in ("ltx", "ltx2"):
                record = _encode_video_ltx(pipe, frames, device)
                if i2v:  # the first frame alone, encoded as the I2V pipeline encodes its image
                    record["image_latents"] = _encode_video_ltx(pipe, frames[:1], device)["latents"]
            else:
                record = _encode_video_wan(pipe, frames, device)
                if i2v:
                    record.update(_wan_condition(pipe, frames, device))
            if i2v:
                record["first_frame"] = torch.from_numpy(frames[0].copy())
            return record
        return _encode_video_no_grad(pipe, frames, device, i2v)


def _encode_video_ltx(pipe, frames: np.ndarray, device: str) -> dict:
    """LTX's latents as its pipelines use them before packing: (C, F, h, w), normalised by the VAE's
    per-channel statistics (`_normalize_latents`, as the condition pipeline does; LTX-2's with its
    scaling factor, as its pipeline does)."""
    import inspect

    import torch

    vae = pipe.vae
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)[None].to(device, vae.dtype)
    latents = vae.encode(x).latent_dist.mode().float()
    scaling = ([vae.config.scaling_factor] if "scaling_factor" in inspect.signature(pipe._normalize_latents).parameters
               else [])
    latents = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, *scaling)
    return {"latents": latents[0].to("cpu", torch.float16)}


def _wan_condition(pipe, frames: np.ndarray, device: str) -> dict:
    """What Wan's image-to-video pipeline feeds its transformer besides the noisy latents, built by the
    pipeline's own `prepare_latents` from the clip's first frame: the mask and the latents of the
    first frame followed by zeros (`condition`, concatenated to the channels), and, where the model
    has a CLIP image encoder (Wan 2.1 I2V), the image's hidden states."""
    import torch
    from PIL import Image

    first = Image.fromarray(frames[0])
    height, width = frames.shape[1:3]
    image = pipe.video_processor.preprocess(first, height=height, width=width).to(device, torch.float32)
    _, condition = pipe.prepare_latents(image, 1, pipe.vae.config.z_dim, height, width, len(frames), torch.float32,
                                        torch.device(device))
    out = {"condition": condition[0].to("cpu", torch.float16)}
    if getattr(pipe, "image_encoder", None) is not None and pipe.transformer.config.image_dim is not None:
        pipe.image_encoder.to(device)
        out["image_embeds"] = pipe.encode_image(first, torch.device(device))[0].to("cpu", torch.float16)
    return out


def _encode_video_wan(pipe, frames: np.ndarray, device: str) -> dict:
    """Wan's latents as its pipelines use them: (C, F, h, w), normalised by the VAE's per-channel
    mean and standard deviation (the pipeline undoes the same before decoding)."""
    import torch

    vae = pipe.vae
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)[None].to(device, vae.dtype)
    latents = vae.encode(x).latent_dist.mean.float()
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean, device=latents.device).view(shape)
    std = torch.tensor(vae.config.latents_std, device=latents.device).view(shape)
    return {"latents": ((latents - mean) / std)[0].to("cpu", torch.float16)}


def _encode_video_no_grad(pipe, frames: np.ndarray, device: str, i2v: bool) -> dict:
    import torch

    vae = pipe.vae
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)[None]
    x = x.to(device, vae.dtype)
    sf = vae.config.scaling_factor
    out = {"latents": (vae.encode(x).latent_dist.mean * sf)[0].permute(1, 0, 2, 3).to("cpu", torch.float16)}
    if i2v:  # the I2V pipeline encodes the first frame on its own
        out["image_latents"] = (vae.encode(x[:, :, :1]).latent_dist.mean * sf)[0].permute(1, 0, 2, 3).to(
            "cpu", torch.float16)
    return out


def build_cache(pipe, entry, data_dir: Path, out: Path, validation_prompt: str | None, log: Log,
                on_problem: Log) -> dict:
    """Latents and caption embeddings of every usable clip, from OUT/cache where present."""
    import torch

    training = scan_folder(data_dir)
    for problem in training.problems:
        on_problem(problem)
    cache_dir = out / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    device = _device()
    i2v = entry.task == "i2v"
    width, height, frames = entry.width, entry.height, entry.frames
    items, todo = [], []
    for source in training.clips:
        key = _cache_key(entry, source, width, height, frames)
        bad = cache_dir / f"{key}.bad"
        if bad.exists():  # decoded before and refused: report it again without decoding
            problem = f"{source.name}: {bad.read_text()}"
            training.problems.append(problem)
            on_problem(problem)
        elif (cache_dir / f"{key}.pt").exists():
            items.append((key, source))
        else:
            todo.append((key, source))
    if todo:
        log(f"encoding {len(todo)} clip(s) at {width}x{height}, {frames} frames "
            f"({len(items)} already cached)")
        pipe.vae.to(device)
        pipe.text_encoder.to(device)
        if entry.memory.get("vae_tiling") and device == "cuda":
            pipe.vae.enable_tiling()
        for key, source in todo:
            try:
                clip = load_clip(source, width, height, frames)
            except ClipError as exc:
                (cache_dir / f"{key}.bad").write_text(str(exc))
                training.problems.append(f"{source.name}: {exc}")
                on_problem(f"{source.name}: {exc}")
                continue
            record = _encode_video(pipe, clip, device, i2v, entry)
            record["embeds"] = _encode_text(pipe, entry, [source.caption], device)[0]
            record["name"], record["caption"] = source.name, source.caption
            torch.save(record, cache_dir / f"{key}.pt")
            items.append((key, source))
    training.problems = list(dict.fromkeys(training.problems))
    if not items:
        raise DataError(f"data: no usable clips in {data_dir} ({len(training.problems)} problem(s): "
                        + "; ".join(training.problems[:5]) + (" ..." if len(training.problems) > 5 else "") + ")")
    order = {s.name: i for i, s in enumerate(training.clips)}
    items.sort(key=lambda item: order[item[1].name])
    records = [torch.load(cache_dir / f"{key}.pt") for key, _ in items]
    prompt = validation_prompt or records[0]["caption"]
    texts = {"": None, prompt: None}
    for text in texts:
        path = cache_dir / f"{_text_key(entry, text)}.pt"
        if not path.exists():
            pipe.text_encoder.to(device)
            torch.save(_encode_text(pipe, entry, [text], device)[0], path)
        texts[text] = torch.load(path)
    pipe.text_encoder.to("cpu")
    data = {
        "latents": torch.stack([r["latents"] for r in records]),
        "embeds": torch.stack([r["embeds"] for r in records]),
        "names": [r["name"] for r in records], "captions": [r["caption"] for r in records],
        "empty": texts[""], "validation_prompt": prompt, "validation_embeds": texts[prompt],
        "problems": training.problems, "layout": training.layout,
    }
    for key in ("image_latents", "condition", "image_embeds"):  # what an image-to-video step reads
        if key in records[0]:
            data[key] = torch.stack([r[key] for r in records])
    if "first_frame" in records[0]:  # the validation clip starts from the first clip's first frame
        data["first_frame"] = records[0]["first_frame"].numpy()
    return data


# ---------------------------------------------------------------- checkpoints


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("step-*.pt"))


def _save_checkpoint(out: Path, transformer, opt, step: int, elapsed: float, gen: torch.Generator,
                     identity: dict) -> Path:
    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = save_atomically({"adapter": _adapter_state(transformer), "opt": opt.state_dict(), "step": step,
                            "elapsed": elapsed, "rng": gen.get_state(), "identity": identity},
                           folder / f"step-{step:06d}.pt")
    for old in _checkpoints(out)[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def _load_checkpoint(out: Path, identity: dict, log: Log) -> dict | None:
    import torch

    for path in reversed(_checkpoints(out)):
        try:
            state = torch.load(path, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a truncated file: fall back to the one before
            log(f"{path.name}: unreadable checkpoint ({exc.__class__.__name__}), trying an older one")
            continue
        for key, value in identity.items():
            if state["identity"].get(key) != value:
                raise TrainingError(
                    f"{key.replace('_', '-')}: the checkpoint {path} was made with {key} "
                    f"{state['identity'].get(key)!r}, not {value!r}; use the same setting, "
                    f"or --fresh to start over")
        return state
    return None


# ---------------------------------------------------------------- training


def _object_mask(x0: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    from shotsmith.train.shapes import _object_mask as mask

    return mask(x0, threshold)


def _pad_for_patch_t(latents: torch.Tensor, p_t: int | None) -> torch.Tensor:
    """CogVideoX 1.5 needs a latent frame count divisible by patch_size_t: repeat the
    first frame in front, as its pipelines do."""
    import torch

    if not p_t or latents.shape[1] % p_t == 0:
        return latents
    extra = p_t - latents.shape[1] % p_t
    return torch.cat([latents[:, :1].expand(-1, extra, -1, -1, -1), latents], dim=1)


def render_validation(pipe, entry, data: dict, seed: int, path: Path) -> Path:
    """One clip of the validation prompt with the adapter as it is now."""
    import torch

    with torch.no_grad():
        return _render_validation(pipe, entry, data, seed, path)


def _render_validation(pipe, entry, data: dict, seed: int, path: Path) -> Path:
    import torch

    from shotsmith.engine.engine import decode

    device = _device()
    pipe.transformer.eval()
    for name, module in pipe.components.items():  # the VAE, and LTX-2's connectors, audio VAE and vocoder
        if isinstance(module, torch.nn.Module) and name not in ("text_encoder", "transformer"):
            module.to(device)
    dtype = pipe.transformer.dtype
    prompt_embeds = data["validation_embeds"][None].to(device, dtype)
    negative = data["empty"][None].to(device, dtype)
    text_encoder = pipe.text_encoder
    pipe.text_encoder = None  # not needed (embeddings are cached); keeps _execution_device on the GPU
    try:
        if _flow(entry):  # the pipeline decodes: frames out; the family's own call (families/)
            masks = {}
            if entry.family in ("ltx", "ltx2"):
                masks = {"prompt_attention_mask": _text_mask(prompt_embeds),
                         "negative_prompt_attention_mask": _text_mask(negative)}
            image = None
            if "first_frame" in data:  # image-to-video: the first clip's first frame
                from PIL import Image

                image = Image.fromarray(data["first_frame"])
            call = entry.rules.call_arguments(entry, height=entry.height, width=entry.width, frames=entry.frames,
                                              steps=entry.steps, guidance=entry.guidance, image=image, pipe=pipe)
            result = pipe(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative, **masks, **call,
                          generator=torch.Generator(device="cpu").manual_seed(seed))
            return write_clip(entry.rules.output(pipe, result).frames, path, entry.fps)
        call = dict(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative, height=entry.height,
                    width=entry.width, num_frames=entry.frames, num_inference_steps=entry.steps,
                    guidance_scale=entry.guidance, use_dynamic_cfg=False, output_type="latent",
                    generator=torch.Generator(device="cpu").manual_seed(seed))
        if entry.task == "i2v":
            from PIL import Image

            first = pipe.decode_latents(data["image_latents"][:1].to(device, pipe.vae.dtype))
            frame = ((first[0, :, 0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0)
            call["image"] = Image.fromarray(frame.cpu().numpy())
        latents = pipe(**call).frames
        frames = decode(pipe, latents, entry.frames)
    finally:
        pipe.text_encoder = text_encoder
        pipe.transformer.train()
    return write_clip(frames, path, entry.fps)


def train_lora(data_dir: Path, out: Path, model: str | None = None, recipe: LoraRecipe | None = None,
               log: Log = print, on_problem: Log | None = None, fresh: bool = False,
               show_progress: bool = True, on_step: Callable[[int, float], None] | None = None) -> LoraResult:
    """Fine-tune `model` on the clips in `data_dir`; the LoRA goes to `out`.

    `on_step(step, loss)` is called after every optimisation step (progress for
    callers other than the terminal; raising KeyboardInterrupt there stops the run
    with a checkpoint, as Ctrl-C does).
    """
    import torch

    from diffusers import CogVideoXDDIMScheduler

    recipe = recipe or LoraRecipe()
    recipe.check()
    on_problem = on_problem or (lambda msg: log(f"skipped {msg}"))
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    out = Path(out)
    if not Path(data_dir).is_dir():  # before loading a multi-GB model
        raise DataError(f"data: folder {data_dir} does not exist")
    if fresh:
        for path in _checkpoints(out):
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _check_trainable(model)  # before loading a multi-GB model
    entry, pipe = load_for_training(model)
    _check_loaded(entry, pipe)
    data = build_cache(pipe, entry, Path(data_dir), out, recipe.validation_prompt, log, on_problem)
    n_clips = len(data["names"])
    cache_seconds = time.time() - started
    log(f"{n_clips} clip(s) ready ({data['layout']} layout, {len(data['problems'])} skipped) "
        f"in {cache_seconds:.0f}s")

    device = _device()
    transformer = pipe.transformer
    with torch.random.fork_rng(devices=[]):  # lora_A's random init: the same for the same seed
        torch.manual_seed(recipe.seed)
        params = add_lora(transformer, recipe.rank, recipe.alpha, target_modules(entry))
    transformer.to(device)
    if entry.family == "ltx2":
        pipe.connectors.to(device)  # the text connectors turn the cached text states into the streams' text
    checkpointing = recipe.gradient_checkpointing
    if checkpointing is None:
        checkpointing = device == "cuda" and not entry.embedded
    if checkpointing:
        transformer.enable_gradient_checkpointing()
    batch = recipe.batch or (4 if entry.embedded else 1)
    object_weight = recipe.object_weight if recipe.object_weight is not None else (3.0 if entry.embedded else 0.0)
    identity = {"model": entry.name, "rank": recipe.rank, "alpha": recipe.alpha or recipe.rank}

    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(recipe.seed)
    step, elapsed = 0, 0.0
    state = None if fresh else _load_checkpoint(out, identity, log)
    if state is not None:
        missing = set(_adapter_state(transformer)) - set(state["adapter"])
        if missing:
            raise TrainingError(f"checkpoint: {len(missing)} adapter weight(s) missing, e.g. {sorted(missing)[0]}")
        transformer.load_state_dict(state["adapter"], strict=False)
        opt.load_state_dict(state["opt"])
        gen.set_state(state["rng"])
        step, elapsed = state["step"], state["elapsed"]
        log(f"resumed from checkpoint at step {step}")

    flow = _flow(entry)
    if flow:
        latents_all = data["latents"]
        draw = _FlowBatchDrawer(latents_all, n_clips, data, batch, recipe.empty_caption_rate, device, gen,
                                first_frame_clean=entry.family == "ltx" and entry.task == "i2v")
    else:
        sched = CogVideoXDDIMScheduler.from_config(pipe.scheduler.config)
        latents_all = _pad_for_patch_t(data["latents"], transformer.config.patch_size_t)
        draw = _BatchDrawer(latents_all, n_clips, data, sched, batch, recipe.empty_caption_rate, device, gen)
    rotary = None
    if not flow and transformer.config.use_rotary_positional_embeddings:
        rotary = pipe._prepare_rotary_positional_embeddings(entry.height, entry.width, latents_all.shape[1],
                                                            torch.device(device))
    ofs = None
    if getattr(transformer.config, "ofs_embed_dim", None):
        ofs = torch.full((batch,), 2.0, device=device)  # what the 1.5 I2V pipeline passes
    dtype = next(p.dtype for p in transformer.parameters() if not p.requires_grad)  # the frozen weights' dtype
    validation: list[Path] = []
    budget = recipe.minutes * 60 if recipe.minutes else math.inf
    t0 = time.time() - elapsed
    last_loss = float("nan")
    stopped_early = False

    def lr_at(s: int) -> float:
        warm = min(1.0, (s + 1) / max(1, recipe.warmup))
        return recipe.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / recipe.steps)))

    def save_checkpoint() -> None:
        _save_checkpoint(out, transformer, opt, step, time.time() - t0, gen, identity)

    progress = _progress(show_progress)
    transformer.train()
    try:
        with progress:
            task = progress.add_task("training", total=recipe.steps, completed=step, loss="")
            while step < recipe.steps:
                if time.time() - t0 >= budget:
                    stopped_early = True
                    log(f"time cap of {recipe.minutes:g} min reached at step {step}")
                    break
                for g in opt.param_groups:
                    g["lr"] = lr_at(step)
                x0, model_input, text, t, target = draw()
                if entry.family == "ltx":
                    pred = _ltx_forward(pipe, transformer, model_input.to(dtype), text.to(device, dtype),
                                        _ltx_timesteps(t.to(device), draw.clean_frames, model_input.shape), entry.fps)
                    if draw.clean_frames:  # the given first frame is not the model's to predict
                        pred, target, x0 = (v[:, :, draw.clean_frames:] for v in (pred, target, x0))
                elif entry.family == "ltx2":
                    pred = _ltx2_forward(pipe, transformer, model_input.to(dtype), text.to(device, dtype),
                                         t.to(device), entry.fps, gen)
                elif flow:
                    cond = draw.conditioning(dtype)
                    if "condition" in cond:  # Wan I2V: mask and first-frame latents beside the noisy ones
                        model_input = torch.cat([model_input, cond["condition"]], dim=1)
                    pred = transformer(hidden_states=model_input.to(dtype), timestep=t.to(device),
                                       encoder_hidden_states=text.to(device, dtype),
                                       encoder_hidden_states_image=cond.get("image_embeds"),
                                       return_dict=False)[0].float()
                else:
                    pred = transformer(hidden_states=model_input.to(dtype),
                                       encoder_hidden_states=text.to(device, dtype), timestep=t.to(device),
                                       image_rotary_emb=rotary, ofs=ofs, return_dict=False)[0].float()
                loss = _weighted_loss(pred, target, x0, object_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                step += 1
                last_loss = 0.9 * last_loss + 0.1 * loss.item() if step > 1 and math.isfinite(last_loss) \
                    else loss.item()
                progress.update(task, completed=step, loss=f"loss {last_loss:.4f}")
                if on_step:
                    on_step(step, loss.item())
                if step % recipe.checkpoint_every == 0 or step == recipe.steps:
                    save_checkpoint()
                if recipe.validate_every and step % recipe.validate_every == 0 and step < recipe.steps:
                    path = render_validation(pipe, entry, data, recipe.validation_seed,
                                             out / "validation" / f"step-{step:06d}.mp4")
                    validation.append(path)
                    log(f"step {step}: loss {last_loss:.4f}, validation clip {path}")
    except KeyboardInterrupt:
        save_checkpoint()
        log(f"interrupted at step {step}: checkpoint saved; run the same command again to resume")
        raise
    train_seconds = time.time() - t0
    if stopped_early and step:
        save_checkpoint()
    transformer.eval()
    path = render_validation(pipe, entry, data, recipe.validation_seed, out / "validation" / f"step-{step:06d}.mp4")
    validation.append(path)
    save_lora(pipe, transformer, out)
    info = {"steps": step, "clips": n_clips, "batch": batch, "object_weight": object_weight,
            "train_seconds": round(train_seconds, 1), "cache_seconds": round(cache_seconds, 1),
            "final_loss": round(last_loss, 5)}
    _write_info(out, entry, recipe, data, info)
    log(f"LoRA written to {out / LORA_FILE} ({step} steps, {train_seconds:.0f}s training)")
    return LoraResult(path=out, steps=step, clips=n_clips, problems=data["problems"], validation=validation,
                      seconds={"cache": round(cache_seconds, 1), "train": round(train_seconds, 1)},
                      stopped_early=stopped_early)


class _BatchDrawer:
    """Draws one training batch from the cache: clean latents, the noised model input (with the
    first-frame conditioning for I2V), text (some captions dropped for guidance), timesteps and
    the v-prediction target. The order of the random draws is part of the recipe: a resumed run
    restores the generator and continues the same sequence."""

    def __init__(self, latents, clips: int, data: dict, sched, batch: int, empty_rate: float, device, gen):
        self.latents, self.clips, self.embeds, self.empty = latents, clips, data["embeds"], data["empty"]
        self.image_latents = data.get("image_latents")
        self.alphas = sched.alphas_cumprod.float()
        self.timesteps = sched.config.num_train_timesteps
        self.batch, self.empty_rate, self.device, self.gen = batch, empty_rate, device, gen

    def _clean(self):
        """Clips and their captions (some dropped for guidance): (indices, clean latents, text)."""
        import torch

        idx = torch.randint(0, self.clips, (self.batch,), generator=self.gen)
        x0 = self.latents[idx].to(self.device, torch.float32)
        text = self.embeds[idx].float()
        drop = torch.rand(self.batch, generator=self.gen) < self.empty_rate
        text[drop] = self.empty.float()
        return idx, x0, text

    def __call__(self):
        import torch

        gen, device = self.gen, self.device
        idx, x0, text = self._clean()
        t = torch.randint(0, self.timesteps, (self.batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        a = self.alphas[t].view(-1, 1, 1, 1, 1).to(device)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction
        model_input = noisy
        if self.image_latents is not None:
            first = self.image_latents[idx].to(device, torch.float32)
            cond = torch.cat([first, torch.zeros_like(x0[:, first.shape[1]:])], dim=1)
            model_input = torch.cat([noisy, cond], dim=2)
        return x0, model_input, text, t, target


def _ltx_timesteps(t, clean_frames: int, shape):
    """LTX's timestep per sample, or, with a clean first frame (image-to-video), per token: 0 on the
    given frame's tokens and t elsewhere, as its image-to-video pipelines set it (t * (1 - mask))."""
    import torch

    if not clean_frames:
        return t
    batch, _, frames, height, width = shape
    mask = torch.zeros(frames, height, width, device=t.device)
    mask[:clean_frames] = 1
    return t[:, None] * (1 - mask.flatten())[None]


def _ltx_forward(pipe, transformer, latents, text, timestep, fps: int):
    """LTX's transformer on (B, C, F, h, w) latents: packed into tokens, the text's mask from its
    zeroed padding, rope scaled as the pipeline scales it; the prediction unpacked again."""
    batch, _, frames, height, width = latents.shape
    p, p_t = transformer.config.patch_size, transformer.config.patch_size_t
    scale = (pipe.vae_temporal_compression_ratio / fps, pipe.vae_spatial_compression_ratio,
             pipe.vae_spatial_compression_ratio)
    packed = pipe._pack_latents(latents, p, p_t)
    pred = transformer(hidden_states=packed, encoder_hidden_states=text, timestep=timestep,
                       encoder_attention_mask=_text_mask(text), num_frames=frames // p_t, height=height // p,
                       width=width // p, rope_interpolation_scale=scale, return_dict=False)[0]
    return pipe._unpack_latents(pred, frames // p_t, height // p, width // p, p, p_t).float()


class _FlowBatchDrawer(_BatchDrawer):
    """A batch for a flow-matching family (Wan, LTX-Video, LTX-2): the clean latent and noise mixed
    at a uniform sigma, x_s = (1 - s) x0 + s noise, the transformer asked for the velocity
    noise - x0 at timestep 1000 s, as the flow-matching schedulers of these pipelines step it.

    Image-to-video: `conditioning()` gives the batch's cached conditioning (Wan: `condition`, and
    `image_embeds` with a CLIP encoder); with first_frame_clean (LTX-Video) the first latent frame is
    the first frame's own latent, clean, as the I2V pipeline puts the image there (`clean_frames`)."""

    def __init__(self, latents, clips: int, data: dict, batch: int, empty_rate: float, device, gen,
                 first_frame_clean: bool = False):
        self.latents, self.clips, self.embeds, self.empty = latents, clips, data["embeds"], data["empty"]
        self.image_latents = data.get("image_latents") if first_frame_clean else None
        self.clean_frames = 1 if self.image_latents is not None else 0
        self.cached = {key: data[key] for key in ("condition", "image_embeds") if key in data}
        self.batch, self.empty_rate, self.device, self.gen = batch, empty_rate, device, gen
        self.idx = None

    def __call__(self):
        import torch

        gen, device = self.gen, self.device
        self.idx, x0, text = self._clean()
        sigma = torch.rand(self.batch, generator=gen)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        s = sigma.view(-1, 1, 1, 1, 1).to(device)
        if self.clean_frames:
            x0 = torch.cat([self.image_latents[self.idx].to(device, torch.float32), x0[:, :, self.clean_frames:]], 2)
        noisy = (1 - s) * x0 + s * noise
        if self.clean_frames:
            noisy[:, :, :self.clean_frames] = x0[:, :, :self.clean_frames]
        return x0, noisy, text, sigma * 1000, noise - x0

    def conditioning(self, dtype) -> dict:
        return {key: value[self.idx].to(self.device, dtype) for key, value in self.cached.items()}


def _ltx2_forward(pipe, transformer, latents, text, timestep, fps: int, gen):
    """LTX-2's audio-video transformer on (B, C, F, h, w) video latents; the video prediction back.

    The text passes through the pipeline's connectors (one stream of text for the picture, one for
    the sound, as its pipeline does). The sound stream is pure noise at timestep 1000 (sigma 1),
    the state a render starts from: the step trains the picture and claims nothing about sound."""
    import torch

    batch, _, frames, height, width = latents.shape
    p, p_t = transformer.config.patch_size, transformer.config.patch_size_t
    with torch.no_grad():
        mask = _text_mask(text)
        video_text, audio_text, mask = pipe.connectors(text, mask, padding_side=getattr(pipe.tokenizer, "padding_side",
                                                                                        "left"))
    audio_vae = pipe.audio_vae
    seconds = ((frames - 1) * pipe.vae_temporal_compression_ratio + 1) / fps
    audio_frames = round(seconds * pipe.audio_sampling_rate / pipe.audio_hop_length
                         / float(pipe.audio_vae_temporal_compression_ratio))
    shape = (batch, audio_vae.config.latent_channels, audio_frames,
             audio_vae.config.mel_bins // pipe.audio_vae_mel_compression_ratio)
    audio = pipe._pack_audio_latents(torch.randn(shape, generator=gen).to(latents.device, latents.dtype))
    full = torch.full_like(timestep, 1000.0)
    pred, _ = transformer(hidden_states=pipe._pack_latents(latents, p, p_t), audio_hidden_states=audio,
                          encoder_hidden_states=video_text, audio_encoder_hidden_states=audio_text,
                          timestep=timestep, audio_timestep=full, sigma=timestep, audio_sigma=full,
                          encoder_attention_mask=mask, audio_encoder_attention_mask=mask, num_frames=frames // p_t,
                          height=height // p, width=width // p, fps=fps, audio_num_frames=audio_frames,
                          return_dict=False)
    return pipe._unpack_latents(pred, frames // p_t, height // p, width // p, p, p_t).float()


def _weighted_loss(pred, target, x0, object_weight: float):
    """MSE, with the error on the object (latents that differ from the frame's background) weighed
    `object_weight` times more when it is set (the embedded model's recipe)."""
    import torch

    if not object_weight:
        return torch.nn.functional.mse_loss(pred, target)
    weight = 1 + object_weight * _object_mask(x0)
    return (weight * (pred - target) ** 2).mean() / weight.mean()


def _write_info(out: Path, entry, recipe: LoraRecipe, data: dict, run: dict) -> None:
    """lora.json beside the weights: what it was trained on and how, so the run can be judged and redone."""
    info = {
        "model": entry.name, "base": entry.path or entry.hub_id, "task": entry.task, "rank": recipe.rank,
        "alpha": recipe.alpha or recipe.rank, "target_modules": list(target_modules(entry)), "steps": run["steps"],
        "clips": run["clips"], "skipped": data["problems"], "captions": data["captions"],
        "validation_prompt": data["validation_prompt"], "recipe": asdict(recipe), "batch": run["batch"],
        "object_weight": run["object_weight"], "train_seconds": run["train_seconds"],
        "cache_seconds": run["cache_seconds"], "final_loss": run["final_loss"],
        "size": {"width": entry.width, "height": entry.height, "frames": entry.frames, "fps": entry.fps},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled)
