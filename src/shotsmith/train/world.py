"""The shapes world: procedurally rendered clips whose content is known exactly.

A `Scene` holds one or two objects (colour, shape, motion) over a background. It
renders to frames (uint8, T x H x W x 3) and to natural-language captions with
varied wording, so the embedded model can be trained on it and its output checked
by `shotsmith.eval.detector`. The canonical vocabulary follows
shared/docs/SHAPES_WORLD.md.
"""

from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (140, 60, 200),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "sky": (135, 190, 235),
    "grass": (90, 160, 70),
    "night": (15, 20, 50),
    "sand": (225, 200, 150),
    "gray studio": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "still", "grows", "shrinks")

# Pairs too close to tell apart: the world's rule is that an object never has the
# background's colour.
CLASHES = {("green", "grass"), ("black", "night")}

# Training wording. Held-out paraphrases used to judge the model live in
# shotsmith/eval/data/heldout_captions.jsonl and must not be added here (nor the LoRA
# held-out wording in benchmarks/lora_demo.py, nor the held-out words docs/training.md
# names as examples: scarlet, orb, crate, pyramid, ascends, dwindles, turf, dunes).
# `random_scene` captions draw from the
# first words of each list only (three colour words, four of the others, six size
# words: the wording of the models trained before the v2 world, `wide=False`);
# `wide=True` draws from the whole lists.
COLOUR_WORDS = {
    "red": ["red", "crimson", "red", "red", "bright red", "cherry red", "deep red", "tomato red"],
    "orange": ["orange", "tangerine", "orange", "orange", "bright orange", "pumpkin orange", "deep orange",
               "carrot orange"],
    "yellow": ["yellow", "lemon yellow", "yellow", "yellow", "bright yellow", "sunny yellow", "mustard yellow",
               "banana yellow"],
    "green": ["green", "emerald", "green", "green", "bright green", "leaf green", "deep green", "lime green"],
    "blue": ["blue", "cobalt blue", "blue", "blue", "bright blue", "royal blue", "deep blue", "ocean blue"],
    "purple": ["purple", "violet", "purple", "purple", "bright purple", "grape purple", "deep purple", "mauve"],
    "white": ["white", "snow-white", "white", "white", "bright white", "pure white", "milky white", "chalk white"],
    "black": ["black", "jet-black", "black", "black", "coal black", "pitch black", "inky black", "dark black"],
}
SHAPE_WORDS = {
    "circle": ["circle", "ball", "disc", "round dot", "sphere", "round shape", "dot", "round disc"],
    "square": ["square", "box", "block", "cube", "square shape", "boxy shape", "tile", "square block"],
    "triangle": ["triangle", "triangle", "wedge", "triangular shape", "triangle shape", "three-sided shape",
                 "triangular block", "arrowhead"],
}
MOTION_WORDS = {
    "left": ["moves left", "rolls to the left", "slides leftward", "travels to the left", "goes left",
             "moves to the left side", "heads left", "slides over to the left", "rolls left", "shifts left"],
    "right": ["moves right", "rolls to the right", "slides rightward", "travels to the right", "goes right",
              "moves to the right side", "heads right", "slides over to the right", "rolls right", "shifts right"],
    "up": ["moves up", "rises", "floats upward", "climbs up", "goes up", "moves upward", "lifts upward",
           "rises toward the top", "floats up", "bounces up"],
    "down": ["moves down", "falls", "sinks downward", "drops down", "goes down", "moves downward",
             "falls toward the bottom", "sinks down", "slides down", "drops"],
    "still": ["stays still", "sits motionless", "does not move", "rests in place", "stays put", "is still",
              "stays in one place", "remains still", "sits still", "waits without moving"],
    "grows": ["grows", "gets bigger", "expands", "grows larger", "grows bigger", "becomes larger",
              "gets larger", "expands outward", "grows in size", "becomes bigger"],
    "shrinks": ["shrinks", "gets smaller", "contracts", "shrinks away", "shrinks down", "becomes smaller",
                "gets tinier", "shrinks in size", "becomes tiny", "contracts inward"],
}
BACKGROUND_WORDS = {
    "sky": ["the blue sky", "a clear sky", "the sky", "a bright daytime sky", "a light blue sky",
            "a sunny sky", "an open sky", "a wide blue sky"],
    "grass": ["green grass", "a grassy lawn", "the grass", "a green meadow", "a lawn", "a field of grass",
              "short green grass", "a grassy field"],
    "night": ["a dark night", "the night sky", "a night background", "darkness at night", "a dark blue night",
              "the night", "a midnight background", "a dark evening sky"],
    "sand": ["sand", "a sandy beach", "desert sand", "the sand", "a beach", "a sandy desert", "beige sand",
             "the desert"],
    "gray studio": ["a gray studio", "a plain grey backdrop", "a gray studio background", "a neutral gray studio",
                    "a grey background", "a plain gray wall", "a gray backdrop", "a grey studio"],
}
SIZE_WORDS = ["", "", "small ", "little ", "large ", "big ", "", "tiny ", "medium-sized ", "single "]
BASE_WORDS = 4  # the older captions' share of the shape, motion and background lists

