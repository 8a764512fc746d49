"""Does a first+last keyframed clip go from one image to the other? Measured with the detector.

The object's detected position in each frame is projected on the move from where the
detector finds it in the first image to where it finds it in the last one: 0 at the
first image's position, 1 at the last one's. A clip passes when that goes from about 0
to about 1 without stepping back more than the detector's jitter, and the object is
found in nearly every frame. Used by benchmarks/keyframes.py and tests/test_keyframes.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shotsmith.eval.detector import detect

BACKWARD_TOLERANCE = 0.08  # of the first->last move: ~3 px on a 40 px move, about the detector's jitter
END_TOLERANCE = 0.2  # detected start/end within a fifth of the move of the keyframes' positions
SEEN_SHARE = 0.8  # the object found in at least this share of the frames


@dataclass
class KeyframePath:
    ok: bool
    why: str = ""
    positions: list[float] | None = None  # per detected frame, 0 = first image's position, 1 = last's
    backward: float = float("nan")  # the largest step back, as a share of the move
    start: float = float("nan")
    end: float = float("nan")
    seen: float = 0.0  # share of frames where the object was found


def keyframe_path(frames: np.ndarray, first: np.ndarray, last: np.ndarray) -> KeyframePath:
    """How the clip's object moves between the positions it has in the `first` and `last` images."""
    anchors = []
    for image in (first, last):
        found = detect(np.stack([image, image]))
        if not (found.objects and found.objects[0].track):
            return KeyframePath(False, "no object found in a keyframe image")
        anchors.append(np.array(found.objects[0].track[0][1:3], dtype=np.float64))
    start_at, move = anchors[0], anchors[1] - anchors[0]
    if float(np.dot(move, move)) < 1e-6:
        return KeyframePath(False, "the object is in the same place in both keyframes")
    detection = detect(frames)
    if not detection.objects:
        return KeyframePath(False, "no object found in the clip")
    track = max(detection.objects, key=lambda o: len(o.track)).track
    s = [float(np.dot(np.array(p[1:3]) - start_at, move) / np.dot(move, move)) for p in track]
    backward = float(max(0.0, -min(np.diff(s)))) if len(s) > 1 else 0.0
    seen = len(track) / len(frames)
    why = ("" if backward <= BACKWARD_TOLERANCE else f"steps back {backward:.2f} of the move; ") + \
          ("" if abs(s[0]) <= END_TOLERANCE else f"starts at {s[0]:.2f}; ") + \
          ("" if abs(s[-1] - 1) <= END_TOLERANCE else f"ends at {s[-1]:.2f}; ") + \
          ("" if seen >= SEEN_SHARE else f"object found in {seen:.0%} of frames; ")
    return KeyframePath(not why, why.rstrip("; "), s, backward, s[0], s[-1], seen)
