"""LoRA adapters for a loaded pipeline: where named ones live, checking a request's
`lora`, applying one at a scale and taking it off again.

A LoRA is named either by a path (a folder holding `pytorch_lora_weights.safetensors`,
as `shotsmith train lora --out` writes it, or the .safetensors file itself) or by a
plain name, looked up as `<loras_dir>/NAME` where `loras_dir()` is $SHOTSMITH_LORAS
or <SHOTSMITH_HOME>/loras (the home that also holds `models/`).

One adapter is active at a time; a pipeline keeps the adapters it has loaded (by
name), so switching back to one used before does not read the file again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from shotsmith.errors import FieldError

LORA_FILE = "pytorch_lora_weights.safetensors"
INFO_FILE = "lora.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class LoraError(FieldError):
    """A `lora` request field that cannot be used."""


@dataclass(frozen=True)
class LoraRef:
    name: str  # adapter name in the pipeline: the folder's name (or the file's stem)
    file: Path  # the .safetensors file
    info: dict  # lora.json beside it, if any (model, rank, steps, ...)


def loras_dir() -> Path:
    """Where named LoRAs live: $SHOTSMITH_LORAS or <SHOTSMITH_HOME>/loras."""
    from shotsmith.settings import current

    return current().loras_dir


def _read_info(folder: Path) -> dict:
    try:
        return json.loads((folder / INFO_FILE).read_text())
    except (OSError, ValueError):
        return {}


def resolve_lora(lora: str, model: str | None = None) -> LoraRef:
    """A LoRA path or name -> its file; LoraError (naming the field `lora`) if unusable.

    With `model`, a LoRA whose lora.json says it was trained on another model is refused.
    """
    if not isinstance(lora, str) or not lora.strip():
        raise LoraError("lora", "must be a LoRA name or a path to a LoRA folder or .safetensors file")
    text = lora.strip()
    if os.sep in text or text.startswith(".") or text.endswith(".safetensors"):
        path = Path(text).expanduser()
    elif _NAME.match(text):
        path = loras_dir() / text
        if not path.exists():
            known = ", ".join(list_loras()) or "none"
            raise LoraError("lora", f"no LoRA named '{text}' in the LoRA folder (known: {known})")
    else:
        raise LoraError("lora", f"'{text}' is neither a path nor a name (letters, digits, '.', '_', '-')")
    if path.is_dir():
        file, folder = path / LORA_FILE, path
        if not file.exists():
            raise LoraError("lora", f"{path} holds no {LORA_FILE}")
    elif path.is_file():
        if path.suffix != ".safetensors":
            raise LoraError("lora", f"{path} is not a .safetensors file")
        file, folder = path, path.parent
    else:
        raise LoraError("lora", f"{path} does not exist")
    info = _read_info(folder)
    trained_on = info.get("model")
    if model and trained_on and not _same_model(trained_on, model):
        raise LoraError("lora", f"{text} was trained on {trained_on}, not {model}")
    name = folder.name if file.name == LORA_FILE else file.stem
    return LoraRef(name=re.sub(r"[^A-Za-z0-9_-]", "_", name) or "lora", file=file, info=info)


def _same_model(a: str, b: str) -> bool:
    def key(name: str) -> str:
        return str(Path(name).expanduser().resolve()) if os.sep in name else name.strip().lower()

    return key(a) == key(b)


def list_loras() -> list[str]:
    """Names of the LoRAs in `loras_dir()` (folders holding a LoRA file)."""
    folder = loras_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / LORA_FILE).exists())


def apply_lora(pipe, lora: str, scale: float = 1.0, model: str | None = None) -> LoraRef:
    """Make `lora` the pipeline's only active adapter, at `scale` (0 = base output)."""
    if not isinstance(scale, (int, float)) or not -4.0 <= float(scale) <= 4.0:
        raise LoraError("lora_scale", f"must be a number between -4 and 4, got {scale!r}")
    ref = resolve_lora(lora, model)
    loaded = set(pipe.get_list_adapters().get("transformer", []))
    if ref.name not in loaded:
        pipe.load_lora_weights(str(ref.file.parent), weight_name=ref.file.name, adapter_name=ref.name)
    pipe.enable_lora()
    pipe.set_adapters([ref.name], adapter_weights=[float(scale)])
    return ref


def clear_lora(pipe, unload: bool = False) -> None:
    """Back to the base model: adapters switched off (kept for reuse), or removed with unload."""
    if not getattr(pipe.transformer, "peft_config", None):
        return
    if unload:
        pipe.unload_lora_weights()
    else:
        pipe.disable_lora()
