"""LTX-Video 0.9.x (Lightricks): fast text-, image-, first+last-frame-to-video and video edits.

Rules from the checkpoints: the LTX VAE compresses time 8x and space 32x with a 1x1x1
transformer patch, so frames are 8k+1 and sizes multiples of 32; a T5 text encoder read
to 128 tokens (the pipelines' default); the distilled 0.9.x checkpoints run in a few steps
with guidance 1 (no negative pass).

Every render goes through `LTXConditionPipeline`, which loads any LTX folder's modules
(the same five as the plain text- and image-to-video pipelines): with no condition it is
text-to-video; a first frame is a condition at frame 0, a last frame one at the clip's
last frame, and an edit starts from the source clip's latents with `denoise_strength`.

An entry with `upsample` renders as Lightricks' two-stage recipe for the 0.9.7 checkpoints
(diffusers' LTX-Video docs): the clip at 2/3 of the asked size (rounded down to the VAE's 32),
its latents doubled in size by the spatial latent upsampler (`LTXLatentUpsamplePipeline`, with
AdaIN against the first stage's latents), four refine steps at the doubled size from the recipe's
timesteps, the decode (from the 0.05 decode timestep where the VAE is conditioned on it), and the
frames resized to the asked size. Progress counts the steps of both stages; cancel works in
either (the interrupt flag ends the first stage early and the second is not run).
"""

from __future__ import annotations

from pathlib import Path

from shotsmith.models.families.base import Family, patch_hw, read_config, resize_video

# The 0.9.x VAEs with timestep conditioning decode from a slightly noised latent; these are the
# values diffusers' examples use for the distilled checkpoints (a VAE without it ignores them)
DECODE_NOISE = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
# Lightricks' own advice for LTX prompts: steer away from these artefacts
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"
# The two-stage recipe for the 0.9.7 checkpoints (diffusers' LTX-Video docs): the first stage's
# size as a share of the asked one, the refine stage's timesteps and strength (the first timestep
# is skipped: 4 steps), AdaIN of the upsampled latents to the first stage's, and the hard image
# conditions left un-noised
FIRST_STAGE_SCALE = 2 / 3
REFINE_TIMESTEPS = (1000, 909, 725, 421, 0)
REFINE_STRENGTH = 0.999
UPSAMPLE_ADAIN = 1.0
RECIPE = {"image_cond_noise_scale": 0.0, "guidance_rescale": 0.7}
UPSAMPLER_FOLDER = "latent_upsampler"  # where an upsampler pipeline folder (and an LTX folder carrying one) keeps it


def vae_compression(folder: Path, default_scaling: tuple[bool, ...]) -> tuple[int, int]:
    """(temporal, spatial) compression of an LTX-style VAE, the spatial one times the transformer's
    patch: as the VAE computes them when its config leaves them unset, the patch times 2 per
    scaling stage (LTX-Video and LTX-2 differ only in their default stages)."""
    vae, transformer = read_config(folder, "vae"), read_config(folder, "transformer")
    stages = sum(bool(x) for x in vae.get("spatio_temporal_scaling", default_scaling))
    temporal = int(vae.get("temporal_compression_ratio") or vae.get("patch_size_t", 1) * 2 ** stages)
    spatial = int(vae.get("spatial_compression_ratio") or vae.get("patch_size", 4) * 2 ** stages)
    return temporal, spatial * patch_hw(transformer, 1)


class LTXFamily(Family):
    def pipeline_class(self, task: str):
        import diffusers

        return diffusers.LTXConditionPipeline

    def compression(self, folder: Path) -> tuple[int, int]:
        return vae_compression(folder, default_scaling=(True, True, True, False))

    def folder_rules(self, folder: Path, index: dict) -> dict:
        rules = super().folder_rules(folder, index)
        if (folder / UPSAMPLER_FOLDER / "config.json").exists():  # the folder carries its spatial upsampler
            rules.update(upsampler=str(folder), upsample=True)
        return rules

    # -- the two-stage recipe ---------------------------------------------------------------
    def prepare(self, pipe, entry) -> None:
        if entry.upsample:
            upsample_pipeline(pipe, entry)

    def extra_steps(self, entry) -> int:
        return refine_steps() if entry.upsample else 0

    def run(self, entry, pipe, call, generator, on_step, staged=False):
        if not (staged and entry.upsample):
            return super().run(entry, pipe, call, generator, on_step)
        from diffusers.pipelines.ltx.pipeline_output import LTXPipelineOutput

        upsampler = upsample_pipeline(pipe, entry)
        height, width = call["height"], call["width"]
        low_height, low_width = first_stage_size(height, width, pipe.vae_spatial_compression_ratio)
        first = pipe(**{**call, **RECIPE, "height": low_height, "width": low_width, "output_type": "latent"},
                     generator=generator, callback_on_step_end=on_step)
        if pipe.interrupt:  # cancelled during the first stage: the engine raises once this returns
            return first
        latents = upsampler(latents=first.frames, adain_factor=UPSAMPLE_ADAIN, output_type="latent").frames
        if pipe.transformer.is_cache_enabled:  # a step cache's state is the first stage's, at another size
            pipe.transformer._reset_stateful_cache()
        done = call["num_inference_steps"]

        def refine_step(pipe_, i, t, kwargs):  # the steps count on from the first stage's
            return on_step(pipe_, done + i, t, kwargs)

        refined = pipe(**{**call, **RECIPE, "height": 2 * low_height, "width": 2 * low_width, "latents": latents,
                          "denoise_strength": REFINE_STRENGTH, "timesteps": list(REFINE_TIMESTEPS),
                          "num_inference_steps": len(REFINE_TIMESTEPS)},
                       generator=generator, callback_on_step_end=refine_step)
        # the recipe's last step: the frames back to the asked size
        return LTXPipelineOutput(frames=[resize_video(refined.frames[0], height, width)])

    def folder_last_frame(self, index: dict) -> bool:
        # frame conditions at any index came with the condition pipeline (0.9.5 and later)
        return True

    def encode_text(self, pipe, text: str, limit: int) -> dict:
        embeds, mask, _, _ = pipe.encode_prompt(text, do_classifier_free_guidance=False, max_sequence_length=limit,
                                                device=pipe._execution_device)
        return {"prompt_embeds": embeds, "prompt_attention_mask": mask}

    def call_arguments(self, entry, *, height, width, frames, steps, guidance, image=None, last_image=None,
                       pipe=None):
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        call = dict(height=height, width=width, num_frames=frames, frame_rate=entry.fps, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="np", max_sequence_length=entry.text_limit,
                    **DECODE_NOISE)
        conditions = []
        if image is not None:
            conditions.append(LTXVideoCondition(image=image, frame_index=0))
        if last_image is not None:
            conditions.append(LTXVideoCondition(image=last_image, frame_index=frames - 1))
        if conditions:
            call["conditions"] = conditions
        return call

    def edit_arguments(self, entry, pipe, *, video, strength, height, width, frames, steps, guidance):
        # The source clip's latents are where the render starts: the pipeline noises them to the
        # level `denoise_strength` picks and runs the rest of the schedule (a frame condition at
        # full strength would instead hand the source back unchanged).
        return dict(latents=source_latents(pipe, video, height, width), denoise_strength=strength, height=height,
                    width=width, num_frames=frames, frame_rate=entry.fps, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="np", max_sequence_length=entry.text_limit,
                    **DECODE_NOISE)


