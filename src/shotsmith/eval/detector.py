"""A frames-only detector for the shapes world.

`detect(frames)` reads uint8 RGB frames (T, H, W, 3) at any size (the native 96x64
render or the 1440x960 upscale) and reports what a shapes-world caption states:
the background, how many objects there are (0-2) and, for each object, its colour,
shape and motion. It uses nothing but the pixels, so it can judge generated clips
(`shotsmith.eval.adherence` compares its output with a caption's slots).

Method (numpy + PIL only; about 20-40 ms for a 25-frame 96x64 clip, about 0.25 s
for 49 frames at 1440x960, most of it the downsampling):

1. Frames whose short side is well above 64 px are box-downsampled to a 64 px short
   side (1440x960 -> 96x64, 144x96 -> 96x64). Noisy clips (noise estimated from
   neighbouring-pixel differences) get one or two 3x3 box blurs.
2. Background: per-frame median of the 2-pixel border ring; the clip's background is
   the palette entry (``BACKGROUNDS``) nearest in CIELAB to the median over frames.
3. Pixels are converted to CIELAB. A pixel is foreground when it is far (Delta E,
   threshold adapted to the measured noise) from its frame's background, and it is
   labelled with the nearest object colour (``COLOURS``) unless the background is
   nearer still. Colours that clash with the detected background (``CLASHES``: the
   world never draws them) are not candidates. Each colour mask is opened (3x3) to
   drop thin anti-aliasing rims and specks, then split into connected regions; per
   frame and colour the largest region above 0.5% of the frame is kept.
4. Regions are grouped by colour across frames (the world's two objects always have
   different colours). A group lying mostly along another group's edge (a rim of an
   in-between colour, JPEG halo, or an off-colour patch of a noisy generated object)
   is merged into it, and so is a group that only appears in frames where a bigger
   group is missing, near that group's track (colour flicker). Groups seen in fewer
   than a quarter of the frames are dropped; at most two (the largest) are kept.
   An object's colour is the palette colour nearest to the median of its core
   (eroded) pixels over all frames. The candidates include the novel LoRA colour
   (pink, ``world.NOVEL_COLOURS``), so a fine-tuned model's output can be judged.
5. Per object and frame, a soft coverage ``alpha`` (projection of the pixel onto the
   background -> object colour segment) gives a sub-pixel area and centroid. Shape
   uses the frames where the object is largest and touches neither the frame border
   nor the other object: the ``alpha >= 0.5`` mask's fill of its bounding box
   (square ~1.0, circle ~0.79, triangle ~0.5), the mean coverage of the four corner
   boxes (a quarter of the box side; square ~0.9, circle ~0.3) and, for triangles
   (drawn apex up), empty top corners and a centroid below the box centre. A star
   (the novel LoRA shape) is the only concave one: its soft area is ~0.65 of the
   convex hull of its mask (others >= ~1.0), so solidity below 0.88 is a star.
6. Motion follows the world's rules on the centroid track and area: start and end
   are medians over the first/last few frames where the object is seen, and their
   difference is rescaled to the whole track (exact for steady motion). A move of at
   least 1/4 of the frame width/height is left/right/up/down (the larger axis wins),
   otherwise an area ratio of at least 1.8 is grows/shrinks, otherwise still. Area is
   judged on the frames where the object is clear of the other object (occlusion
   hides part of it). With fewer than two frames the motion is "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from shotsmith.train.world import ALL_COLOURS, BACKGROUNDS, CLASHES

__all__ = ["Detection", "DetectedObject", "detect", "rgb_to_lab", "nearest_colour", "nearest_background"]

MOVE_FRACTION = 0.25  # world rule: centroid moves by >= 1/4 of the frame side
AREA_RATIO = 1.8  # world rule: grows/shrinks change the area by >= 1.8x
STAR_SOLIDITY = 0.88  # soft area / convex hull area below this is a star (star ~0.6, others ~1)
WORK_SHORT_SIDE = 64  # frames are downsampled to about this short side

# The novel LoRA vocabulary (pink) is a candidate too, so a fine-tuned model can be judged.
_COLOUR_NAMES = list(ALL_COLOURS)
_BG_NAMES = list(BACKGROUNDS)


# ---------------------------------------------------------------- colour space


def _srgb_lut() -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


_LIN = _srgb_lut()
_M = (np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
      / np.array([0.95047, 1.0, 1.08883])[:, None]).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of uint8 or float (0-255) sRGB values, shape (..., 3)."""
    a = np.asarray(rgb)
    if a.dtype == np.uint8:
        lin = _LIN[a]
    else:
        c = np.clip(a.astype(np.float32) / 255.0, 0, 1)
        lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)
    xyz = lin @ _M.T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])], -1)


