"""LTX-2 (Lightricks): video with a sound track made alongside it, text- and image-to-video.

Rules from the checkpoint: the video VAE compresses time 8x and space 32x (frames 8k+1,
sizes multiples of 32); a Gemma 3 text encoder whose hidden states pass through the
pipeline's text connectors; an audio VAE and a vocoder turn the audio latents into a
waveform as long as the clip (frames / frame rate). The pipeline's own sampling settings
(guidance per modality, spatio-temporal guidance at block 28) are the model's published
defaults and are kept, except that a request's guidance of 1 or less turns the text and
modality guidance passes off, sound included. Spatio-temporal guidance (STG: an extra pass
with the self-attention of chosen transformer blocks skipped, the prediction pushed away from
it) is the entry's `stg_blocks` option: unset, block 28 where the checkpoint has it (so not on
a checkpoint with fewer blocks); a list names the blocks (each must exist, else the option is
refused naming `stg_blocks`); an empty list turns it off. The skip only happens in a transformer
built with perturbed attention (`perturbed_attn` in its config; diffusers converts LTX-2.0 without
it): on any other the pipeline's STG pass would cost a whole transformer call per step and change
nothing, so it is off there, and asking for it is refused.
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
            call.update(stg_arguments(entry, pipe.transformer.config))
        if image is not None:
            call["image"] = image
        return call

    def output(self, pipe, result) -> Output:
        audio = result.audio[0]
        audio = audio.float().cpu().numpy() if hasattr(audio, "cpu") else audio
        return Output(frames=to_uint8(result.frames[0]), audio=audio.astype("float32"),
                      sample_rate=int(pipe.vocoder.config.output_sampling_rate))


def stg_arguments(entry, transformer_config) -> dict:
    """The pipeline's spatio-temporal guidance arguments for the entry's `stg_blocks` on a transformer
    with this config (the pipeline's own scales where it is on)."""
    from shotsmith.models.registry import OptionError

    num_layers = int(transformer_config.num_layers)
    perturbs = bool(getattr(transformer_config, "perturbed_attn", False))
    if entry.stg_blocks is None:  # the published default, where the checkpoint can do it
        blocks = [b for b in STG_BLOCKS if b < num_layers] if perturbs else []
    else:
        blocks = list(entry.stg_blocks)
        if blocks and not perturbs:
            raise OptionError("stg_blocks", f"{entry.name}'s transformer has no perturbed attention "
                              "(`perturbed_attn` is false in its config), so spatio-temporal guidance would "
                              "add a transformer pass a step and change nothing; leave stg_blocks unset or []")
        missing = [b for b in blocks if b >= num_layers]
        if missing:
            raise OptionError("stg_blocks", f"{entry.name} has transformer blocks 0 to {num_layers - 1}; "
                              f"no block {', '.join(map(str, missing))}")
    if not blocks:
        return {"spatio_temporal_guidance_blocks": None, "stg_scale": 0.0, "audio_stg_scale": 0.0}
    return {"spatio_temporal_guidance_blocks": blocks}


LTX2 = LTX2Family(
    name="ltx2", title="LTX-2",
    pipelines={"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline"},
    frame_step=8, size_multiple=32, fps=24, text_limit=1024, native=(768, 512, 121), max_frames=257,
    negative_prompt=LTX_NEGATIVE, steps=40, guidance=4.0, audio=True,
)
