"""LTX-Video 0.9.x (Lightricks): fast text-, image-, first+last-frame-to-video and video edits.

Rules from the checkpoints: the LTX VAE compresses time 8x and space 32x with a 1x1x1
transformer patch, so frames are 8k+1 and sizes multiples of 32; a T5 text encoder read
to 128 tokens (the pipelines' default); the distilled 0.9.x checkpoints run in a few steps
with guidance 1 (no negative pass).

Every render goes through `LTXConditionPipeline`, which loads any LTX folder's modules
(the same five as the plain text- and image-to-video pipelines): with no condition it is
text-to-video; a first frame is a condition at frame 0, a last frame one at the clip's
last frame, and an edit starts from the source clip's latents with `denoise_strength`.
"""

from __future__ import annotations

from pathlib import Path

from shotsmith.models.families.base import Family, patch_hw, read_config

# The 0.9.x VAEs with timestep conditioning decode from a slightly noised latent; these are the
# values diffusers' examples use for the distilled checkpoints (a VAE without it ignores them)
DECODE_NOISE = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
# Lightricks' own advice for LTX prompts: steer away from these artefacts
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"


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