_COLOUR_LAB = rgb_to_lab(np.array([ALL_COLOURS[n] for n in _COLOUR_NAMES], dtype=np.uint8))
_BG_LAB = rgb_to_lab(np.array([BACKGROUNDS[n] for n in _BG_NAMES], dtype=np.uint8))
_COLOUR_LAB2 = (_COLOUR_LAB ** 2).sum(-1).astype(np.float32)


def nearest_colour(rgb) -> str:
    """Name of the object colour (``ALL_COLOURS``) nearest to an sRGB triple."""
    lab = rgb_to_lab(np.asarray(rgb, dtype=np.float32).reshape(1, 3))[0]
    return _COLOUR_NAMES[int(np.argmin(((_COLOUR_LAB - lab) ** 2).sum(-1)))]


def nearest_background(rgb) -> str:
    """Name of the background (``BACKGROUNDS``) nearest to an sRGB triple."""
    lab = rgb_to_lab(np.asarray(rgb, dtype=np.float32).reshape(1, 3))[0]
    return _BG_NAMES[int(np.argmin(((_BG_LAB - lab) ** 2).sum(-1)))]


# ---------------------------------------------------------------- results


@dataclass
class DetectedObject:
    colour: str
    shape: str
    motion: str
    track: list[tuple[int, float, float, float]] = field(default_factory=list)  # (frame, x, y, area), fractions
    details: dict = field(default_factory=dict)  # measurements behind the decision (fill, dx, dy, area_ratio...)

    def to_dict(self, with_track: bool = True) -> dict:
        d = {"colour": self.colour, "shape": self.shape, "motion": self.motion}
        if with_track:
            d["track"] = [[int(f), round(x, 4), round(y, 4), round(a, 5)] for f, x, y, a in self.track]
        return d


@dataclass
class Detection:
    background: str
    count: int
    objects: list[DetectedObject] = field(default_factory=list)
    frames: int = 0
    size: tuple[int, int] = (0, 0)  # (width, height) of the input

    def to_dict(self, with_track: bool = False) -> dict:
        return {
            "background": self.background,
            "count": self.count,
            "objects": [o.to_dict(with_track) for o in self.objects],
        }


# ---------------------------------------------------------------- image helpers


def _downsample(frames: np.ndarray) -> np.ndarray:
    """Box-downsample frames whose short side is well above WORK_SHORT_SIDE to it."""
    t, h, w, _ = frames.shape
    short = min(h, w)
    if short <= WORK_SHORT_SIDE * 1.25:
        return frames
    f = short / WORK_SHORT_SIDE
    nw, nh = max(1, int(round(w / f))), max(1, int(round(h / f)))
    fi = int(round(f))
    exact = abs(f - fi) < 1e-9 and h == nh * fi and w == nw * fi
    if exact and frames.nbytes <= 8_000_000:
        return frames.reshape(t, nh, fi, nw, fi, 3).mean(axis=(2, 4)).round().astype(np.uint8)
    out = np.empty((t, nh, nw, 3), dtype=np.uint8)
    for i in range(t):
        img = Image.fromarray(frames[i])
        img = img.reduce(fi) if exact else img.resize((nw, nh), Image.Resampling.BOX)
        out[i] = np.asarray(img)
    return out


