"""CogVideoX 1.0 and 1.5 (THUDM): the family shotsmith started with, and its embedded models.

Frames are 8k+1 (1.0) or 16k+1 (1.5: the transformer patches two latent frames at once);
the entry says which. The engine decodes the latents itself, because the I2V first- and
last-frame locks (engine.FirstFrameLock, LastFrameLock) work on them between steps.
"""

from __future__ import annotations

from typing import Any

from shotsmith.models.families.base import Family


class CogVideoXFamily(Family):
    def call_arguments(self, entry, *, height, width, frames, steps, guidance, image=None, last_image=None,
                       pipe=None):
        # last_image never reaches the pipeline: the engine holds the last latent frame itself
        call = dict(height=height, width=width, num_frames=frames, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="latent", use_dynamic_cfg=False)
        if image is not None:
            call["image"] = image
        return call

    def edit_arguments(self, entry, pipe, *, video, strength, height, width, frames, steps, guidance) -> dict[str, Any]:
        return dict(video=video, strength=strength, height=height, width=width, num_inference_steps=steps,
                    guidance_scale=guidance, output_type="latent", use_dynamic_cfg=False,
                    max_sequence_length=entry.text_limit)


COGVIDEOX = CogVideoXFamily(
    name="cogvideox", title="CogVideoX",
    pipelines={"t2v": "CogVideoXPipeline", "i2v": "CogVideoXImageToVideoPipeline",
               "v2v": "CogVideoXVideoToVideoPipeline"},
    frame_step=8, size_multiple=16, fps=8, text_limit=226, native=(720, 480, 49), max_frames=49, steps=50,
    guidance=6.0, engine_decodes=True,
)
