"""Post-processing: the model's raw frames in, the product's finished files out.

finish_clip upscales (ffmpeg lanczos, or a spandrel SR model), interpolates to the
output frame rate, encodes H.264 MP4 with the generation metadata embedded, and
writes a GIF preview, a cover JPEG, a sprite sheet and a JSON sidecar.
"""

from .finish import finish_clip
from .media import decode_frames, probe_video, read_clip_metadata
from .settings import ClipFiles, PostError, PostSettings

__all__ = [
    "ClipFiles",
    "PostError",
    "PostSettings",
    "decode_frames",
    "finish_clip",
    "probe_video",
    "read_clip_metadata",
]
