"""Wan 2.1 / 2.2 (Alibaba): text-, image- and first+last-frame-to-video, and video-to-video.

Rules from the checkpoints: the Wan VAE compresses time 4x (frames 4k+1) and space 8x
(16x for Wan 2.2's TI2V-5B VAE), the transformer patches 2x2, so sizes are multiples of 16
(32 for TI2V-5B); 16 fps (24 for TI2V-5B); a umT5 text encoder read to 512 tokens. Wan's
pipelines take a first frame (`image`) and, for the FLF2V checkpoint, a last one
(`last_image`) themselves; the A14B 2.2 checkpoints switch between two transformers inside
the pipeline, which changes nothing here.
"""

from __future__ import annotations

from pathlib import Path

from shotsmith.models.families.base import Family, patch_hw, read_config


class WanFamily(Family):
    def compression(self, folder: Path) -> tuple[int, int]:
        vae, transformer = read_config(folder, "vae"), read_config(folder, "transformer")
        temporal = int(vae.get("scale_factor_temporal") or self.frame_step)
        spatial = int(vae.get("scale_factor_spatial") or 8)
        return temporal, spatial * patch_hw(transformer, 2)

    def encode_text(self, pipe, text: str, limit: int) -> dict:
        """umT5 embeddings as Wan's pipelines make them: the prompt's tokens, then zeros up to
        `limit` (the padding positions are zeroed, not the encoder's output for pad tokens).
        Done here rather than through `pipe.encode_prompt`, whose image- and video-to-video
        versions need the optional ftfy package; shotsmith cleans the text itself (text.py)."""
        import torch

        tokens = pipe.tokenizer([text], padding="max_length", max_length=limit, truncation=True,
                                add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        device = pipe._execution_device
        mask = tokens.attention_mask.to(device)
        hidden = pipe.text_encoder(tokens.input_ids.to(device), mask).last_hidden_state
        length = int(mask.sum())
        embeds = torch.zeros_like(hidden)
        embeds[:, :length] = hidden[:, :length]
        return {"prompt_embeds": embeds.to(pipe.text_encoder.dtype)}

    def folder_last_frame(self, index: dict) -> bool:
        # The I2V pipeline conditions on a last frame itself; whether the weights were trained
        # for it (FLF2V) a folder does not say, so a local I2V folder is allowed to try.
        return index.get("_class_name") == self.pipelines["i2v"]

# What Wan users commonly steer away from; shorter than the checkpoints' published list, in English.
WAN_NEGATIVE = ("blurry, low quality, overexposed, static frame, washed-out colours, subtitles, watermark, "
                "text, jpeg artefacts, deformed hands or faces, extra limbs, cluttered background")

WAN = WanFamily(
    name="wan", title="Wan 2.x",
    pipelines={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline", "v2v": "WanVideoToVideoPipeline"},
    frame_step=4, size_multiple=16, fps=16, text_limit=512, native=(832, 480, 81), max_frames=81,
    negative_prompt=WAN_NEGATIVE, steps=50, guidance=5.0,
)
