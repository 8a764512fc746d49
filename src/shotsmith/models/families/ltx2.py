"""LTX-2 (Lightricks): video with a sound track made alongside it, text- and image-to-video.

Rules from the checkpoint: the video VAE compresses time 8x and space 32x (frames 8k+1,
sizes multiples of 32); a Gemma 3 text encoder whose hidden states pass through the
pipeline's text connectors; an audio VAE and a vocoder turn the audio latents into a
waveform as long as the clip (frames / frame rate). The pipeline's own sampling settings
(guidance per modality, spatio-temporal guidance at block 28) are the model's published
defaults and are kept, except that a request's guidance of 1 or less turns every guidance
pass off, sound included, and spatio-temporal guidance is only asked of blocks the
checkpoint has.
"""

from __future__ import annotations

from pathlib import Path

from shotsmith.models.families.base import Family, Output, to_uint8
from shotsmith.models.families.ltx import DECODE_NOISE, LTX_NEGATIVE, LTXFamily, vae_compression

STG_BLOCKS = (28,)  # where the pipeline applies spatio-temporal guidance by default


class LTX2Family(Family):
    def compression(self, folder: Path) -> tuple[int, int]:
        return vae_compression(folder, default_scaling=(True, True, True, True))

    encode_text = LTXFamily.encode_text  # the same prompt call and mask as LTX-Video

    def call_arguments(self, entry, *, height, width, frames, steps, guidance, image=None, last_image=None,
                       pipe=None):
        call = dict(height=height, width=width, num_frames=frames, frame_rate=float(entry.fps),
                    num_inference_steps=steps, guidance_scale=guidance, output_type="np",
                    max_sequence_length=entry.text_limit, **DECODE_NOISE)
        if guidance <= 1.0:  # no guidance pass for the picture: none for the sound either
            call.update(audio_guidance_scale=1.0, modality_scale=1.0, audio_modality_scale=1.0)
        if pipe is not None:
            blocks = [b for b in STG_BLOCKS if b < pipe.transformer.config.num_layers]
            call["spatio_temporal_guidance_blocks"] = blocks or None
            if not blocks:
                call.update(stg_scale=0.0, audio_stg_scale=0.0)
        if image is not None:
            call["image"] = image
        return call

    def output(self, pipe, result) -> Output:
        audio = result.audio[0]
        audio = audio.float().cpu().numpy() if hasattr(audio, "cpu") else audio
        return Output(frames=to_uint8(result.frames[0]), audio=audio.astype("float32"),
                      sample_rate=int(pipe.vocoder.config.output_sampling_rate))


LTX2 = LTX2Family(
    name="ltx2", title="LTX-2",
    pipelines={"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline"},
    frame_step=8, size_multiple=32, fps=24, text_limit=1024, native=(768, 512, 121), max_frames=257,
    negative_prompt=LTX_NEGATIVE, steps=40, guidance=4.0, audio=True,
)