def _noise_sigma(frames: np.ndarray) -> float:
    """Robust estimate of per-pixel noise (sRGB units) from horizontal differences."""
    sub = frames[:: max(1, len(frames) // 8)].astype(np.int16)
    d = np.abs(np.diff(sub, axis=2)).reshape(-1)
    return float(np.median(d)) / 0.6745 / np.sqrt(2.0)


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 box filter over the H, W axes of (T, H, W, C), edges replicated."""
    p = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = a.shape[1:3]
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    return (rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:])[:, :h, :w] / 9.0


def _dilate(m: np.ndarray, r: int = 1) -> np.ndarray:
    """Binary dilation with a (2r+1)x(2r+1) square over the last two axes."""
    h, w = m.shape[-2:]
    lead = [(0, 0)] * (m.ndim - 2)
    p = np.pad(m, lead + [(0, 0), (r, r)])
    out = p[..., :, 0:w].copy()
    for k in range(1, 2 * r + 1):
        out |= p[..., :, k:k + w]
    p = np.pad(out, lead + [(r, r), (0, 0)])
    out = p[..., 0:h, :].copy()
    for k in range(1, 2 * r + 1):
        out |= p[..., k:k + h, :]
    return out


def _erode(m: np.ndarray) -> np.ndarray:
    """Binary erosion with a 3x3 square; outside the frame counts as set so that
    objects touching the border are not eaten from that side."""
    h, w = m.shape[-2:]
    lead = [(0, 0)] * (m.ndim - 2)
    p = np.pad(m, lead + [(0, 0), (1, 1)], mode="edge")
    out = p[..., :, 0:w] & p[..., :, 1:w + 1] & p[..., :, 2:w + 2]
    p = np.pad(out, lead + [(1, 1), (0, 0)], mode="edge")
    return p[..., 0:h, :] & p[..., 1:h + 1, :] & p[..., 2:h + 2, :]


def _hull_area(ys: np.ndarray, xs: np.ndarray) -> float:
    """Area of the convex hull of pixel centres (monotone chain + shoelace)."""
    pts = sorted(set(zip(xs.tolist(), ys.tolist())))
    if len(pts) < 3:
        return 0.0

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    x = np.array([p[0] for p in hull], dtype=np.float64)
    y = np.array([p[1] for p in hull], dtype=np.float64)
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _components(labels: np.ndarray) -> np.ndarray:
    """Connected regions (4-connectivity) of equal non-negative labels in a (T, H, W)
    array, each frame separately. Returns ids (flat index of a root pixel) or -1."""
    t, h, w = labels.shape
    n = labels.size
    mask = labels >= 0
    idx = np.arange(n, dtype=np.int64).reshape(t, h, w)
    comp = np.where(mask, idx, n)
    same_r = mask[:, :, :-1] & (labels[:, :, :-1] == labels[:, :, 1:]) & mask[:, :, 1:]
    same_d = mask[:, :-1, :] & (labels[:, :-1, :] == labels[:, 1:, :]) & mask[:, 1:, :]
    flat_mask = mask.reshape(-1)
    for _ in range(200):
        new = comp.copy()
        # propagate minima across equal-label neighbours
        np.minimum(new[:, :, 1:], np.where(same_r, comp[:, :, :-1], n), out=new[:, :, 1:])
        np.minimum(new[:, :, :-1], np.where(same_r, comp[:, :, 1:], n), out=new[:, :, :-1])
        np.minimum(new[:, 1:, :], np.where(same_d, comp[:, :-1, :], n), out=new[:, 1:, :])
        np.minimum(new[:, :-1, :], np.where(same_d, comp[:, 1:, :], n), out=new[:, :-1, :])
        # pointer jumping
        nf = new.reshape(-1)
        sel = flat_mask
        for _ in range(3):
            nf[sel] = nf[nf[sel]]
        if np.array_equal(new, comp):
            break
        comp = new
    return np.where(mask, comp, -1)


# ---------------------------------------------------------------- detection


def _empty(background: str = "unknown", frames: int = 0, size=(0, 0)) -> Detection:
    return Detection(background=background, count=0, objects=[], frames=frames, size=size)


def detect(frames: np.ndarray) -> Detection:
    """Detect background, objects, their colours, shapes and motions in a clip."""
    arr = _as_uint8_clip(frames)
    if not isinstance(arr, np.ndarray):
        return arr  # nothing readable: an empty detection
    T, H0, W0 = arr.shape[:3]
    small = _denoised(_downsample(np.ascontiguousarray(arr)))
    _, H, W, _ = small.shape
    lab = rgb_to_lab(small)  # (T, H, W, 3)
    background, bg_lab_t, bg_rgb_t, fg_thr = _background(small, lab)
    opened = _object_labels(lab, bg_lab_t, background, fg_thr)
    if not (opened >= 0).any():
        return _empty(background, T, (W0, H0))
    groups = _colour_groups(opened, T, H, W)
    # drop rare groups, keep the two largest
    min_frames = max(1, int(np.ceil(0.25 * T)))
    stats = []
    for c, g in groups.items():
        present = g.reshape(T, -1).any(1)
        if present.sum() >= min_frames:
            stats.append((float(g.sum()), c))
    stats.sort(reverse=True)
    kept = [c for _, c in stats[:2]]
    if not kept:
        return _empty(background, T, (W0, H0))

    union = np.zeros((T, H, W), dtype=bool)
    for c in kept:
        union |= groups[c]
    objects = []
    for c in kept:
        objects.append(_describe(groups[c], union & ~groups[c], small, lab, bg_rgb_t, background, T, H, W))
    # stable order: left to right by mean x
    objects.sort(key=lambda o: (np.mean([p[1] for p in o.track]) if o.track else 0.0))
    return Detection(background=background, count=len(objects), objects=objects, frames=T, size=(W0, H0))


def _as_uint8_clip(frames):
    """(T, H, W, 3) uint8 frames, or an empty Detection for input that holds no clip."""
    try:
        arr = np.asarray(frames)
    except Exception:  # noqa: BLE001 - anything unreadable is "nothing found"
        return _empty()
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] < 3 or arr.shape[0] == 0 or arr.shape[1] < 4 or arr.shape[2] < 4:
        return _empty(frames=int(arr.shape[0]) if arr.ndim == 4 else 0)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        a = arr.astype(np.float32)
        if a.size and np.nanmax(a) <= 1.0:
            a = a * 255.0
        arr = np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)
    return arr


def _denoised(small: np.ndarray) -> np.ndarray:
    """Noisy clips (generated video, heavy grain) get a small box blur, once or twice."""
    noise_rgb = _noise_sigma(small)
    if noise_rgb <= 4.0:
        return small
    passes = 1 if noise_rgb <= 12.0 else 2
    sm = small.astype(np.float32)
    for _ in range(passes):
        sm = _box3(sm)
    return np.clip(sm + 0.5, 0, 255).astype(np.uint8)


def _background(small: np.ndarray, lab: np.ndarray):
    """The background's name, its colour per frame (Lab and RGB: the median of the border ring) and
    the foreground threshold, which follows the noise of the border pixels near the background."""
    _, H, W, _ = small.shape
    ring = np.zeros((H, W), dtype=bool)
    ring[:2, :] = ring[-2:, :] = True
    ring[:, :2] = ring[:, -2:] = True
    border_lab = lab[:, ring]  # (T, P, 3)
    border_rgb = small[:, ring].astype(np.float32)
    bg_lab_t = np.median(border_lab, axis=1)  # (T, 3)
    bg_rgb_t = np.median(border_rgb, axis=1)
    bg_lab = np.median(bg_lab_t, axis=0)
    background = _BG_NAMES[int(np.argmin(((_BG_LAB - bg_lab) ** 2).sum(-1)))]
    dev = np.sqrt(((border_lab - bg_lab_t[:, None, :]) ** 2).sum(-1))
    near = dev[dev < 20]
    noise = float(np.median(near)) if near.size else 0.0
    return background, bg_lab_t, bg_rgb_t, max(12.0, 3.0 * noise)


def _object_labels(lab: np.ndarray, bg_lab_t: np.ndarray, background: str, fg_thr: float) -> np.ndarray:
    """Per pixel: the nearest object colour's index, or -1 for background; each colour's mask
    opened to drop rims and specks."""
    diff = lab - bg_lab_t[:, None, None, :]
    d2_bg = np.einsum("thwc,thwc->thw", diff, diff)  # squared Delta E to the background
    lab2 = np.einsum("thwc,thwc->thw", lab, lab)
    d2_col = lab2[..., None] - 2.0 * (lab @ _COLOUR_LAB.T.astype(np.float32)) + _COLOUR_LAB2  # (T, H, W, 8)
    for c, b in CLASHES:  # world rule: an object never has (nearly) the background's colour
        if b == background:
            d2_col[..., _COLOUR_NAMES.index(c)] = np.inf
    cls = np.argmin(d2_col, axis=-1)
    d2_min = np.take_along_axis(d2_col, cls[..., None], -1)[..., 0]
    fg = (d2_bg > fg_thr * fg_thr) & (d2_min < d2_bg)
    labels = np.where(fg, cls, -1)
    opened = np.full_like(labels, -1)
    for c in np.unique(labels[labels >= 0]):
        m = labels == c
        m = _dilate(_erode(m)) & m
        opened[m] = c
    return opened


def _colour_groups(opened: np.ndarray, T: int, H: int, W: int) -> dict[int, np.ndarray]:
    """Colour class -> per-frame mask of its largest component, fragments merged."""
    comp = _components(opened)
    min_area = max(6, int(0.005 * H * W))
    flat = comp.reshape(-1)
    ids, counts = np.unique(flat[flat >= 0], return_counts=True)
    keep = counts >= min_area
    ids, counts = ids[keep], counts[keep]
    if ids.size == 0:
        return {}
    frame_of = ids // (H * W)
    class_of = opened.reshape(-1)[ids]
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for cid, cnt, f, c in zip(ids.tolist(), counts.tolist(), frame_of.tolist(), class_of.tolist()):
        if (f, c) not in best or cnt > best[(f, c)][1]:
            best[(f, c)] = (cid, cnt)
    groups: dict[int, np.ndarray] = {}
    for (f, c), (cid, _cnt) in best.items():
        g = groups.setdefault(c, np.zeros((T, H, W), dtype=bool))
        g[f] = comp[f] == cid
    return _merge_groups(groups, T)


def _merge_groups(groups: dict[int, np.ndarray], T: int) -> dict[int, np.ndarray]:
    """Merge rim / off-colour patches and colour-flicker fragments into bigger groups."""
    changed = True
    while changed and len(groups) > 1:
        changed = False
        order = sorted(groups, key=lambda c: groups[c].sum())  # smallest first
        for s in order:
            gs = groups[s]
            s_sum = gs.sum()
            s_present = gs.reshape(T, -1).any(1)
            for big in order[::-1]:
                if big == s:
                    continue
                gb = groups[big]
                if gb.sum() < s_sum:
                    continue
                b_present = gb.reshape(T, -1).any(1)
                # (a) s hugs the edge of big in the frames where both are present
                both = s_present & b_present
                if both.any():
                    near = (gs[both] & _dilate(gb[both], 3)).sum()
                    if near >= 0.5 * gs[both].sum() and both.sum() >= 0.5 * s_present.sum():
                        groups[big] = gb | gs
                        del groups[s]
                        changed = True
                        break
                # (b) s shows up only where big is missing, near big's track
                only = s_present & ~b_present
                if b_present.any() and only.sum() >= 0.8 * s_present.sum():
                    bf = np.nonzero(b_present)[0]
                    ok = True
                    for f in np.nonzero(s_present)[0]:
                        nb = bf[np.argmin(np.abs(bf - f))]
                        ys, xs = np.nonzero(gs[f])
                        yb, xb = np.nonzero(gb[nb])
                        dist = np.hypot(ys.mean() - yb.mean(), xs.mean() - xb.mean())
                        reach = 1.5 * np.sqrt(max(len(yb), len(ys))) + 2.0 * abs(int(nb) - int(f))
                        if dist > reach:
                            ok = False
                            break
                    if ok:
                        groups[big] = gb | gs
                        del groups[s]
                        changed = True
                        break
            if changed:
                break
    return groups


def _describe(g: np.ndarray, others: np.ndarray, small: np.ndarray, lab: np.ndarray,
              bg_rgb_t: np.ndarray, background: str, T: int, H: int, W: int) -> DetectedObject:
    # object colour: median over the group's core pixels (eroded), all frames
    core = _erode(g)
    if core.sum() < 8:
        core = g
    colour_lab = np.median(lab[core], axis=0)
    d2 = ((_COLOUR_LAB - colour_lab) ** 2).sum(-1)
    for c, b in CLASHES:
        if b == background:
            d2[_COLOUR_NAMES.index(c)] = np.inf
    colour = _COLOUR_NAMES[int(np.argmin(d2))]
    obj_rgb = np.median(small[core].astype(np.float32), axis=0)

    others_any = others.reshape(T, -1).any(1)
    track = []
    occluded = []  # frames where the object touches the other object (area/centroid unreliable)
    fills = []  # per frame: shape features of the alpha >= 0.5 mask
    for f in range(T):
        m = g[f]
        if not m.any():
            continue
        ys, xs = np.nonzero(m)
        y0, y1 = max(0, ys.min() - 2), min(H, ys.max() + 3)
        x0, x1 = max(0, xs.min() - 2), min(W, xs.max() + 3)
        region = _dilate(m[y0:y1, x0:x1], 2) & ~others[f, y0:y1, x0:x1]
        pix = small[f, y0:y1, x0:x1].astype(np.float32)
        b = bg_rgb_t[f]
        v = obj_rgb - b
        vv = float(v @ v)
        if vv < 1e-3:
            alpha = region.astype(np.float32)
        else:
            alpha = ((pix - b) @ v) / vv
        alpha = np.where(region, np.clip(alpha, 0.0, 1.0), 0.0)
        alpha = np.where(alpha < 0.15, 0.0, alpha)
        area = float(alpha.sum())
        if area <= 0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cy = float((alpha * (yy + 0.5)).sum() / area)
        cx = float((alpha * (xx + 0.5)).sum() / area)
        track.append((f, cx / W, cy / H, area / (H * W)))
        near_other = bool(others_any[f]) and bool(others[f, y0:y1, x0:x1].any())  # in the bbox + 2 px
        occluded.append(near_other)
        hard = alpha >= 0.5
        if hard.sum() >= 6:
            hy, hx = np.nonzero(hard)
            by0, by1, bx0, bx1 = hy.min(), hy.max(), hx.min(), hx.max()
            bbox = (by1 - by0 + 1) * (bx1 - bx0 + 1)
            fill = hard.sum() / bbox
            hcy = hy.mean()
            offset = (hcy - (by0 + by1) / 2.0) / max(1.0, by1 - by0 + 1)
            touches = (by0 + y0 <= 0) or (bx0 + x0 <= 0) or (by1 + y0 >= H - 1) or (bx1 + x0 >= W - 1)
            touches = touches or near_other
            bh, bw = by1 - by0 + 1, bx1 - bx0 + 1
            ch, cw = max(1, int(round(0.25 * bh))), max(1, int(round(0.25 * bw)))
            box = alpha[by0:by1 + 1, bx0:bx1 + 1]
            ctop = 0.5 * (box[:ch, :cw].mean() + box[:ch, -cw:].mean())
            cbot = 0.5 * (box[-ch:, :cw].mean() + box[-ch:, -cw:].mean())
            solidity = area / max(_hull_area(hy, hx), 1.0)
            fills.append({"area": float(hard.sum()), "fill": float(fill), "offset": float(offset),
                          "ctop": float(ctop), "cbot": float(cbot), "solidity": float(solidity),
                          "touches": bool(touches)})

    shape, shape_info = _classify_shape(fills)
    # Where the object touches the other one, its visible area (and a little its
    # centroid) is unreliable: the size change is judged on the other frames.
    clear = [p for p, o in zip(track, occluded) if not o]
    sizes = clear if len(clear) >= max(2, len(track) // 8) else track
    motion, motion_info = _classify_motion(track, T, sizes)
    details = {"colour_lab": [round(float(x), 1) for x in colour_lab], **shape_info, **motion_info}
    return DetectedObject(colour=colour, shape=shape, motion=motion, track=track, details=details)


def _classify_shape(fills: list[dict]) -> tuple[str, dict]:
    if not fills:
        return "unknown", {}
    clean = [x for x in fills if not x["touches"]] or fills
    clean.sort(key=lambda x: -x["area"])
    top = clean[: max(3, len(clean) // 3)]
    feats = {k: float(np.median([x[k] for x in top])) for k in ("fill", "offset", "ctop", "cbot", "solidity")}
    fill, offset = feats["fill"], feats["offset"]
    ctop, cbot = feats["ctop"], feats["cbot"]
    # Stars are the only concave shape: their area is ~0.56 of their convex hull,
    # while circles, squares and triangles fill theirs (>= ~1 with soft area over
    # the hull of the hard mask's pixel centres).
    if feats["solidity"] < STAR_SOLIDITY:
        return "star", {k: round(v, 3) for k, v in feats.items()}
    # Triangles (apex up) have empty top corners, full-ish bottom corners, a centroid
    # below the box centre and fill ~0.5; two of the three cues are enough.
    votes = int(cbot - ctop > 0.3) + int(offset > 0.07) + int(fill < 0.68)
    if votes >= 2:
        shape = "triangle"
    # Squares fill their box (~1.0) including the corners (corner boxes ~0.9);
    # circles ~0.79 and ~0.3. Blur and JPEG pull squares towards circles.
    elif fill + 0.5 * (ctop + cbot) > 1.34:
        shape = "square"
    else:
        shape = "circle"
    return shape, {k: round(v, 3) for k, v in feats.items()}


def _ends(track, key: int) -> tuple[float, float]:
    """Start and end of track[.][key], means over the first/last few entries, the
    difference rescaled to the span of the track (exact for steady motion)."""
    n = len(track)
    fr = np.array([p[0] for p in track], dtype=np.float64)
    v = np.array([p[key] for p in track], dtype=np.float64)
    k = max(1, min(n // 4, max(2, n // 8)))
    span = fr[n - k:].mean() - fr[:k].mean()
    if span <= 0:
        return float(np.median(v)), float(np.median(v))
    scale = (fr[-1] - fr[0]) / span
    v0, v1 = float(np.median(v[:k])), float(np.median(v[n - k:]))
    return v0, v0 + (v1 - v0) * scale


def _classify_motion(track: list[tuple[int, float, float, float]], T: int,
                     sizes: list[tuple[int, float, float, float]] | None = None) -> tuple[str, dict]:
    n = len(track)
    sizes = sizes if sizes is not None else track
    if T < 2 or n < 2 or sizes[-1][0] <= sizes[0][0]:
        return "unknown", {}
    x0, x1 = _ends(track, 1)
    y0, y1 = _ends(track, 2)
    dx, dy = x1 - x0, y1 - y0
    logs = [(p[0], 0, 0, float(np.log(max(p[3], 1e-9)))) for p in sizes]
    l0, l1 = _ends(logs, 3)
    log_ratio = l1 - l0
    info = {"dx": round(float(dx), 3), "dy": round(float(dy), 3), "area_ratio": round(float(np.exp(log_ratio)), 3)}
    rx, ry = abs(dx) / MOVE_FRACTION, abs(dy) / MOVE_FRACTION
    if max(rx, ry) >= 1.0:
        if rx >= ry:
            return ("right" if dx > 0 else "left"), info
        return ("down" if dy > 0 else "up"), info
    if log_ratio >= np.log(AREA_RATIO):
        return "grows", info
    if log_ratio <= -np.log(AREA_RATIO):
        return "shrinks", info
    return "still", info