def first_stage_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The recipe's first-stage size: 2/3 of the asked size, rounded down to the VAE's multiple (at
    least one multiple); the upsampler then doubles it."""
    return tuple(max(multiple, int(side * FIRST_STAGE_SCALE) // multiple * multiple) for side in (height, width))


def refine_steps() -> int:
    """The steps the refine stage runs: the pipeline keeps int(n * strength) of its n timesteps."""
    return min(int(len(REFINE_TIMESTEPS) * REFINE_STRENGTH), len(REFINE_TIMESTEPS))


def upsampler_source(entry) -> tuple[str, str | None]:
    """(where, subfolder) the entry's spatial latent upsampler loads from, looked for as model weights
    are: a folder (the entry's `upsampler` as a path, the model's own folder when it carries one,
    $SHOTSMITH_MODELS/<the hub repository's name>), else the hub id. A folder is an upsampler
    pipeline's (the model in latent_upsampler/, as on the hub) or the bare model's."""
    from shotsmith.models.registry import local_path, models_dir

    name = entry.upsampler
    is_path = _is_path(name)
    candidates = []
    if is_path:
        candidates.append(Path(name).expanduser())
    else:
        own = local_path(entry)
        if own is not None:
            candidates.append(own)
        candidates.append(models_dir() / name.rsplit("/", 1)[-1])
    for folder in candidates:
        if (folder / UPSAMPLER_FOLDER / "config.json").exists():
            return str(folder), UPSAMPLER_FOLDER
        if (folder / "config.json").exists() and not (folder / "model_index.json").exists():
            return str(folder), None
    if is_path:
        return name, None  # a folder that holds none: the load names it
    return name, UPSAMPLER_FOLDER


def _is_path(name: str) -> bool:
    """A local folder rather than a hub id ('owner/name')."""
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().is_dir()


def upsample_pipeline(pipe, entry):
    """The spatial upsampler as diffusers' `LTXLatentUpsamplePipeline` on the render pipeline's own VAE
    (for its latent statistics), loaded once per pipeline and source."""
    from diffusers import LTXLatentUpsamplePipeline
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    source, subfolder = upsampler_source(entry)
    loaded = getattr(pipe, "_shotsmith_upsampler", None)
    if loaded is not None and loaded[0] == (source, subfolder):
        return loaded[1]
    try:
        model = LTXLatentUpsamplerModel.from_pretrained(source, subfolder=subfolder, dtype=pipe.vae.dtype)
    except (OSError, ValueError) as exc:
        from shotsmith.models.loader import ModelUnavailable

        hub = entry.upsampler.rsplit("/", 1)[-1]
        raise ModelUnavailable(
            f"model: cannot load the spatial upsampler of {entry.name} from {source} ({exc.__class__.__name__}); "
            f"download it with `huggingface-cli download {entry.upsampler} --local-dir <SHOTSMITH_MODELS>/{hub}`, "
            f"or turn the model's `upsample` option off") from None
    device = pipe._execution_device
    upsampler = LTXLatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model.to(device).eval())
    upsampler.set_progress_bar_config(disable=True)
    pipe._shotsmith_upsampler = ((source, subfolder), upsampler)
    return upsampler


def source_latents(pipe, video: list, height: int, width: int):
    """A clip (PIL frames) as LTX's normalised latents (1, C, F, h, w)."""
    import torch

    with torch.no_grad():
        pixels = pipe.video_processor.preprocess_video(video, height=height, width=width)
        pixels = pixels.to(device=pipe._execution_device, dtype=pipe.vae.dtype)
        latents = pipe.vae.encode(pixels).latent_dist.mode()
        return pipe._normalize_latents(latents, pipe.vae.latents_mean, pipe.vae.latents_std).float()

LTX = LTXFamily(
    name="ltx", title="LTX-Video",
    pipelines={"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline", "v2v": "LTXConditionPipeline"},
    frame_step=8, size_multiple=32, fps=24, text_limit=128, native=(768, 512, 121), max_frames=257,
    negative_prompt=LTX_NEGATIVE, steps=8, guidance=1.0,
)
