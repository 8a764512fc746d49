"""HunyuanVideo 1.5 (Tencent): text- and image-to-video, 480p and 720p checkpoints.

Rules from the checkpoints: the VAE compresses time 4x and space 16x with a 1x1x1
transformer patch (frames 4k+1, sizes multiples of 16); two text encoders, a Qwen2.5-VL
language model read to 1000 tokens and a ByT5 glyph encoder for quoted text, each with its
mask; 24 fps. The pipeline takes its guidance from a guider component rather than an
argument, and has no step callback: the engine counts steps on the scheduler instead
(`stepwise`), and cancel still goes through the pipeline's interrupt flag. The image-to-video
pipeline picks the clip's size itself (the bucket of its target size nearest the image's aspect):
the image is cropped to the asked aspect and the frames resized to the asked size.
"""

from __future__ import annotations

from pathlib import Path

from shotsmith.models.families.base import Family, patch_hw, read_config, resize_video


class HunyuanVideo15Family(Family):
    def compression(self, folder: Path) -> tuple[int, int]:
        vae, transformer = read_config(folder, "vae"), read_config(folder, "transformer")
        temporal = int(vae.get("temporal_compression_ratio") or self.frame_step)
        spatial = int(vae.get("spatial_compression_ratio") or 16)
        return temporal, spatial * patch_hw(transformer, 1)

    def encode_text(self, pipe, text: str, limit: int) -> dict:
        embeds, mask, embeds_2, mask_2 = pipe.encode_prompt(text, device=pipe._execution_device,
                                                            dtype=pipe.transformer.dtype)
        return {"prompt_embeds": embeds, "prompt_embeds_mask": mask, "prompt_embeds_2": embeds_2,
                "prompt_embeds_mask_2": mask_2}

    def call_arguments(self, entry, *, height, width, frames, steps, guidance, image=None, last_image=None,
                       pipe=None):
        if pipe is not None and getattr(pipe, "guider", None) is not None:
            # The guidance scale lives on the pipeline's guider: a copy with this request's scale
            # (renders take turns on a pipeline, Engine.session, so the swap is this render's).
            if getattr(pipe.guider, "guidance_scale", None) != guidance:
                pipe.guider = pipe.guider.new(guidance_scale=guidance)
        call = dict(height=height, width=width, num_frames=frames, num_inference_steps=steps, output_type="np")
        if image is not None:
            call["image"] = image
        return call

    def run(self, entry, pipe, call, generator, on_step, staged=False):
        if "image" not in call:
            return super().run(entry, pipe, call, generator, on_step, staged)
        # The image-to-video pipeline takes no size: it renders at the bucket of its checkpoint's
        # target size nearest the image's aspect. The image is cropped to the asked aspect first, so
        # that bucket is the asked size or near it, and the frames are resized to the asked size.
        from PIL import ImageOps

        height, width = call["height"], call["width"]
        image = ImageOps.fit(call["image"], (width, height))
        rest = {k: v for k, v in call.items() if k not in ("height", "width", "image")}
        result = super().run(entry, pipe, {**rest, "image": image}, generator, on_step, staged)
        result.frames = [resize_video(result.frames[0], height, width)]
        return result


HUNYUAN_VIDEO_15 = HunyuanVideo15Family(
    name="hunyuanvideo15", title="HunyuanVideo 1.5",
    pipelines={"t2v": "HunyuanVideo15Pipeline", "i2v": "HunyuanVideo15ImageToVideoPipeline"},
    frame_step=4, size_multiple=16, fps=24, text_limit=1000, native=(848, 480, 121), max_frames=121,
    steps=50, guidance=6.0, stepwise=True, lora=False,  # diffusers 0.42 has no LoRA loader for these pipelines
)