# Cinematic filler of the kind the prompt agent writes, so the model learns to
# find the content inside long prompts.
CAMERA_FILLER = [
    "Static wide shot.", "A locked-off medium shot.", "Slow steady camera, eye level.",
    "Wide establishing shot.", "Close framing, fixed camera.", "Cinematic tracking shot.",
    # wider wording ("wide" vocabulary only)
    "Fixed camera on a tripod.", "Front view, fixed camera.", "A simple static frame.",
    "Medium shot from eye level.", "A steady, level frame.",
]
LIGHT_FILLER = [
    "Soft even lighting.", "Flat diffuse light with no harsh shadows.", "Bright clean light.",
    "Gentle studio lighting.", "Warm natural light.",
    "Even light from the front.", "Clean, shadowless light.", "Soft daylight.", "Balanced neutral light.",
]
MOOD_FILLER = [
    "The mood is calm and playful, minimalist style.", "Clean graphic look, crisp detail, 4K.",
    "Simple and cheerful atmosphere.", "Minimalist animation style with bold colours.",
    "A quiet, orderly mood with smooth motion.", "Vivid colours and a tidy composition.",
    "Flat 2D animation, simple shapes.", "High quality, smooth and clear.", "A playful, friendly feel.",
    "Crisp edges, flat colours, clean design.", "Smooth motion and a calm tone.",
]


