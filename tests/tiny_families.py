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
    """Wan 2.x text-to-video and image-to-video ("t2v", "i2v": the I2V transformer reads 16 noise +
    16 image-latent + 4 mask channels, with no CLIP image encoder), a Wan 2.1 I2V with its CLIP image
    encoder ("i2v-clip") and a Wan 2.2 A14B text-to-video with two experts ("t2v-a14b")."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline
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
        transformer = _wan_transformer(1, channels)
        extra = {"image_encoder": None, "image_processor": None} if task == "i2v" else {}
        pipe = cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                   scheduler=scheduler, **extra)
        dirs[task] = root / f"tiny-wan-{task}"
        pipe.save_pretrained(dirs[task])
        _recipe(dirs[task], *WAN_NATIVE)
    dirs["i2v-clip"] = _wan21_i2v_with_clip(root, tokenizer, text_encoder, vae, scheduler)
    dirs["t2v-a14b"] = _wan22_two_experts(root, tokenizer, text_encoder, vae, scheduler)
    return dirs


def _wan_transformer(seed: int, channels: int, **extra):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                 in_channels=channels, out_channels=16, text_dim=32, freq_dim=32, ffn_dim=32,
                                 num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                 rope_max_seq_len=64, **extra)


def _wan21_i2v_with_clip(root: Path, tokenizer, text_encoder, vae, scheduler) -> Path:
    """Wan 2.1 image-to-video: the first frame also goes through a CLIP vision encoder, whose
    penultimate hidden states the transformer reads beside the text (its image embedder and the
    added key/value projections of every cross-attention, as in the 14B I2V checkpoints)."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(2)
    # CLIPVisionModel, the class the published Wan 2.1 I2V folders name (the pipeline reads its
    # penultimate hidden states, so the projection head of ...WithProjection would go unused)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                                     image_size=32, intermediate_size=16, patch_size=8))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    transformer = _wan_transformer(3, 36, image_dim=8, added_kv_proj_dim=24)
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                                   image_encoder=image_encoder, image_processor=image_processor,
                                   transformer=transformer)
    folder = root / "tiny-wan2.1-i2v-clip"
    pipe.save_pretrained(folder)
    _recipe(folder, *WAN_NATIVE)
    return folder


WAN22_BOUNDARY = 0.875  # Wan 2.2 T2V-A14B's published switch: the high-noise expert above t = 875


def _wan22_two_experts(root: Path, tokenizer, text_encoder, vae, scheduler) -> Path:
    """Wan 2.2 A14B text-to-video: two transformers (`transformer` for the high-noise steps,
    `transformer_2` for the rest) and the pipeline's `boundary_ratio` where it switches."""
    from diffusers import WanPipeline

    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                       transformer=_wan_transformer(4, 16), transformer_2=_wan_transformer(5, 16),
                       boundary_ratio=WAN22_BOUNDARY)
    folder = root / "tiny-wan2.2-t2v-a14b"
    pipe.save_pretrained(folder)
    _recipe(folder, *WAN_NATIVE)
    return folder


LTX_NATIVE = (64, 64, 9, 24)  # width, height, frames (8k+1), fps


