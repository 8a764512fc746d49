"""The shapes world: procedurally rendered clips whose content is known exactly.

A `Scene` holds one or two objects (colour, shape, motion) over a background. It
renders to frames (uint8, T x H x W x 3) and to natural-language captions with
varied wording, so the embedded model can be trained on it and its output checked
by `shotsmith.eval.detector`. The canonical vocabulary follows
shared/docs/SHAPES_WORLD.md.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

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
# shotsmith/eval/data/heldout_captions.jsonl and must not be added here.
COLOUR_WORDS = {
    "red": ["red", "crimson", "red"],
    "orange": ["orange", "tangerine", "orange"],
    "yellow": ["yellow", "lemon yellow", "yellow"],
    "green": ["green", "emerald", "green"],
    "blue": ["blue", "cobalt blue", "blue"],
    "purple": ["purple", "violet", "purple"],
    "white": ["white", "snow-white", "white"],
    "black": ["black", "jet-black", "black"],
}
SHAPE_WORDS = {
    "circle": ["circle", "ball", "disc", "round dot"],
    "square": ["square", "box", "block", "cube"],
    "triangle": ["triangle", "triangle", "wedge", "triangular shape"],
}
MOTION_WORDS = {
    "left": ["moves left", "rolls to the left", "slides leftward", "travels to the left"],
    "right": ["moves right", "rolls to the right", "slides rightward", "travels to the right"],
    "up": ["moves up", "rises", "floats upward", "climbs up"],
    "down": ["moves down", "falls", "sinks downward", "drops down"],
    "still": ["stays still", "sits motionless", "does not move", "rests in place"],
    "grows": ["grows", "gets bigger", "expands", "grows larger"],
    "shrinks": ["shrinks", "gets smaller", "contracts", "shrinks away"],
}
BACKGROUND_WORDS = {
    "sky": ["the blue sky", "a clear sky", "the sky", "a bright daytime sky"],
    "grass": ["green grass", "a grassy lawn", "the grass", "a green meadow"],
    "night": ["a dark night", "the night sky", "a night background", "darkness at night"],
    "sand": ["sand", "a sandy beach", "desert sand", "the sand"],
    "gray studio": ["a gray studio", "a plain grey backdrop", "a gray studio background", "a neutral gray studio"],
}
SIZE_WORDS = ["", "", "small ", "little ", "large ", "big "]

# Cinematic filler of the kind the prompt agent writes, so the model learns to
# find the content inside long prompts.
CAMERA_FILLER = [
    "Static wide shot.", "A locked-off medium shot.", "Slow steady camera, eye level.",
    "Wide establishing shot.", "Close framing, fixed camera.", "Cinematic tracking shot.",
]
LIGHT_FILLER = [
    "Soft even lighting.", "Flat diffuse light with no harsh shadows.", "Bright clean light.",
    "Gentle studio lighting.", "Warm natural light.",
]
MOOD_FILLER = [
    "The mood is calm and playful, minimalist style.", "Clean graphic look, crisp detail, 4K.",
    "Simple and cheerful atmosphere.", "Minimalist animation style with bold colours.",
    "A quiet, orderly mood with smooth motion.", "Vivid colours and a tidy composition.",
]


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


def _place(obj: ShapeObject, rng: random.Random, lane: tuple[float, float] | None) -> None:
    """Choose start position and extents so the object stays mostly in frame."""
    aspect = 1.5  # width / height of the native frame
    obj.size = rng.uniform(0.13, 0.19)
    half_w = obj.size / aspect
    ylo, yhi = lane if lane else (0.0, 1.0)
    if obj.motion in ("left", "right"):
        obj.travel = rng.uniform(0.40, 0.55)
        start = rng.uniform(half_w + 0.02, 1 - half_w - 0.02 - obj.travel)
        obj.x0 = start if obj.motion == "right" else 1 - start
        obj.y0 = rng.uniform(max(ylo, 0) + obj.size + 0.03, min(yhi, 1) - obj.size - 0.03)
    elif obj.motion in ("up", "down"):
        obj.travel = rng.uniform(0.38, 0.48)
        start = rng.uniform(obj.size + 0.03, 1 - obj.size - 0.03 - obj.travel)
        obj.y0 = start if obj.motion == "down" else 1 - start
        obj.x0 = rng.uniform(half_w + 0.05, 1 - half_w - 0.05)
    else:
        if obj.motion in ("grows", "shrinks"):
            obj.scale = rng.uniform(1.9, 2.4)  # linear ratio: area changes by 3.6x-5.8x
            obj.size = rng.uniform(0.10, 0.13)
        big = obj.size * (obj.scale if obj.motion in ("grows", "shrinks") else 1.0)
        obj.x0 = rng.uniform(big / aspect + 0.04, 1 - big / aspect - 0.04)
        obj.y0 = rng.uniform(max(ylo, 0) + min(big, 0.3) + 0.03, min(yhi, 1) - min(big, 0.3) - 0.03)


def random_scene(rng: random.Random, two_objects_share: float = 0.25) -> Scene:
    background = rng.choice(list(BACKGROUNDS))
    count = 2 if rng.random() < two_objects_share else 1
    scene = Scene(background=background)
    used: set[str] = set()
    for i in range(count):
        colour = rng.choice(_allowed_colours(background, used))
        used.add(colour)
        motions = MOTIONS if count == 1 else ("left", "right", "still", "up", "down")
        obj = ShapeObject(colour=colour, shape=rng.choice(SHAPES), motion=rng.choice(motions))
        lane = None if count == 1 else ((0.0, 0.5) if i == 0 else (0.5, 1.0))
        if count == 2 and obj.motion in ("up", "down"):
            lane = None
        _place(obj, rng, lane)
        if count == 2 and obj.motion in ("up", "down"):
            obj.x0 = rng.uniform(0.12, 0.4) if i == 0 else rng.uniform(0.6, 0.88)
        scene.objects.append(obj)
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


def _object_phrase(obj: ShapeObject, rng: random.Random, with_size: bool = True) -> tuple[str, str]:
    size = rng.choice(SIZE_WORDS) if with_size and obj.motion not in ("grows", "shrinks") else ""
    colour_words = COLOUR_WORDS.get(obj.colour) or NOVEL_COLOUR_WORDS[obj.colour]
    shape_words = SHAPE_WORDS.get(obj.shape) or NOVEL_SHAPE_WORDS[obj.shape]
    noun = f"{size}{rng.choice(colour_words)} {rng.choice(shape_words)}"
    return noun, rng.choice(MOTION_WORDS[obj.motion])


def _article(phrase: str) -> str:
    return "an" if phrase[0] in "aeiou" else "a"


def caption(scene: Scene, rng: random.Random) -> str:
    """One plain caption in a random word order."""
    bg = rng.choice(BACKGROUND_WORDS[scene.background])
    parts = []
    for obj in scene.objects:
        noun, verb = _object_phrase(obj, rng)
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
    else:
        (n1, v1), (n2, v2) = parts
        a1, a2 = _article(n1), _article(n2)
        templates = [
            f"{a1} {n1} {v1} and {a2} {n2} {v2} on {bg}",
            f"on {bg}, {a1} {n1} {v1} while {a2} {n2} {v2}",
            f"two shapes over {bg}: {a1} {n1} {v1}, {a2} {n2} {v2}",
            f"{a1} {n1} {v1}; beside it {a2} {n2} {v2}, against {bg}",
        ]
    text = rng.choice(templates)
    return text[0].upper() + text[1:]


def cinematic_caption(scene: Scene, rng: random.Random) -> str:
    """A caption wrapped in the kind of filler that the prompt agent adds."""
    core = caption(scene, rng)
    pieces = [rng.choice(CAMERA_FILLER), rng.choice(LIGHT_FILLER), core + ".", rng.choice(MOOD_FILLER)]
    if rng.random() < 0.5:
        pieces = [pieces[0], core + ",", pieces[1].lower(), pieces[3]]
    return " ".join(pieces)


def captions_for(scene: Scene, rng: random.Random, plain: int = 2, cinematic: int = 2) -> list[str]:
    return [caption(scene, rng) for _ in range(plain)] + [cinematic_caption(scene, rng) for _ in range(cinematic)]


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