# "broad" wording: the wide lists above, and half the time a word from these further lists,
# written for `--no-enhance` (a user's own words reach the model as typed). Any phrase with
# a word of the held-out captions that the wide wording does not already use is dropped when
# the lists are read (`broad_words`), so the held-out set stays unseen however these were
# written; a test keeps the LoRA benchmark's held-out wording out of them too.
BROAD_COLOUR_WORDS = {
    "red": ["vermilion", "cardinal red", "blood red", "cranberry red", "brick red",
            "strawberry red", "poppy red", "reddish", "lipstick red", "fire-engine red"],
    "orange": ["amber", "marigold", "burnt orange", "copper orange", "orangish", "saffron",
               "papaya orange", "flame orange", "traffic-cone orange", "peach orange", "mango orange"],
    "yellow": ["gold", "canary yellow", "daffodil yellow", "butter yellow", "sunflower yellow",
               "honey yellow", "yellowish", "corn yellow", "straw yellow", "dandelion yellow", "lemon"],
    "green": ["olive green", "forest green", "mint green", "kelly green", "grass green", "pea green",
              "moss green", "greenish", "sage green", "apple green", "jungle green"],
    "blue": ["azure", "sky blue", "sapphire", "indigo", "denim blue", "baby blue",
             "bluish", "cornflower blue", "steel blue", "electric blue"],
    "purple": ["lavender", "plum", "amethyst", "orchid", "eggplant purple", "purplish",
               "royal purple", "mulberry purple", "heather purple", "grape", "aubergine"],
    "white": ["ivory", "cream white", "bone white", "frost white", "ghost white", "whitish",
              "silver white", "paper white", "porcelain white", "cotton white"],
    "black": ["charcoal black", "onyx", "obsidian black", "raven black", "midnight black",
              "soot black", "blackish", "licorice black", "ink black", "tar black", "jet"],
}
BROAD_SHAPE_WORDS = {
    "circle": ["disk", "bubble", "marble", "bead", "coin shape", "globe", "pellet", "round token",
               "circular shape", "round piece", "button", "ball shape", "round blob", "puck"],
    "square": ["brick", "box shape", "die", "block shape", "square tile", "four-sided shape", "slab",
               "checker", "boxy block", "square panel", "square patch", "quad", "cubic block", "chunk"],
    "triangle": ["triangular piece", "cone shape", "delta", "wedge shape", "pointed shape",
                 "three-cornered shape", "triangular tile", "tent shape", "arrow shape", "slice",
                 "triangular form", "spike", "peak", "pennant"],
}
BROAD_MOTION_WORDS = {
    "left": ["drifts left", "glides to the left", "scoots left", "moves leftwards", "sweeps left",
             "travels leftward", "wanders left", "slides toward the left edge", "coasts left",
             "crosses to the left", "moves from right to left", "makes its way left"],
    "right": ["drifts right", "glides to the right", "scoots right", "moves rightwards", "sweeps right",
              "travels rightward", "wanders right", "slides toward the right edge", "coasts right",
              "crosses to the right", "moves from left to right", "makes its way right"],
    "up": ["rises up", "drifts upward", "glides up", "lifts off", "floats toward the top", "soars up",
           "climbs", "moves toward the top", "travels upward", "rises slowly", "heads up", "goes upward"],
    "down": ["descends", "drifts down", "glides down", "sinks", "falls down", "drops toward the bottom",
             "plunges", "moves toward the bottom", "travels downward", "heads down", "comes down", "dips down"],
    "still": ["stays motionless", "holds still", "remains in place", "does not budge", "stands still",
              "stays where it is", "keeps still", "stays fixed", "sits there", "holds its position",
              "stays stationary", "never moves"],
    "grows": ["swells", "enlarges", "balloons", "gets larger and larger", "grows bigger and bigger",
              "scales up", "widens", "increases in size", "puffs up", "becomes huge", "blows up"],
    "shrinks": ["gets smaller and smaller", "deflates", "scales down", "reduces in size", "diminishes",
                "shrivels", "narrows", "becomes small", "decreases in size", "shrinks to a dot",
                "gets little", "withers"],
}
BROAD_BACKGROUND_WORDS = {
    "sky": ["an azure sky", "a cloudless sky", "the open sky", "blue skies", "a daylight sky", "the heavens",
            "a summer sky", "a bright blue sky", "the air"],
    "grass": ["a meadow", "a green field", "a lawn of grass", "the pasture", "a grassy meadow", "a park lawn",
              "a green lawn", "a field", "a grassy hill", "fresh grass"],
    "night": ["a starless night", "the dark", "a night-time sky", "a black night", "a midnight sky",
              "the dark of night", "a deep night", "nighttime", "evening darkness", "a moonless night"],
    "sand": ["a sandy shore", "the beach sand", "a desert", "yellow sand", "the seashore",
             "a stretch of sand", "the sandy ground", "the shore", "a sandy plain"],
    "gray studio": ["a grey wall", "a neutral backdrop", "a plain studio", "a seamless gray backdrop",
                    "a studio backdrop", "a blank gray background", "an ash-gray backdrop", "a slate backdrop",
                    "a simple grey set", "a bare studio"],
}
BROAD_SIZE_WORDS = ["miniature ", "compact ", "huge ", "mid-sized ", "smallish ", "oversized "]
BROAD_SHARE = 0.5  # share of word draws that come from the broad lists


# Novel vocabulary the embedded model was never trained on, for LoRA fine-tuning
# (`shotsmith train lora`, benchmarks/lora_demo.py). It is kept apart from
# COLOURS/SHAPES so that `random_scene` and its captions (the base model's training
# data) stay exactly reproducible.
NOVEL_COLOURS: dict[str, tuple[int, int, int]] = {"pink": (255, 105, 180)}
NOVEL_SHAPES = ("star",)
NOVEL_COLOUR_WORDS = {"pink": ["pink", "hot pink", "bubblegum pink", "pink"]}
NOVEL_SHAPE_WORDS = {"star": ["star", "five-pointed star", "star shape", "star"]}
ALL_COLOURS = {**COLOURS, **NOVEL_COLOURS}
ALL_SHAPES = SHAPES + NOVEL_SHAPES

# A five-point star with inner/outer radius 0.45 and outer radius 1.5x the circle's
# radius has about the circle's area (1.32 R^2 vs 3.14 r^2 -> R = 1.54 r).
STAR_OUTER = 1.5
STAR_INNER_RATIO = 0.45


def star_points(px: float, py: float, r: float) -> list[tuple[float, float]]:
    """Vertices of a five-point star (one point up) centred at (px, py), for radius-r objects."""
    import math

    outer, inner = STAR_OUTER * r, STAR_OUTER * r * STAR_INNER_RATIO
    # Centre the star's bounding box vertically: its points reach 1.0 R up but only
    # cos(36) = 0.81 R down, so shift it down by half the difference.
    shift = outer * (1 - math.cos(math.pi / 5)) / 2
    points = []
    for k in range(10):
        angle = -math.pi / 2 + k * math.pi / 5
        radius = outer if k % 2 == 0 else inner
        points.append((px + radius * math.cos(angle), py + shift + radius * math.sin(angle)))
    return points


