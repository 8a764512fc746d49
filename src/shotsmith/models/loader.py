"""Load a registry entry's diffusers pipeline (its family's class), with its runtime options.

Load-time options: dtype, CPU offload or group offloading, layerwise fp8 casting, VAE
slicing/tiling, torch.compile. The step cache
is switched per request (`set_cache`), because a request may ask for another one and
diffusers' cache hooks come off and go on in microseconds.
"""

from __future__ import annotations

import logging

import torch

from shotsmith.models import embedded as emb
from shotsmith.models.registry import CACHE_CHOICES, ModelEntry, OptionError, local_path, parse_cache

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelUnavailable(RuntimeError):

    job_code = "model_unavailable"  # the code a failed job records (jobs/worker.py)
    pass


def pipeline_class(entry: ModelEntry):
    return entry.rules.pipeline_class(entry.task)


def _needs_packaged_text_encoder(folder) -> bool:
    """The embedded folders leave the text encoder to its package (the one their recipe names)."""
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
            # Only the model: the folder has its own tokenizer.
            name = emb.folder_text_encoder(folder)
            try:
                kwargs["text_encoder"] = emb.load_text_encoder_model(name)
            except (FileNotFoundError, ValueError) as exc:  # its package is not installed, or unknown
                raise ModelUnavailable(f"model: {entry.name} reads the {name} text encoder: {exc}") from None
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
    entry.rules.prepare(pipe, entry)  # what the family's renders use beside the pipeline (LTX's upsampler)
    if (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cpu":
        route_conv3d_to_onednn(pipe.vae)
    if entry.compile:
        # In place (nn.Module.compile), so pipe.transformer keeps its config and cache API.
        # Compilation happens on the first call; not fullgraph, so cache hooks may break graphs.
        pipe.transformer.compile()
    return pipe


def apply_memory_options(pipe, entry: ModelEntry, device: str | None) -> None:
    memory = entry.memory
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    offload = memory.get("cpu_offload", "none") if device != "cpu" else "none"
    # Weights are placed once, below, after the fp8 cast: moving the whole pipeline onto the GPU
    # first would put a 14B transformer there before group offloading could keep it in CPU memory.
    if memory.get("layerwise_fp8"):
        # Weights stored as float8 and cast to the compute dtype one layer at a time: about
        # half the transformer's memory of bf16 (diffusers skips norms and embeddings itself).
        compute = next(pipe.transformer.parameters()).dtype
        for transformer in denoisers(pipe):
            transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute)
    group = memory.get("group_offload", "none") if device != "cpu" else "none"
    if group != "none":
        apply_group_offload(pipe, device, group)
    elif offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to(device)
    if memory.get("vae_slicing") and hasattr(pipe.vae, "enable_slicing"):
        pipe.vae.enable_slicing()
    if memory.get("vae_tiling") and hasattr(pipe.vae, "enable_tiling"):
        pipe.vae.enable_tiling()
    log.info("loaded %s on %s (offload=%s, group offload=%s)", entry.name, device, offload, group)


def denoisers(pipe) -> list:
    """The pipeline's transformer(s): Wan 2.2 A14B has a second one for the low-noise steps."""
    return [m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None]


def apply_group_offload(pipe, device: str, mode: str) -> None:
    """diffusers group offloading: every model of the pipeline stays in CPU memory and comes onto
    `device` a group at a time (a transformer block, or a single layer for 'leaf'), with the next
    group copied on a side stream while the current one runs."""
    from diffusers.hooks import apply_group_offloading

    kind = "block_level" if mode == "block" else "leaf_level"
    extra = {"num_blocks_per_group": 1} if kind == "block_level" else {}
    stream = torch.cuda.is_available() and device.startswith("cuda")
    for name, component in pipe.components.items():
        if not isinstance(component, torch.nn.Module):
            continue
        if hasattr(component, "enable_group_offload"):  # diffusers models
            component.enable_group_offload(onload_device=torch.device(device), offload_type=kind,
                                           use_stream=stream, **extra)
        else:  # transformers models (text and image encoders)
            apply_group_offloading(component, onload_device=torch.device(device), offload_type=kind,
                                   use_stream=stream, **extra)