def build_ltx(root: Path) -> dict[str, Path]:
    """LTX-Video: one folder with LTXConditionPipeline's modules (the class the 0.9.5+ checkpoints
    name) ("t2v"). The VAE has the real checkpoints' compression (patch 4 and three scaling stages:
    32x in space, 8x in time), with few channels, and decodes conditioned on a timestep as the 0.9.1+
    VAEs do. Also a spatial latent upsampler saved as the hub's upsampler repository is
    (`LTXLatentUpsamplePipeline`: latent_upsampler/ and vae/) ("upsampler"), and the LTX folder with
    that upsampler inside it ("t2v-upsampled")."""
    import shutil

    import torch
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXConditionPipeline,
                           LTXLatentUpsamplePipeline, LTXVideoTransformer3DModel)
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=32, num_layers=1,
                                           num_heads=4, relative_attention_num_buckets=8,
                                           pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                           decoder_start_token_id=0))
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=True, patch_size=4,
        patch_size_t=1, encoder_causal=True, decoder_causal=False)
    torch.manual_seed(1)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=2, caption_channels=32)
    pipe = LTXConditionPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                                scheduler=FlowMatchEulerDiscreteScheduler())
    folder = root / "tiny-ltx"
    pipe.save_pretrained(folder)
    _recipe(folder, *LTX_NATIVE)
    torch.manual_seed(2)
    # the real one: 128 latent channels, 512 wide, 4 residual blocks a stage, 2x in space only
    latent_upsampler = LTXLatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1, dims=3,
                                               spatial_upsample=True, temporal_upsample=False)
    upsampler = root / "tiny-ltx-upsampler"
    LTXLatentUpsamplePipeline(vae=vae, latent_upsampler=latent_upsampler).save_pretrained(upsampler)
    upsampled = root / "tiny-ltx-upsampled"
    shutil.copytree(folder, upsampled)
    shutil.copytree(upsampler / "latent_upsampler", upsampled / "latent_upsampler")
    return {"t2v": folder, "upsampler": upsampler, "t2v-upsampled": upsampled}


LTX2_NATIVE = (64, 64, 9, 24)  # width, height, frames (8k+1), fps


def gemma_tokenizer(vocab_size: int = 150):
    """A byte-pair tokenizer with Gemma's special tokens, wrapped as transformers' GemmaTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GemmaTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tok.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                            show_progress=False))
    return GemmaTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                              unk_token="<unk>")


def build_ltx2(root: Path) -> dict[str, Path]:
    """LTX-2 with sound: a Gemma 3 text encoder (text and vision towers, both tiny), the text
    connectors, the audio-video transformer, the video VAE (32x in space, 8x in time, like the
    real one), the audio VAE and a vocoder whose upsampling equals the mel hop, so the sound
    lasts as long as the clip, as with the real checkpoint. Saved twice, as the text-to-video ("t2v")
    and the image-to-video ("i2v") pipeline."""
    import torch
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, FlowMatchEulerDiscreteScheduler,
                           LTX2ImageToVideoPipeline, LTX2Pipeline, LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration
    from transformers.models.gemma3 import Gemma3TextConfig
    from transformers.models.siglip import SiglipVisionConfig

    tokenizer = gemma_tokenizer()
    torch.manual_seed(0)
    text = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=1, head_dim=8, max_position_embeddings=2048,
                            sliding_window=64, pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=28, patch_size=14)
    ids = tokenizer.convert_tokens_to_ids
    text_encoder = Gemma3ForConditionalGeneration(Gemma3Config(
        text_config=text, vision_config=vision, mm_tokens_per_image=4, boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"), image_token_index=ids("<image_soft_token>")))
    torch.manual_seed(1)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=text.hidden_size, rope_double_precision=False, rope_type="split",
        perturbed_attn=True)  # the self-attention that spatio-temporal guidance can skip (as LTX-2.3's)
    connectors = LTX2TextConnectors(
        caption_channels=text.hidden_size, text_proj_in_factor=text.num_hidden_layers + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8), layers_per_block=(1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False,) * 4, downsample_type=("spatiotemporal",) * 3, upsample_residual=(False,) * 3,
        upsample_factor=(1,) * 3, timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True,
        decoder_causal=False)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=16, is_causal=True, mel_bins=8)
    vocoder = LTX2Vocoder(in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[8, 8],
                          upsample_factors=[4, 4], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
                          leaky_relu_negative_slope=0.1, output_sampling_rate=16000)
    modules = dict(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
                   text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors, transformer=transformer,
                   vocoder=vocoder)
    dirs = {}
    # the same modules as an image-to-video folder (the published checkpoint serves both pipelines)
    for task, cls in (("t2v", LTX2Pipeline), ("i2v", LTX2ImageToVideoPipeline)):
        dirs[task] = root / ("tiny-ltx2" if task == "t2v" else "tiny-ltx2-i2v")
        cls(**modules).save_pretrained(dirs[task])
        _recipe(dirs[task], *LTX2_NATIVE)
    return dirs


HUNYUAN_NATIVE = (64, 48, 9, 24)  # width, height, frames (4k+1), fps
QWEN_CHAT = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
             "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
             "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}<|im_end|>\n"
             "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def qwen_tokenizer(vocab_size: int = 200):
    """A byte-level BPE tokenizer with Qwen's chat markers and a chat template, as Qwen2TokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                            show_progress=False))
    tokenizer = Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, bos_token=None)
    tokenizer.chat_template = QWEN_CHAT
    return tokenizer