@dataclass
class ShapeObject:
    colour: str
    shape: str
    motion: str
    x0: float = 0.5  # centre, as a fraction of width/height
    y0: float = 0.5
    size: float = 0.16  # half-extent as a fraction of frame height
    travel: float = 0.4  # distance moved, as a fraction of the frame's side
    scale: float = 2.0  # size ratio end/start for grows, start/end for shrinks


@dataclass
class Scene:
    background: str
    objects: list[ShapeObject] = field(default_factory=list)

    def slots(self) -> dict:
        """The ground truth that a caption of this scene states."""
        return {
            "background": self.background,
            "count": len(self.objects),
            "objects": [{"colour": o.colour, "shape": o.shape, "motion": o.motion} for o in self.objects],
        }

    def to_dict(self) -> dict:
        return asdict(self)


def _allowed_colours(background: str, exclude: set[str] = frozenset()) -> list[str]:
    return [c for c in COLOURS if (c, background) not in CLASHES and c not in exclude]


OBJECT_SCALES = (1.0, 1.5)  # allowed range of `object_scale` (1: the first models' sizes)


def _draw_extents(obj: ShapeObject, rng: random.Random, object_scale: float, in_lane: bool) -> None:
    """Size, travel and growth of an object, `object_scale` times the first world's sizes.

    Larger objects give the patch-4 model more tokens per outline (issue 17's shape slot);
    each extent is capped so the object stays in frame (and in its lane beside a second
    object) and still moves by more than the detector's quarter of the frame. At scale 1 no
    cap binds, so the draws (and scenes) are the first world's, draw for draw.
    """
    obj.size = rng.uniform(0.13, 0.19) * object_scale
    if in_lane:
        obj.size = min(obj.size, 0.21)  # two lanes of half the frame each
    if obj.motion in ("left", "right"):
        obj.travel = rng.uniform(0.40, 0.55)
    elif obj.motion in ("up", "down"):
        obj.travel = min(rng.uniform(0.38, 0.48), 1 - 2 * (obj.size + 0.03))
    elif obj.motion in ("grows", "shrinks"):
        obj.scale = rng.uniform(1.9, 2.4)  # linear ratio: area changes by 3.6x-5.8x
        obj.size = rng.uniform(0.10, 0.13) * object_scale
        obj.scale = min(obj.scale, max(1.9, 0.42 / obj.size))


def _place(obj: ShapeObject, rng: random.Random, lane: tuple[float, float] | None,
           object_scale: float = 1.0, in_lane: bool = False) -> None:
    """Choose start position and extents so the object stays mostly in frame."""
    aspect = 1.5  # width / height of the native frame
    _draw_extents(obj, rng, object_scale, in_lane or lane is not None)
    half_w = obj.size / aspect
    ylo, yhi = lane if lane else (0.0, 1.0)
    if obj.motion in ("left", "right"):
        start = rng.uniform(half_w + 0.02, 1 - half_w - 0.02 - obj.travel)
        obj.x0 = start if obj.motion == "right" else 1 - start
        obj.y0 = rng.uniform(max(ylo, 0) + obj.size + 0.03, min(yhi, 1) - obj.size - 0.03)
    elif obj.motion in ("up", "down"):
        start = rng.uniform(obj.size + 0.03, 1 - obj.size - 0.03 - obj.travel)
        obj.y0 = start if obj.motion == "down" else 1 - start
        obj.x0 = rng.uniform(half_w + 0.05, 1 - half_w - 0.05)
    else:
        big = obj.size * (obj.scale if obj.motion in ("grows", "shrinks") else 1.0)
        obj.x0 = rng.uniform(big / aspect + 0.04, 1 - big / aspect - 0.04)
        obj.y0 = rng.uniform(max(ylo, 0) + min(big, 0.3) + 0.03, min(yhi, 1) - min(big, 0.3) - 0.03)


LAYOUTS = ("random", "canonical")
JITTER_PX = 4.0  # canonical layout: start offset, in native pixels, either way


def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi) if lo <= hi else (lo + hi) / 2