def route_conv3d_to_onednn(module: torch.nn.Module) -> int:
    """Run the module's float32 CPU Conv3d layers on oneDNN (torch.mkldnn_convolution).

    PyTorch picks oneDNN for a convolution by a size test that reads only the first four
    dimensions (N, C, T, H) of the input. A CogVideoX VAE decoding one clip has batch 1,
    few channels and few frames, so nearly every Conv3d fails the test and runs on the
    im2col fallback (`slow_conv3d_forward`), about 10x slower than oneDNN on the same
    shapes (docs/performance.md). Same arithmetic, other summation order: outputs match
    to ~1e-4. Other devices and dtypes keep the normal path. Returns the layers routed."""
    routed = 0
    for layer in module.modules():
        if not isinstance(layer, torch.nn.Conv3d) or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            continue
        layer._conv_forward = _onednn_conv_forward.__get__(layer)
        routed += 1
    return routed


def _onednn_conv_forward(self: torch.nn.Conv3d, input: torch.Tensor, weight: torch.Tensor, bias):
    if input.device.type != "cpu" or input.dtype != torch.float32 or weight.dtype != torch.float32:
        return torch.nn.Conv3d._conv_forward(self, input, weight, bias)
    return torch.mkldnn_convolution(input.contiguous(), weight, bias, self.padding, self.stride, self.dilation,
                                    self.groups)


def cache_config(choice: str, pipe):
    """The diffusers cache config for a choice such as 'first-block:0.3' (None for 'none')."""
    import diffusers.hooks as hooks

    name, value = parse_cache(choice)
    if name == "none":
        return None
    now = lambda: pipe.current_timestep  # noqa: E731 - the timestep-gated caches ask the pipeline
    if name == "first-block":
        return hooks.FirstBlockCacheConfig(threshold=value)
    if name == "pyramid-attention":
        return hooks.PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=value,
                                                     current_timestep_callback=now)
    if name == "faster-cache":
        # The values diffusers documents for CogVideoX (hooks/faster_cache.py).
        return hooks.FasterCacheConfig(
            spatial_attention_block_skip_range=value, spatial_attention_timestep_skip_range=(-1, 681),
            low_frequency_weight_update_timestep_range=(99, 641),
            high_frequency_weight_update_timestep_range=(-1, 301),
            spatial_attention_block_identifiers=["transformer_blocks"], attention_weight_callback=lambda _: 0.3,
            tensor_format="BFCHW", current_timestep_callback=now, is_guidance_distilled=False)
    if name == "taylorseer":
        # Whole blocks are predicted: the default (every attention-like module) still runs
        # each block's feed-forward and measured slower than no cache on CogVideoX.
        return hooks.TaylorSeerCacheConfig(cache_interval=value, disable_cache_before_step=3,
                                           taylor_factors_dtype=pipe.transformer.dtype,
                                           cache_identifiers=[r"transformer_blocks\.\d+"])
    raise AssertionError(f"cache choice {name} has no config (known: {', '.join(CACHE_CHOICES)})")


def set_cache(pipe, choice: str) -> None:
    """Put the step cache `choice` on the pipeline's transformer, replacing any other.

    The cache's per-run state is cleared too: diffusers clears it at the end of a
    pipeline call, which a cancelled run never reaches."""
    transformer = pipe.transformer
    current = getattr(pipe, "_shotsmith_cache", "none")
    if current != choice:
        if transformer.is_cache_enabled:
            transformer.disable_cache()
        pipe._shotsmith_cache = "none"
        config = cache_config(choice, pipe)
        if config is not None:
            try:
                transformer.enable_cache(config)
            except Exception as exc:  # e.g. first-block needs at least two transformer blocks
                if transformer.is_cache_enabled:
                    transformer.disable_cache()
                raise OptionError("cache", f"'{choice}' does not run on this model "
                                  f"({type(exc).__name__}: {exc or 'no detail'}); pick another cache or none") from None
        pipe._shotsmith_cache = choice
    if transformer.is_cache_enabled:
        transformer._reset_stateful_cache()
