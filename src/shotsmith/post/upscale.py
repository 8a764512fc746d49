"""Optional super-resolution of native frames with a spandrel-loaded model.

spandrel (and torch) are optional: they are imported only when the user names a
weights file in `upscaler`, and a missing package or file is a PostError naming the
setting rather than an ImportError from deep inside the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .settings import PostError


class SRUpscaler:
    """Runs an image-to-image spandrel model over frames one at a time.

    One frame per forward pass bounds memory: a 4x model turns a 720x480 frame into
    2880x1920, and 49 of those held at once would be ~800 MB before ffmpeg sees one.
    """

    def __init__(self, name: str, model, torch, device: str, dtype) -> None:
        self.name, self.model, self.torch = name, model, torch
        self.device, self.dtype = device, dtype

    @property
    def scale(self) -> int:
        return int(self.model.scale)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width * self.scale, height * self.scale

    def frames(self, frames: np.ndarray) -> Iterator[np.ndarray]:
        torch = self.torch
        expected = self.output_size(frames.shape[2], frames.shape[1])
        for frame in frames:
            image = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
            image = image.permute(2, 0, 1).unsqueeze(0).to(self.dtype) / 255.0
            with torch.inference_mode():
                out = self.model(image)
            if (out.shape[-1], out.shape[-2]) != expected:
                # ffmpeg reads a fixed frame size from stdin; a wrong size would turn
                # into garbled video, not an error, so stop here.
                raise PostError(f"upscaler={self.name!r} returned {out.shape[-1]}x{out.shape[-2]}"
                                f" frames, expected {expected[0]}x{expected[1]}")
            out = (out.squeeze(0).clamp(0, 1) * 255.0).round().to(torch.uint8)
            yield out.permute(1, 2, 0).cpu().numpy()


def load_upscaler(upscaler: str) -> SRUpscaler:
    """Load the weights named by settings.upscaler with spandrel, on the GPU when there is one."""
    path = Path(upscaler).expanduser()
    if not path.is_file():
        raise PostError(
            f"upscaler={upscaler!r}: no such weights file; use 'lanczos' or a path to "
            "super-resolution weights (e.g. a Real-ESRGAN .pth/.safetensors)"
        )
    try:
        import spandrel
        import torch
    except ImportError as exc:
        raise PostError(
            f"upscaler={upscaler!r} needs the optional 'spandrel' package "
            "(pip install spandrel), or set upscaler='lanczos'"
        ) from exc
    try:
        model = spandrel.ModelLoader().load_from_file(str(path))
    except Exception as exc:  # spandrel raises many types for unsupported files
        raise PostError(f"upscaler={upscaler!r}: spandrel could not load it: {exc}") from exc
    if not isinstance(model, spandrel.ImageModelDescriptor):
        raise PostError(f"upscaler={upscaler!r} is not an image-to-image (super-resolution) model")
    return _place(upscaler, model, torch)


def _place(name: str, model, torch) -> SRUpscaler:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    dtype = torch.float32
    # fp16 halves memory and roughly doubles speed on GPUs; CPUs gain nothing from it.
    if device == "cuda" and model.supports_half:
        model.half()
        dtype = torch.float16
    return SRUpscaler(name, model, torch, device, dtype)
