"""Shared fixtures: tiny CogVideoX pipelines saved as real diffusers folders; a PostgreSQL server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _tiny_components():
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
    from transformers import AutoTokenizer, BertConfig, BertModel

    from shotsmith.models import embedded as emb

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(emb.text_encoder_dir())
    text_encoder = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=256))
    vae = AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 3,
                                 up_block_types=("CogVideoXUpBlock3D",) * 3, block_out_channels=(8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=4,
                                 temporal_compression_ratio=4, sample_height=32, sample_width=48)
    return tokenizer, text_encoder, vae, CogVideoXTransformer3DModel, CogVideoXDDIMScheduler


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """Random-weight T2V and I2V pipelines of the CogVideoX architecture, saved with save_pretrained."""
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    tokenizer, text_encoder, vae, Transformer, Scheduler = _tiny_components()
    root = tmp_path_factory.mktemp("tiny-models")
    dirs = {}
    for task, cls, channels in (("t2v", CogVideoXPipeline, 4), ("i2v", CogVideoXImageToVideoPipeline, 8)):
        transformer = Transformer(num_attention_heads=2, attention_head_dim=16, in_channels=channels, out_channels=4,
                                  num_layers=1, text_embed_dim=32, time_embed_dim=16, sample_width=12,
                                  sample_height=8, sample_frames=9, patch_size=2,
                                  use_rotary_positional_embeddings=True, max_text_seq_length=226)
        pipe = cls(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                   scheduler=Scheduler(prediction_type="v_prediction", timestep_spacing="trailing"))
        dirs[task] = root / f"tiny-{task}"
        pipe.save_pretrained(dirs[task])
    return dirs


@pytest.fixture(scope="session")
def tiny_wan_dirs(tmp_path_factory) -> dict[str, Path]:
    """Random-weight Wan 2.x T2V and I2V pipelines from Wan's own config classes (tests/tiny_families.py)."""
    from tiny_families import build_wan

    return build_wan(tmp_path_factory.mktemp("tiny-wan"))


@pytest.fixture(scope="session")
def tiny_ltx_dirs(tmp_path_factory) -> dict[str, Path]:
    """A random-weight LTX-Video pipeline from LTX's own config classes (tests/tiny_families.py)."""
    from tiny_families import build_ltx

    return build_ltx(tmp_path_factory.mktemp("tiny-ltx"))


@pytest.fixture(scope="session")
def tiny_ltx2_dirs(tmp_path_factory) -> dict[str, Path]:
    """A random-weight LTX-2 pipeline (picture and sound) from LTX-2's own config classes."""
    from tiny_families import build_ltx2

    return build_ltx2(tmp_path_factory.mktemp("tiny-ltx2"))


@pytest.fixture(scope="session")
def tiny_hunyuan_dirs(tmp_path_factory) -> dict[str, Path]:
    """A random-weight HunyuanVideo 1.5 text-to-video pipeline from its own config classes."""
    from tiny_families import build_hunyuan

    return build_hunyuan(tmp_path_factory.mktemp("tiny-hunyuan"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the repository")
    return SHARED


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server from Debian's packages for the whole run (skips when absent); tests
    drop the tables they use before using them."""
    from services import start_postgres

    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(autouse=True)
def _fresh_process_settings():
    """create_app installs its settings for the whole process; each test starts from the environment."""
    from shotsmith.settings import configure

    configure(None)
    yield
    configure(None)