def _canonical_place(obj: ShapeObject, rng: random.Random, centre: tuple[float, float],
                     object_scale: float = 1.0, in_lane: bool = False) -> None:
    """Start where the motion says (a right-mover on the left, ...), around `centre`, +-4 px.

    Size, travel and growth are drawn as in `_place`; only the start position is fixed
    by the motion, so the model does not have to average over all the places an object
    might start (the static smear that the first models drew).
    """
    aspect = 1.5
    _draw_extents(obj, rng, object_scale, in_lane)
    jx, jy = rng.uniform(-JITTER_PX, JITTER_PX) / 96, rng.uniform(-JITTER_PX, JITTER_PX) / 64
    half_w = obj.size / aspect
    cx, cy = centre
    if obj.motion == "right":
        obj.x0 = _clamp(0.22 + jx, half_w + 0.02, 1 - half_w - 0.02 - obj.travel)
        obj.y0 = cy + jy
    elif obj.motion == "left":
        obj.x0 = _clamp(0.78 + jx, half_w + 0.02 + obj.travel, 1 - half_w - 0.02)
        obj.y0 = cy + jy
    elif obj.motion == "down":
        obj.x0 = cx + jx
        obj.y0 = _clamp(0.26 + jy, obj.size + 0.03, 1 - obj.size - 0.03 - obj.travel)
    elif obj.motion == "up":
        obj.x0 = cx + jx
        obj.y0 = _clamp(0.74 + jy, obj.size + 0.03 + obj.travel, 1 - obj.size - 0.03)
    else:
        big = obj.size * (obj.scale if obj.motion in ("grows", "shrinks") else 1.0)
        obj.x0 = _clamp(cx + jx, big / aspect + 0.02, 1 - big / aspect - 0.02)
        obj.y0 = _clamp(cy + jy, min(big, 0.3) + 0.02, 1 - min(big, 0.3) - 0.02)


def _canonical_centres(motions: list[str]) -> list[tuple[float, float]]:
    """Lane centres (x, y) for one or two objects, set by their motions.

    One object: the frame's middle line. Two: horizontal movers take the upper/lower
    half, vertical movers the left/right half, a still object the half away from the
    other; with one horizontal and one vertical mover, the horizontal one takes the
    half where the vertical one ends and the vertical one the side where the
    horizontal one starts, so their paths cross at different times (apart throughout).
    """
    if len(motions) == 1:
        return [(0.5, 0.5)]
    horiz = {"left", "right"}
    vert = {"up", "down"}
    a, b = motions
    if a in horiz and b in horiz:
        return [(0.5, 0.27), (0.5, 0.73)]
    if a in vert and b in vert:
        return [(0.27, 0.5), (0.73, 0.5)]
    if (a in horiz and b in vert) or (a in vert and b in horiz):
        h, v = (a, b) if a in horiz else (b, a)
        h_y = 0.27 if v == "up" else 0.73  # the half where the vertical mover ends ...
        v_x = 0.25 if h == "right" else 0.75  # ... and the side where the horizontal one starts
        hc, vc = (0.5, h_y), (v_x, 0.5)
        return [hc, vc] if a in horiz else [vc, hc]
    if a in horiz or b in horiz:  # one horizontal mover, one still object: upper/lower halves
        return [(0.5, 0.27), (0.5, 0.73)]
    if a in vert or b in vert:  # one vertical mover, one still object: left/right halves
        return [(0.27, 0.5), (0.73, 0.5)]
    return [(0.3, 0.5), (0.7, 0.5)]  # two still objects