def build_hunyuan(root: Path) -> dict[str, Path]:
    """HunyuanVideo 1.5 text- and image-to-video: a Qwen2.5-VL text model and a ByT5 glyph encoder
    (both tiny), the transformer, and a VAE with the real checkpoints' compression (16x in space, 4x
    in time); the image-to-video folder adds a SigLIP image encoder."""
    import torch
    from diffusers import (AutoencoderKLHunyuanVideo15, FlowMatchEulerDiscreteScheduler,
                           HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline, HunyuanVideo15Transformer3DModel)
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import (ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, SiglipImageProcessor,
                              SiglipVisionConfig, SiglipVisionModel, T5Config, T5EncoderModel)

    tokenizer = qwen_tokenizer()
    torch.manual_seed(0)
    text_encoder = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=16, num_hidden_layers=3, num_attention_heads=2,
        num_key_value_heads=2, rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        rope_theta=1000000.0, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id))
    tokenizer_2 = ByT5Tokenizer()
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=32, d_kv=8, d_ff=32, num_layers=1,
                                             num_heads=4, relative_attention_num_buckets=8, decoder_start_token_id=0))
    def transformer(task: str, target_size: int):
        torch.manual_seed(1)
        return HunyuanVideo15Transformer3DModel(
            in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=2,
            num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1, text_embed_dim=16, text_embed_2_dim=32,
            image_embed_dim=12, rope_axes_dim=(2, 2, 4), target_size=target_size, task_type=task)

    vae = AutoencoderKLHunyuanVideo15(in_channels=3, out_channels=3, latent_channels=4,
                                      block_out_channels=(8, 8, 8, 8, 8), layers_per_block=1,
                                      spatial_compression_ratio=16, temporal_compression_ratio=4,
                                      downsample_match_channel=False, upsample_match_channel=False)
    common = dict(text_encoder=text_encoder, tokenizer=tokenizer, vae=vae,
                  scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=text_encoder_2,
                  tokenizer_2=tokenizer_2, guider=ClassifierFreeGuidance(guidance_scale=1.0))
    folder = root / "tiny-hunyuan"
    HunyuanVideo15Pipeline(transformer=transformer("t2v", 16), **common).save_pretrained(folder)
    _recipe(folder, *HUNYUAN_NATIVE)
    # Image-to-video: a SigLIP vision encoder beside the text encoders; the pipeline picks the clip's
    # size itself, the bucket of the transformer's target size nearest the image's aspect (64x48
    # is one of the buckets of 64, as 848x480 is of the 480p checkpoint's)
    torch.manual_seed(2)
    image_encoder = SiglipVisionModel(SiglipVisionConfig(hidden_size=12, intermediate_size=16, num_hidden_layers=1,
                                                         num_attention_heads=2, image_size=28, patch_size=14))
    i2v = root / "tiny-hunyuan-i2v"
    HunyuanVideo15ImageToVideoPipeline(
        transformer=transformer("i2v", 64), image_encoder=image_encoder,
        feature_extractor=SiglipImageProcessor(size={"height": 28, "width": 28}), **common).save_pretrained(i2v)
    _recipe(i2v, *HUNYUAN_NATIVE)
    return {"t2v": folder, "i2v": i2v}
