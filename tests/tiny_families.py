"""Tiny random-weight pipelines of the other model families, built from each family's real
diffusers and transformers config classes (as diffusers' own tests build theirs) and saved
with save_pretrained, so shotsmith loads them exactly as it loads a downloaded checkpoint.

No hub here: the tokenizer is trained on a few sentences with the `tokenizers` library and
saved with the pipeline. Each folder states a small native clip in shotsmith_recipe.json,
the file the embedded models use for theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "a red ball rolls to the right across a grey floor",
    "a blue square slides left while a green triangle spins",
    "a yellow circle bounces on a white background",
    "the camera pans slowly over a small wooden boat on a calm lake at sunset",
    "blurry, low quality, static frame, watermark, text, deformed hands",
    "a cat walks along a wall, a dog runs on the beach, waves break on rocks",
]


def t5_tokenizer(vocab_size: int = 120):
    """A sentencepiece-style (Unigram, metaspace) tokenizer wrapped as transformers' T5TokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import T5TokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return T5TokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                           extra_ids=0, additional_special_tokens=[])


def _recipe(folder: Path, width: int, height: int, frames: int, fps: int) -> None:
    (folder / "shotsmith_recipe.json").write_text(json.dumps(
        {"native": {"width": width, "height": height, "frames": frames, "fps": fps},
         "note": "tiny random-weight test pipeline"}))


WAN_NATIVE = (64, 48, 9, 16)  # width, height, frames (4k+1), fps


def build_wan(root: Path) -> dict[str, Path]:
    """Wan 2.x text-to-video and image-to-video (Wan 2.2 layout: no CLIP image encoder; the I2V
    transformer reads 16 noise + 16 image-latent + 4 mask channels)."""
    import torch
    from diffusers import (AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline,
                           WanTransformer3DModel)
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=32, num_layers=1,
                                               num_heads=4, relative_attention_num_buckets=8,
                                               pad_token_id=tokenizer.pad_token_id,
                                               eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=0))
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    dirs = {}
    for task, cls, channels in (("t2v", WanPipeline, 16), ("i2v", WanImageToVideoPipeline, 36)):
        torch.manual_seed(1)
        transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                            in_channels=channels, out_channels=16, text_dim=32, freq_dim=32,
                                            ffn_dim=32, num_layers=2, cross_attn_norm=True,
                                            qk_norm="rms_norm_across_heads", rope_max_seq_len=64)
        extra = {"image_encoder": None, "image_processor": None} if task == "i2v" else {}
        pipe = cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                   scheduler=scheduler, **extra)
        dirs[task] = root / f"tiny-wan-{task}"
        pipe.save_pretrained(dirs[task])
        _recipe(dirs[task], *WAN_NATIVE)
    return dirs