def random_scene(rng: random.Random, two_objects_share: float = 0.25, layout: str = "random",
                 object_scale: float = 1.0) -> Scene:
    """A random scene. `layout`: "random" start positions (the first models' world) or
    "canonical" (start set by the motion, +-4 px, separate lanes for two objects).
    `object_scale` multiplies the objects' sizes (1-1.5; 1 draws the first world's scenes)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: '{layout}' is not one of {', '.join(LAYOUTS)}")
    if not OBJECT_SCALES[0] <= object_scale <= OBJECT_SCALES[1]:  # also refuses NaN
        raise ValueError(f"object_scale: {object_scale} is not in {OBJECT_SCALES[0]}-{OBJECT_SCALES[1]}")
    background = rng.choice(list(BACKGROUNDS))
    count = 2 if rng.random() < two_objects_share else 1
    scene = Scene(background=background)
    used: set[str] = set()
    for i in range(count):
        colour = rng.choice(_allowed_colours(background, used))
        used.add(colour)
        motions = MOTIONS if count == 1 else ("left", "right", "still", "up", "down")
        obj = ShapeObject(colour=colour, shape=rng.choice(SHAPES), motion=rng.choice(motions))
        if layout == "canonical":
            scene.objects.append(obj)
            continue
        lane = None if count == 1 else ((0.0, 0.5) if i == 0 else (0.5, 1.0))
        if count == 2 and obj.motion in ("up", "down"):
            lane = None
        _place(obj, rng, lane, object_scale, in_lane=count == 2)
        if count == 2 and obj.motion in ("up", "down"):
            obj.x0 = rng.uniform(0.12, 0.4) if i == 0 else rng.uniform(0.6, 0.88)
        scene.objects.append(obj)
    if layout == "canonical":
        centres = _canonical_centres([o.motion for o in scene.objects])
        for obj, centre in zip(scene.objects, centres):
            _canonical_place(obj, rng, centre, object_scale, in_lane=count == 2)
    return scene


def _object_at(obj: ShapeObject, t: float) -> tuple[float, float, float]:
    """Centre (fractions) and half-extent (fraction of height) at time t in [0, 1]."""
    x, y, s = obj.x0, obj.y0, obj.size
    if obj.motion == "right":
        x += obj.travel * t
    elif obj.motion == "left":
        x -= obj.travel * t
    elif obj.motion == "down":
        y += obj.travel * t
    elif obj.motion == "up":
        y -= obj.travel * t
    elif obj.motion == "grows":
        s = obj.size * (1 + (obj.scale - 1) * t)
    elif obj.motion == "shrinks":
        s = obj.size * (obj.scale - (obj.scale - 1) * t)
    return x, y, s


def render(scene: Scene, frames: int = 25, width: int = 96, height: int = 64, supersample: int = 4) -> np.ndarray:
    """Render a scene to uint8 frames of shape (frames, height, width, 3)."""
    W, H = width * supersample, height * supersample
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for f in range(frames):
        t = f / max(frames - 1, 1)
        img = Image.new("RGB", (W, H), BACKGROUNDS[scene.background])
        draw = ImageDraw.Draw(img)
        for obj in scene.objects:
            cx, cy, s = _object_at(obj, t)
            px, py, r = cx * W, cy * H, s * H
            fill = COLOURS.get(obj.colour) or NOVEL_COLOURS[obj.colour]
            if obj.shape == "star":
                draw.polygon(star_points(px, py, r), fill=fill)
            elif obj.shape == "circle":
                draw.ellipse([px - r, py - r, px + r, py + r], fill=fill)
            elif obj.shape == "square":
                q = r * 0.89  # same area as the circle of radius r
                draw.rectangle([px - q, py - q, px + q, py + q], fill=fill)
            else:
                q = r * 1.25
                draw.polygon([(px, py - q), (px + q * 1.05, py + q * 0.8), (px - q * 1.05, py + q * 0.8)], fill=fill)
        out[f] = np.asarray(img.resize((width, height), Image.Resampling.BOX))
    return out


def _words(words: list[str], wide: bool, base: int = BASE_WORDS) -> list[str]:
    return words if wide else words[:base]


HELDOUT_CAPTIONS = Path(__file__).parents[1] / "eval" / "data" / "heldout_captions.jsonl"
# The held-out words docs/training.md names (some are not in the file's captions).
NAMED_HELDOUT_WORDS = ("scarlet", "orb", "crate", "pyramid", "ascends", "dwindles", "turf", "dunes")


@functools.cache
def held_out_words() -> frozenset[str]:
    """Words of the held-out captions (and their plural or singular) that the wide wording does
    not use: no broad caption may contain one."""
    words = set(NAMED_HELDOUT_WORDS)
    if HELDOUT_CAPTIONS.is_file():
        for line in HELDOUT_CAPTIONS.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.update(_WORD.findall(json.loads(line)["prompt"].lower()))
    forms = words | {w + "s" for w in words} | {w[:-1] for w in words if w.endswith("s")}
    return frozenset(forms - training_vocabulary())


def broad_words(words: list[str]) -> list[str]:
    """`words` without the phrases that hold a held-out word."""
    banned = held_out_words()
    return [w for w in words if not set(_WORD.findall(w.lower())) & banned]


@functools.cache
def _allowed(phrases: tuple[str, ...]) -> tuple[str, ...]:
    """`broad_words` of a fixed list, read once (it is drawn from for every caption)."""
    return tuple(broad_words(list(phrases)))


def _draw(rng: random.Random, words: list[str], broad: list[str] | None) -> str:
    """A word from `words`, or (broad wording, BROAD_SHARE of the time) from `broad`."""
    if broad is not None and rng.random() < BROAD_SHARE:
        allowed = _allowed(tuple(broad))
        if allowed:
            return rng.choice(allowed)
    return rng.choice(words)


def _object_phrase(obj: ShapeObject, rng: random.Random, with_size: bool = True,
                   wide: bool = False, broad: bool = False) -> tuple[str, str]:
    if broad:  # the wide lists, and half the time the broad ones
        size = (_draw(rng, SIZE_WORDS, BROAD_SIZE_WORDS)
                if with_size and obj.motion not in ("grows", "shrinks") else "")
        noun = (f"{size}{_draw(rng, COLOUR_WORDS[obj.colour], BROAD_COLOUR_WORDS[obj.colour])} "
                f"{_draw(rng, SHAPE_WORDS[obj.shape], BROAD_SHAPE_WORDS[obj.shape])}")
        return noun, _draw(rng, MOTION_WORDS[obj.motion], BROAD_MOTION_WORDS[obj.motion])
    size = rng.choice(_words(SIZE_WORDS, wide, 6)) if with_size and obj.motion not in ("grows", "shrinks") else ""
    colour_words = COLOUR_WORDS.get(obj.colour) or NOVEL_COLOUR_WORDS[obj.colour]
    shape_words = SHAPE_WORDS.get(obj.shape) or NOVEL_SHAPE_WORDS[obj.shape]
    noun = f"{size}{rng.choice(_words(colour_words, wide, 3))} {rng.choice(_words(shape_words, wide))}"
    return noun, rng.choice(_words(MOTION_WORDS[obj.motion], wide))


def _article(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def caption(scene: Scene, rng: random.Random, wide: bool = False, broad: bool = False) -> str:
    """One plain caption in a random word order (`wide`: the v2 world's wider wording; `broad`:
    that and, half the time, the broad lists and sentence shapes)."""
    wide = wide or broad
    if broad:
        bg = _draw(rng, BACKGROUND_WORDS[scene.background], BROAD_BACKGROUND_WORDS[scene.background])
    else:
        bg = rng.choice(_words(BACKGROUND_WORDS[scene.background], wide))
    parts = []
    for obj in scene.objects:
        noun, verb = _object_phrase(obj, rng, wide=wide, broad=broad)
        parts.append((noun, verb))
    if len(parts) == 1:
        (noun, verb), = parts
        a = _article(noun)
        templates = [
            f"{a} {noun} {verb} on {bg}",
            f"{a} {noun} {verb} across {bg}",
            f"on {bg}, {a} {noun} {verb}",
            f"{a} {noun} over {bg} {verb}",
            f"{bg} with {a} {noun} that {verb}",
            f"against {bg}, {a} {noun} {verb}",
        ]
        if wide:
            templates += [
                f"the {noun} {verb} in front of {bg}",
                f"{a} {noun} that {verb}, {bg} behind it",
                f"a video of {a} {noun} that {verb} on {bg}",
                f"{bg}. {a.capitalize()} {noun} {verb}",
                f"in front of {bg} {a} {noun} {verb}",
                f"{a} {noun} {verb} with {bg} in the background",
                f"one {noun} {verb} on {bg}",
                f"animation: {a} {noun} {verb}, background {bg}",
                f"watch {a} {noun} as it {verb} on {bg}",
                f"{a} {noun} on {bg}; it {verb}",
            ]
        broad_templates = [
            f"{a} {noun} is shown on {bg}, and it {verb}",
            f"here {a} {noun} {verb} against {bg}",
            f"short clip: {a} {noun} {verb} over {bg}",
            f"{noun} {verb}, {bg}",
            f"scene of {bg}: {a} {noun} {verb}",
            f"{a} {noun} {verb}. the background is {bg}",
            f"{bg}, where {a} {noun} {verb}",
            f"in this shot {a} {noun} {verb} on {bg}",
        ]
    else:
        (n1, v1), (n2, v2) = parts
        a1, a2 = _article(n1), _article(n2)
        templates = [
            f"{a1} {n1} {v1} and {a2} {n2} {v2} on {bg}",
            f"on {bg}, {a1} {n1} {v1} while {a2} {n2} {v2}",
            f"two shapes over {bg}: {a1} {n1} {v1}, {a2} {n2} {v2}",
            f"{a1} {n1} {v1}; beside it {a2} {n2} {v2}, against {bg}",
        ]
        if wide:
            templates += [
                f"{a1} {n1} and {a2} {n2} on {bg}: the {n1} {v1} and the {n2} {v2}",
                f"in front of {bg}, {a1} {n1} {v1} as {a2} {n2} {v2}",
                f"two objects on {bg}. {a1.capitalize()} {n1} {v1}. {a2.capitalize()} {n2} {v2}",
                f"{a1} {n1} {v1} while {a2} {n2} {v2}, with {bg} behind them",
                f"{bg} with {a1} {n1} that {v1} and {a2} {n2} that {v2}",
                f"a pair of shapes on {bg}: {a1} {n1} {v1}, {a2} {n2} {v2}",
            ]
        broad_templates = [
            f"two shapes on {bg}, {a1} {n1} that {v1} and {a2} {n2} that {v2}",
            f"{a1} {n1} {v1}. meanwhile {a2} {n2} {v2}. the background is {bg}",
            f"{bg}; {a1} {n1} {v1} and next to it {a2} {n2} {v2}",
            f"{a1} {n1} {v1} and {a2} {n2} {v2}, both on {bg}",
            f"this clip shows {a1} {n1} that {v1} and {a2} {n2} that {v2} on {bg}",
        ]
    if broad and rng.random() < BROAD_SHARE:
        templates = broad_words(broad_templates) or templates
    text = rng.choice(templates)
    return text[0].upper() + text[1:]


def cinematic_caption(scene: Scene, rng: random.Random, wide: bool = False, broad: bool = False) -> str:
    """A caption wrapped in the kind of filler that the prompt agent adds."""
    core = caption(scene, rng, wide=wide, broad=broad)
    wide = wide or broad
    camera = rng.choice(_words(CAMERA_FILLER, wide, 6))
    light = rng.choice(_words(LIGHT_FILLER, wide, 5))
    mood = rng.choice(_words(MOOD_FILLER, wide, 6))
    pieces = [camera, light, core + ".", mood]
    if rng.random() < 0.5:
        pieces = [pieces[0], core + ",", pieces[1].lower(), pieces[3]]
    if wide and rng.random() < 0.3:
        pieces = [core + ".", camera, light, mood]  # the content first, filler after
    return " ".join(pieces)


def captions_for(scene: Scene, rng: random.Random, plain: int = 2, cinematic: int = 2, wide: bool = False,
                 broad: bool = False) -> list[str]:
    return ([caption(scene, rng, wide=wide, broad=broad) for _ in range(plain)]
            + [cinematic_caption(scene, rng, wide=wide, broad=broad) for _ in range(cinematic)])


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@functools.cache
def training_vocabulary() -> frozenset[str]:
    """Every lower-case word the trained models' captions use (`wide` wording: the word lists, the
    filler and the templates' own words). The templates are f-strings, so their words are read off
    captions drawn with a fixed seed; 400 scenes cover every template many times over (a test
    checks that 4,000 add nothing)."""
    lists = [*COLOUR_WORDS.values(), *SHAPE_WORDS.values(), *MOTION_WORDS.values(), *BACKGROUND_WORDS.values(),
             SIZE_WORDS, CAMERA_FILLER, LIGHT_FILLER, MOOD_FILLER]
    found = {w for words in lists for phrase in words for w in _WORD.findall(phrase.lower())}
    rng = random.Random(0)
    for _ in range(400):
        scene = random_scene(rng, two_objects_share=0.5)
        for text in captions_for(scene, rng, wide=True):
            found.update(_WORD.findall(text.lower()))
    return frozenset(found)


def scene_from_slots(slots: dict, rng: random.Random) -> Scene:
    """A scene that matches a caption's slots, with random placement (for I2V first frames)."""
    scene = Scene(background=slots["background"])
    count = len(slots["objects"])
    for i, spec in enumerate(slots["objects"]):
        obj = ShapeObject(colour=spec["colour"], shape=spec["shape"], motion=spec["motion"])
        lane = None if count == 1 or obj.motion in ("up", "down") else ((0.0, 0.5) if i == 0 else (0.5, 1.0))
        _place(obj, rng, lane)
        if count == 2 and obj.motion in ("up", "down"):
            obj.x0 = rng.uniform(0.12, 0.4) if i == 0 else rng.uniform(0.6, 0.88)
        scene.objects.append(obj)
    return scene


def novel_scene(rng: random.Random, colour: str = "pink", shape: str = "star",
                motions: tuple[str, ...] = MOTIONS) -> Scene:
    """One object of a novel colour and/or shape over a random background.

    `colour` and `shape` may each be a novel or a base value ("pink circle",
    "red star"), so a LoRA can be taught either or both.
    """
    if colour not in ALL_COLOURS:
        raise ValueError(f"colour: '{colour}' is not one of {', '.join(ALL_COLOURS)}")
    if shape not in ALL_SHAPES:
        raise ValueError(f"shape: '{shape}' is not one of {', '.join(ALL_SHAPES)}")
    background = rng.choice([b for b in BACKGROUNDS if (colour, b) not in CLASHES])
    obj = ShapeObject(colour=colour, shape=shape, motion=rng.choice(motions))
    _place(obj, rng, None)
    return Scene(background=background, objects=[obj])
