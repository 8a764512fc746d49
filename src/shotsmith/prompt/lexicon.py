"""Word lists the rule backend reads prompts with.

Everything here is plain data plus two small helpers (`words`, `verb_forms`). The
lists are deliberately broad: the rule backend only *detects* which formula slots a
user already filled and never rewrites the user's words, so a false positive costs a
missing filler sentence, not a changed fact.

Two groups:
- slot cues: camera, lighting, mood/style, movement, scene words;
- guard words: colours, shape nouns, direction words and shapes-world backgrounds.
  Filler that would contain one of these is not added where it could contradict
  what the user said (see `rules._conflicts`).
"""

from __future__ import annotations

import re

from . import dictionary as wordnet_words

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-case word tokens; hyphenated words are split ("close-up" -> close, up)."""
    return _WORD.findall(text.lower())


def verb_forms(stem: str) -> set[str]:
    """Regular inflections of an English verb stem: walk -> walks, walked, walking."""
    forms = {stem}
    if stem.endswith("e") and not stem.endswith(("ee", "ye", "oe")):
        forms |= {stem + "s", stem + "d", stem[:-1] + "ing"}
    elif stem.endswith("y") and stem[-2:-1] not in "aeiou":
        forms |= {stem[:-1] + "ies", stem[:-1] + "ied", stem + "ing"}
    elif stem.endswith(("s", "sh", "ch", "x", "z")):
        forms |= {stem + "es", stem + "ed", stem + "ing"}
    else:
        forms |= {stem + "s", stem + "ed", stem + "ing"}
        # consonant-vowel-consonant short stems double the last letter (hop -> hopping)
        if (len(stem) <= 4 and stem[-1] not in "aeiouwxy" and stem[-2] in "aeiou"
                and stem[-3:-2] not in ("a", "e", "i", "o", "u", "")):
            forms |= {stem + stem[-1] + "ing", stem + stem[-1] + "ed"}
    return forms


# --- camera language ---------------------------------------------------------

CAMERA_PATTERNS = [
    r"(?:extreme |medium |)close[- ]?ups?",
    r"(?:medium|mid|wide|long|full|establishing|tracking|aerial|drone|overhead|crane|dolly|static|"
    r"two|cowboy|master|insert|reaction|panning|handheld|steadicam|pov|point[- ]of[- ]view|"
    r"over[- ]the[- ]shoulder|low[- ]angle|high[- ]angle|dutch[- ]angle|eye[- ]level|wide[- ]angle)"
    r"[- ]shots?",
    r"mid[- ]shot", r"wide[- ]angle", r"low[- ]angle", r"high[- ]angle", r"eye[- ]level",
    r"bird'?s[- ]eye(?: view)?", r"worm'?s[- ]eye(?: view)?", r"top[- ]down", r"overhead view",
    r"aerial(?: view)?", r"drone", r"tracking", r"dolly(?:[- ](?:in|out|zoom))?", r"pan(?:s|ned|ning)",
    r"pan (?:across|left|right|over)", r"tilt(?:s|ed|ing)? (?:up|down)", r"zoom(?:s|ed|ing)?(?: in| out)?",
    r"push[- ]in", r"pull[- ](?:back|out)", r"crane", r"orbit(?:s|ing)? (?:around|the)", r"handheld",
    r"steadicam", r"pov", r"point of view", r"first[- ]person", r"over[- ]the[- ]shoulder",
    r"the camera", r"camera", r"lens", r"macro", r"telephoto", r"fish[- ]?eye", r"framing",
    r"time[- ]?lapse", r"slow[- ]motion", r"shots?", r"upward movement", r"downward movement",
    r"panoram(?:a|ic)", r"close framing", r"locked[- ]off",
]

# --- lighting ------------------------------------------------------------------

LIGHTING_PATTERNS = [
    r"light(?:s|ing|ed)?", r"lit", r"(?:sun|day|moon|star|candle|fire|torch|lamp|back|rim|key|neon|"
    r"flood|spot|street|window)light(?:s|ing)?", r"backlit", r"sunlit", r"moonlit", r"candlelit", r"starlit",
    r"sunshine", r"sunbeams?", r"sunrise", r"sunset", r"sundown", r"dawn", r"dusk", r"twilight",
    r"golden hour", r"blue hour", r"noon", r"midday", r"midnight", r"night(?:time)?", r"evening",
    r"morning", r"glow(?:s|ing)?", r"illuminat\w*", r"neon", r"shadows?", r"shadowy", r"silhouett\w*",
    r"chiaroscuro", r"bright(?:ly|ness)?", r"dim(?:ly)?", r"dark(?:ness)?", r"luminous", r"radiant",
    r"the sun", r"sun", r"sunny", r"moon", r"stars", r"starry", r"overcast", r"low[- ]key", r"high[- ]key",
    r"volumetric", r"god rays", r"ambient",
]

# Time-of-day words: filler that names a time of day is not added to a prompt that
# already names one (a "sunny" filler on a "night" prompt would contradict it).
TIME_WORDS = {
    "dawn", "sunrise", "morning", "noon", "midday", "afternoon", "sunset", "dusk", "twilight",
    "evening", "night", "nighttime", "midnight", "daylight", "daytime", "sunlight", "sunny",
    "moonlight", "moonlit", "sunlit", "starlight", "starry", "sun", "moon",
}

# --- mood, atmosphere and style --------------------------------------------------

STYLE_PATTERNS = [
    r"[\w-]+(?: [\w-]+)? style", r"style[ds]?", r"stylised", r"stylized", r"aesthetic", r"cinematic",
    r"film(?:ic)?", r"movie", r"photo[- ]?real\w*", r"hyper[- ]?real\w*", r"realistic", r"realism",
    r"depiction", r"documentary", r"anime", r"manga", r"cartoon", r"pixar", r"disney", r"ghibli",
    r"3d", r"2d", r"cgi", r"animation", r"animated", r"render(?:ed|ing)?", r"watercolou?r", r"illustrat\w*",
    r"storybook", r"noir", r"vintage", r"retro", r"cyberpunk", r"steampunk", r"sci[- ]?fi", r"fantasy",
    r"hollywood", r"blockbuster", r"4k", r"8k", r"hd", r"high[- ]definition", r"ultra[- ]detailed",
    r"attention to detail", r"film grain", r"16mm", r"35mm", r"8mm", r"oil painting", r"pixel art",
    r"claymation", r"stop[- ]motion", r"ukiyo[- ]e",
]

# The nouns that name a mood come first: their phrase is the one reported.
MOOD_NOUN_PATTERNS = [r"atmospheres?", r"mood", r"vibes?", r"ambien[cs]e", r"tone"]
MOOD_PATTERNS = [
    r"atmospheric", r"moody", r"feel(?:ing)?", r"dreamy", r"dreamlike", r"cozy", r"cosy", r"dramatic", r"tense", r"serene", r"peaceful", r"tranquil",
    r"eerie", r"mysterious", r"melanchol\w*", r"nostalgic", r"ominous", r"solemn", r"epic", r"gloomy",
    r"somber", r"sombre", r"romantic", r"whimsical", r"majestic", r"wondrous", r"joyful", r"cheerful",
    r"lively", r"haunting", r"intimate", r"uplifting", r"heartwarming", r"heart-warming", r"suspenseful",
    r"chaotic", r"fierce", r"playful",
]

# Feelings. A preset's mood words ("cheerful") are not added to a prompt that
# already states a feeling ("sadly", "frightened"); only its look is added.
AFFECT_WORDS = {
    "sad", "sadly", "sadness", "fear", "fearful", "frightened", "scared", "afraid", "terrified", "shock",
    "shocked", "joy", "joyful", "happy", "happily", "angry", "anger", "furious", "crying", "tears",
    "lonely", "grief", "tense", "calm", "peaceful", "cheerful", "playful", "melancholic", "melancholy",
    "gloomy", "wistful", "nostalgic", "tender", "awe", "mysterious", "intense", "epic", "warm", "cozy",
    "dramatic", "serene", "eerie", "ominous", "solemn", "fierce", "mischievous", "innocent", "romantic",
    "anxious", "excited", "heart", "warming", "electric", "moody", "quiet", "observational", "whimsical",
    "cry", "cries", "cried", "weeps", "weeping", "sobs", "sobbing", "smiles", "smiling", "laughs",
    "laughing", "screams", "screaming", "frowns", "frowning", "grieving", "mourning", "despair", "lonely",
    "upset", "worried", "nervous", "proud", "delighted", "heartbroken", "miserable", "bored", "hopeful",
}
# Short words that show a text is English (the rule backend reads English only).
ENGLISH_HINTS = {
    "a", "an", "the", "in", "on", "of", "with", "and", "to", "at", "is", "are", "its", "his", "her",
    "their", "from", "by", "under", "over", "into", "as", "while", "through", "across",
}

# --- movement ----------------------------------------------------------------------

MOTION_STEMS = """
move walk run jog sprint dash rush race hurry stroll wander march stride tiptoe climb crawl creep
jump leap hop skip bounce dive fall drop sink descend rise ascend lift raise float fly soar glide
hover flutter flap drift swim paddle surf sail ride drive roll slide slip skate ski spin twirl whirl
rotate turn twist swirl swing sway wave wag shake tremble shiver nod blink wink smile laugh cry weep
sing dance play fight punch kick throw catch chase follow flee escape charge attack strike eat drink
chew bite sip cook stir pour chop draw paint write read type knit sew dig push pull carry grab reach
touch hug kiss embrace clap gaze stare look glance peer breathe blow flow stream splash ripple spread
burst explode erupt crash collapse shatter break melt freeze burn flicker flash twinkle sparkle
shimmer glitter pulse grow shrink expand contract swell bloom blossom unfold open transform morph
change shift emerge appear vanish disappear fade dissolve gather scatter cast summon conjure bustle
travel pass cross enter exit leave arrive approach return circle head dwindle wobble tumble topple
sweep steer gallop trot prance graze hunt pounce stalk scurry slither wriggle squirm stretch yawn
wake sleep nibble peck sniff lick scratch tap knock wipe wash brush comb fold toss juggle kneel bow
salute greet hurl launch fire shoot swoop dart zip zoom speed accelerate skid loop coil curl sprout
crumble dissolve evaporate rain snow pour drip trickle gush cascade billow waft swirl glow spark thunder
roar howl bark growl
""".split()

IRREGULAR_MOTION = """
ran flew flown fell fallen rose risen swam swum sank sunk drove driven rode ridden spun swung shook
shaken blew blown ate eaten drank drunk drew drawn wrote written grew grown became come comes coming
came went goes going gone threw thrown caught fought struck broke broken froze frozen leapt dove
sprang slid hid hidden burst split bent dug wept shone swept sped
""".split()

# Forms that in a video prompt are nearly always nouns (or belong to another slot:
# "glow" is lighting, "zoom" is camera language, "circle" a shapes-world shape).
NOUN_FORMS = {
    "painting", "type", "types", "fire", "fires", "read", "rain", "snow", "cast", "head", "heads",
    "change", "changes", "shift", "shifts", "pass", "blossom", "blossoms", "drink", "drinks", "catch",
    "look", "play", "wave", "waves", "crash", "flash", "spark", "sparks", "glow", "glows", "glowed",
    "glowing", "drop", "drops", "circle", "circles", "cross", "ride", "drive", "race", "dash", "return",
    "reach", "speed", "cry", "bow", "comb", "brush", "wash", "tap", "fold", "loop", "coil", "curl",
    "lift", "stream", "streams", "sweep", "splash", "ripple", "ripples", "pulse", "cascade", "sprout",
    "knock", "turn", "smile", "laugh", "touch", "break", "swell", "stretch", "launch", "shoot", "zip",
    "zoom", "zooms", "zoomed", "zooming", "escape", "approach", "hunt", "charge", "attack", "strike",
    "swing", "swings", "bloom", "dive", "open", "paint", "cook", "stalk", "wake", "dart", "scratch",
    "trickle", "leaves", "exit", "march", "bustle",
}


def _motion_words() -> frozenset[str]:
    found: set[str] = set(IRREGULAR_MOTION)
    for stem in MOTION_STEMS:
        found |= verb_forms(stem)
    return frozenset(found - NOUN_FORMS)


MOTION_WORDS: frozenset[str] = _motion_words()

# Multi-word movement phrases, including the shapes world's stillness and size changes.
MOTION_PHRASES = [
    r"come(?:s)? to life", r"came to life", r"coming to life", r"face(?:s)? off", r"facing off",
    r"stays? (?:still|put|in place)", r"sits? motionless", r"does not move", r"doesn't move",
    r"holds? (?:its|their|his|her) (?:position|ground|place)", r"remains? (?:still|stationary|motionless)",
    r"rests? in place", r"(?:gets?|getting|becomes?|becoming|grows?|growing) (?:bigger|smaller|larger|huge|tiny)",
    r"heads? (?:left|right|up|down|off|away|toward|towards)", r"(?:takes?|taking) off", r"in motion",
    r"rising and falling", r"turns? (?:around|away|toward|towards|to)", r"looks? (?:up|down|around|at|ahead|away|back|out)",
    r"spins? around", r"plays?(?: the| a)? \w+", r"waves? (?:goodbye|hello|at|to)", r"(?:a |the )?wave crash\w*",
    r"drops? (?:down|off|to)", r"lifts? (?:off|up)", r"blows? (?:through|across|over|away)",
]

# Stillness/position words and directions the shapes world uses.
DIRECTION_WORDS = {
    "left", "right", "up", "down", "upward", "upwards", "downward", "downwards", "leftward", "leftwards",
    "rightward", "rightwards", "still", "stationary", "motionless", "bigger", "smaller", "larger", "huge",
    "tiny", "apart", "together", "across", "toward", "towards", "away", "forward", "forwards", "backward",
    "backwards", "sideways", "around", "overhead",
}

# Verbs that end a subject noun phrase without being movement.
VERB_STOPS = {
    "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "does", "do", "did", "can",
    "could", "will", "would", "may", "might", "must", "should", "sits", "sit", "sitting", "stands",
    "stand", "standing", "lies", "lie", "lying", "rests", "resting", "waits", "waiting", "wears",
    "wearing", "holds", "holding", "causes", "makes", "seems", "remains", "stays", "keeps", "gets",
    "becomes", "looks", "faces", "appears", "takes", "shows", "watches", "watching", "plays", "turns",
    "runs", "walks", "waves", "heads", "changes", "shifts", "falls", "streams", "casts", "lifts",
    "catches", "drinks", "reads", "poses", "posing", "filled", "covered", "dressed", "surrounded",
    "wrapped", "decorated", "made", "lined", "framed", "lit", "bathed", "set", "placed", "who",
    "which", "that", "while", "as", "then", "when",
}

# --- scene -------------------------------------------------------------------------

SCENE_NOUNS = """
background backgrounds backdrop setting scenery landscape landscapes surroundings environment world
kitchen room bedroom bathroom office classroom library studio stage hall corridor hallway house home
apartment cabin castle palace temple church cathedral tower village town city cityscape skyline
street streets road alley avenue highway bridge station market shop cafe restaurant bar park garden
yard backyard playground field fields meadow farm grass lawn forest woods jungle rainforest bamboo
mountain mountains hill hills valley cliff cliffs canyon cave desert dune dunes sand beach shore coast
ocean sea lake river waterfall pond pool underwater island iceberg glacier tundra sky skies space
galaxy planet battlefield arena ground floor rooftop rooftops roof skyscrapers skyscraper countryside
wilderness savanna savannah prairie swamp marsh harbor harbour port dock pier airport subway metro
mall warehouse factory laboratory lab spaceship spacecraft cockpit garage courtyard plaza square
universe nebula horizon seawater waves shoreline seabed reef riverbank lakeside hillside mountainside
valley canal harbour balcony terrace attic basement cellar dungeon throne arena stadium theater theatre
museum gallery hospital school campus train bus car interior exterior outdoors indoors outside inside
snowfield grassland wasteland ruins megacity metropolis neighborhood neighbourhood suburb village
snow rain storm fog mist water ice outdoors
""".split()

# Generic words that name a background without saying what it is.
GENERIC_SCENE = {"background", "backgrounds", "setting", "scene", "frame", "surroundings", "environment"}

# --- guard words: colours, shapes, shapes-world backgrounds ------------------------

COLOUR_WORDS = {
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "white", "black", "gray", "grey",
    "pink", "brown", "cyan", "magenta", "teal", "turquoise", "crimson", "scarlet", "maroon", "tangerine",
    "amber", "gold", "golden", "silver", "lemon", "canary", "emerald", "jade", "lime", "olive", "cobalt",
    "navy", "azure", "sapphire", "indigo", "lavender", "lilac", "ivory", "cream", "beige", "coal",
    "inky", "ebony", "charcoal", "ruby", "cherry", "copper", "bronze", "aqua", "mint", "rose", "peach",
    "coral", "vermilion", "ochre", "khaki", "tan", "fuchsia", "blond", "blonde", "auburn", "pastel",
}

SHAPE_NOUNS = {
    "circle", "circles", "circular", "ball", "balls", "disc", "discs", "disk", "disks", "orb", "orbs",
    "sphere", "spheres", "dot", "dots", "square", "squares", "squared", "box", "boxes", "block",
    "blocks", "cube", "cubes", "crate", "crates", "tile", "tiles", "triangle", "triangles",
    "triangular", "pyramid", "pyramids", "wedge", "wedges", "shape", "shapes", "rectangle",
    "rectangles", "oval", "ovals", "hexagon", "diamond", "star", "stars", "cone", "cones", "brick", "bricks",
    "bubble", "bubbles",
}

# The shapes world's backgrounds and the light words that point at one of them.
WORLD_BACKGROUND_WORDS = {
    "sky", "skies", "grass", "grassy", "lawn", "meadow", "night", "sand", "sandy", "beach", "desert",
    "dunes", "studio", "day", "daytime", "sun", "sunny", "moon", "dark", "darkness", "bright",
    "daylight", "sunlight", "moonlight", "starless", "starry", "field", "water", "snow", "neon",
}


# --- the embedded models' own words -------------------------------------------------
# The embedded shapes-world models read a short caption window (their folder's
# text_limit) and know one vocabulary exactly: shotsmith.train.world's training words.
# `shapes_caption` restates what a shapes-world prompt asks for in those words (the
# first, most frequent wording of each slot), so the agent can add it next to the
# user's text. The synonym lists below are ordinary English, not any held-out set; the
# words docs/training.md names as held-out examples (scarlet, orb, crate, pyramid,
# ascends, dwindles, turf, dunes) are left out so that held-out scores stay honest.

CANON_COLOURS: dict[str, list[str]] = {
    "red": ["red", "crimson", "ruby", "cherry", "tomato", "vermilion", "blood red", "brick red"],
    "orange": ["orange", "tangerine", "amber", "apricot", "pumpkin", "carrot", "peach", "rust"],
    "yellow": ["yellow", "lemon", "golden", "gold", "canary", "mustard", "sunflower", "banana", "sunny yellow"],
    "green": ["green", "emerald", "jade", "lime", "olive", "leaf green", "forest green", "mint"],
    "blue": ["blue", "cobalt", "navy", "sapphire", "azure", "royal blue", "indigo", "ultramarine", "cyan",
             "turquoise", "teal"],
    "purple": ["purple", "violet", "lilac", "lavender", "plum", "mauve", "magenta", "grape", "amethyst"],
    "white": ["white", "snow-white", "snowy", "ivory", "pearl", "milky", "chalk", "cream", "pearl white"],
    "black": ["black", "jet-black", "jet black", "ebony", "coal", "coal black", "inky", "pitch black", "charcoal",
              "onyx"],
}
CANON_SHAPES: dict[str, list[str]] = {
    "circle": ["circle", "circles", "ball", "balls", "disc", "discs", "disk", "disks", "dot", "dots",
               "sphere", "spheres", "round dot", "round shape", "circular shape", "ring", "bubble", "coin"],
    "square": ["square", "squares", "box", "boxes", "block", "blocks", "cube", "cubes", "tile",
               "tiles", "square shape", "boxy shape", "brick", "bricks"],
    "triangle": ["triangle", "triangles", "wedge", "wedges", "triangular shape", "triangular block",
                 "three-sided shape", "arrowhead", "cone"],
}
_V = r"(?:s|es|ed|ing)?"
CANON_MOTIONS: dict[str, list[str]] = {
    "left": [r"(?:to|toward|towards) the left", r"leftwards?", r"westwards?", r"west", r"left"],
    "right": [r"(?:to|toward|towards) the right", r"rightwards?", r"eastwards?", r"east", r"right"],
    "up": [r"upwards?", r"up", r"ris(?:e|es|ing)", r"rose", r"climb" + _V, r"soar" + _V,
           r"lift" + _V, r"levitat(?:e|es|ed|ing)", r"float" + _V + r" up", r"skyward"],
    "down": [r"downwards?", r"down", r"fall(?:s|ing)?", r"fell", r"descend" + _V, r"sink" + _V, r"sank",
             r"drop(?:s|ped|ping)?", r"plung(?:e|es|ed|ing)", r"dive" + _V, r"diving", r"tumbl(?:e|es|ed|ing)"],
    "still": [r"still", r"stationary", r"motionless", r"(?:does not|doesn't|do not|don't) move",
              r"not moving", r"unmoving", r"stays? put", r"in place", r"(?:holds?|keeps?) (?:its|their) "
              r"(?:position|place|spot)", r"at rest", r"frozen", r"static", r"immobile", r"rests?"],
    "grows": [r"grow" + _V, r"grew", r"expand" + _V, r"enlarg(?:e|es|ed|ing)", r"swell" + _V, r"inflat(?:e|es|ed|ing)",
              r"(?:gets?|getting|becomes?|becoming|turns?) (?:bigger|larger|huge|big|large)",
              r"bigger", r"larger", r"scal(?:e|es|ed|ing) up", r"balloon" + _V],
    "shrinks": [r"shrink" + _V, r"shrank", r"shrunk", r"contract" + _V,
                r"deflat(?:e|es|ed|ing)", r"(?:gets?|getting|becomes?|becoming|turns?) (?:smaller|tiny|tinier|little)",
                r"smaller", r"tinier", r"scal(?:e|es|ed|ing) down", r"diminish" + _V],
}
CANON_BACKGROUNDS: dict[str, list[str]] = {
    "night": [r"night(?:[- ]?time)?(?: sky)?", r"darkness", r"midnight", r"starry sky", r"starless sky",
              r"dark sky", r"evening sky", r"(?:dark|black) (?:background|backdrop)", r"moonlit"],
    "sky": [r"(?:blue |clear |daytime |open |sunny |bright |pale |light blue |cloudless |summer )*sk(?:y|ies)",
            r"daylight sky", r"heavens", r"air"],
    "grass": [r"grass(?:land)?", r"grassy(?: \w+)?", r"lawn", r"meadow", r"pasture", r"field", r"park"],
    "sand": [r"sand(?:y)?(?: \w+)?", r"beach", r"desert", r"shore"],
    "gray studio": [r"(?:gray|grey)(?: studio| backdrop| background| wall| set| void| room)?", r"studio",
                    r"neutral (?:backdrop|background)", r"plain (?:backdrop|background)", r"seamless"],
}
# The words each value is trained with most often (world.py's first wording).
CANON_WORDS = {
    "shape": {"circle": "circle", "square": "square", "triangle": "triangle"},
    "motion": {"left": "moves left", "right": "moves right", "up": "moves up", "down": "moves down",
               "still": "stays still", "grows": "grows", "shrinks": "shrinks"},
    "background": {"sky": "the blue sky", "grass": "green grass", "night": "a dark night", "sand": "sand",
                   "gray studio": "a gray studio"},
}
# Longest phrase first; for phrases of one length, this order. "left"/"right" before
# any shape is named are not read as a motion ("right away", "to the left of").
_KIND_ORDER = {"background": 0, "motion": 1, "shape": 2, "colour": 3}


def _phrase_re(p: str) -> str:
    return p.replace(" ", r"[\s-]+")


def _canon_table() -> list[tuple[str, str, re.Pattern]]:
    table = []
    for kind, source in (("colour", CANON_COLOURS), ("shape", CANON_SHAPES)):
        for value, phrases in source.items():
            table += [(kind, value, re.escape(p).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]+"))
                      for p in phrases]
    for kind, source in (("motion", CANON_MOTIONS), ("background", CANON_BACKGROUNDS)):
        for value, patterns in source.items():
            table += [(kind, value, _phrase_re(p)) for p in patterns]
    return [(k, v, re.compile(r"(?<![\w-])" + p + r"(?![\w-])")) for k, v, p in table]


_CANON_TABLE = _canon_table()


def phrase_spans(text: str, table, rank: dict[str, int]) -> list[tuple[int, int, str, str]]:
    """Non-overlapping (start, end, kind, value) phrases of `table` ((kind, value, regex) rows) in
    `text`: the longest match wins an overlap, then the kind `rank` puts first, then the earlier
    one; returned in text order. The shapes-world readers (this module, eval/adherence) share it."""
    t = text.lower().replace("’", "'")  # same length: the spans index `text` too
    found = []
    for kind, value, rx in table:
        for m in rx.finditer(t):
            found.append((m.start(), m.end(), kind, value))
    found.sort(key=lambda f: (-(f[1] - f[0]), rank[f[2]], f[0]))
    taken: list[tuple[int, int, str, str]] = []
    for s, e, kind, value in found:
        if not any(s < te and ts < e for ts, te, _, _ in taken):
            taken.append((s, e, kind, value))
    return sorted(taken)


def phrase_tokens(text: str, table, rank: dict[str, int]) -> list[tuple[int, str, str]]:
    """(start, kind, value) of `phrase_spans`."""
    return [(s, kind, value) for s, _, kind, value in phrase_spans(text, table, rank)]


def canon_spans(text: str, *, dictionary: bool = True) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, value) of every shapes-world phrase in `text`: the vocabulary above first,
    then (`dictionary`), for the words it does not know, the WordNet-built dictionary ("crate" ->
    square)."""
    taken = phrase_spans(text, _CANON_TABLE, _KIND_ORDER)
    return sorted(taken + wordnet_words.word_spans(text, taken)) if dictionary else taken


def canon_tokens(text: str) -> list[tuple[int, str, str]]:
    """(start, kind, value) of every shapes-world phrase in `text` (`canon_spans`)."""
    return [(s, kind, value) for s, _, kind, value in canon_spans(text)]


def indefinite_article(word: str) -> str:
    """ "an" before the model's words that start with a vowel ("an orange"), else "a"."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def shapes_slots(text: str) -> dict | None:
    """The shapes-world slots a prompt states, read with the embedded vocabulary above:
    {"background": value|None, "objects": [{"colour", "shape", "motion"}]} or None when
    the text names no coloured shape."""
    tokens = canon_tokens(text)
    objects: list[dict] = []
    colour = None
    early_motion = None
    backgrounds: list[str] = []
    for _, kind, value in tokens:
        if kind == "colour":
            colour = value
        elif kind == "shape":
            same = next((o for o in objects if o["shape"] == value and colour in (None, o["colour"])), None)
            if same is None:
                objects.append({"colour": colour, "shape": value, "motion": None})
            colour = None
        elif kind == "motion":
            if objects and objects[-1]["motion"] is None:
                objects[-1]["motion"] = value
            elif not objects and early_motion is None and value not in ("left", "right"):
                early_motion = value
        else:
            backgrounds.append(value)
            colour = None  # a colour right before a background is the background's ("green turf")
    if not objects or all(o["colour"] is None for o in objects):
        return None
    if early_motion and objects[0]["motion"] is None:
        objects[0]["motion"] = early_motion
    if len(objects) == 2 and re.search(r"\bboth\b", text.lower()):
        known = [o["motion"] for o in objects if o["motion"]]
        if len(known) == 1:
            for o in objects:
                o["motion"] = known[0]
    background = max(set(backgrounds), key=backgrounds.count) if backgrounds else None
    return {"background": background, "objects": objects[:2]}


def shapes_caption(text: str) -> str | None:
    """A shapes-world prompt restated in the embedded models' training words ("a red circle
    moves right on green grass"); None when the text is not a shapes-world prompt.
    Slots the user left open stay open (no colour, motion or background is invented)."""
    slots = shapes_slots(text)
    if slots is None:
        return None
    parts = []
    for o in slots["objects"]:
        noun = " ".join(w for w in (o["colour"], CANON_WORDS["shape"][o["shape"]]) if w)
        article = indefinite_article(noun)
        motion = CANON_WORDS["motion"].get(o["motion"] or "", "")
        parts.append(f"{article} {noun} {motion}".strip())
    sentence = " and ".join(parts)
    if slots["background"]:
        sentence += f" on {CANON_WORDS['background'][slots['background']]}"
    return sentence[0].upper() + sentence[1:] + "."


# Words that say how many objects there are. The slots hold one object per shape noun, so a
# text that counts ("two red balls", "a pair of cubes") is not restated: its count would be lost.
COUNT_WORDS = {"two", "three", "four", "five", "several", "many", "pair", "couple", "both", "twin", "twins",
               "multiple", "some", "few", "2", "3", "4", "5"}


def complete_shapes_caption(text: str) -> str | None:
    """`shapes_caption(text)` only when it says everything the text asks for: every object's colour,
    shape and motion and the background were read, and no count or plural the slots cannot hold.
    None otherwise (the text is then best sent as written)."""
    slots = shapes_slots(text)
    if slots is None or slots["background"] is None:
        return None
    if any(o["colour"] is None or o["motion"] is None for o in slots["objects"]):
        return None
    said = set(words(text))
    plural = {p for phrases in CANON_SHAPES.values() for p in phrases if " " not in p and p.endswith("s")}
    if said & COUNT_WORDS and len(slots["objects"]) < 2 or said & plural:
        return None
    spans = canon_spans(text)
    if any(kind == "shape" and wordnet_words.is_plural_noun(text[s:e]) for s, e, kind, _ in spans):
        return None  # "amber crates": a count the slots cannot hold
    tokens = [(s, kind, value) for s, _, kind, value in spans]
    first_object = next((i for i, (_, kind, _) in enumerate(tokens) if kind in ("colour", "shape")), len(tokens))
    # "left"/"right" before any object is not a motion ("right away"), and a colour right before a
    # background is the background's ("a wide green lawn")
    kinds = [kind for i, (_, kind, value) in enumerate(tokens)
             if not (kind == "motion" and value in ("left", "right") and i < first_object)
             and not (kind == "colour" and i + 1 < len(tokens) and tokens[i + 1][1] == "background")]
    # a run of one kind is one phrase ("carrot orange", "soars upward"); a shape is one per object
    kinds = [kind for i, kind in enumerate(kinds) if i == 0 or kind == "shape" or kind != kinds[i - 1]]
    if any(kinds.count(kind) > len(slots["objects"]) for kind in ("shape", "colour", "motion")):
        # a shape named twice for one object, or an object the reader did not see whole ("a bright
        # green [unknown shape] rises as a scarlet sphere heads left": two motions, one object read)
        return None
    return shapes_caption(text)


# The bare words `in_training_words` puts in place of a background phrase (the text keeps its own
# article: "over the heavens" -> "over the sky").
_BARE_BACKGROUNDS = {"sky": "sky", "grass": "grass", "night": "night", "sand": "sand", "gray studio": "gray studio"}
_DIRECTION_ONLY = re.compile(r"(?:left|right|west|east|up|down)(?:wards?)?|skyward|(?:to|toward|towards) the (?:left|right)")


def _own_words(kind: str, value: str, said: str) -> str | None:
    """The model's word for one phrase the reader found (`said`, as the user wrote it), or None
    where a plain swap would break the sentence (a motion verb not in its -s form)."""
    low = said.lower()
    if kind == "colour":
        return value
    if kind == "shape":
        phrases = CANON_SHAPES[value]
        plural = (low.endswith("s") and (low[:-1] in phrases or low[:-2] in phrases)
                  or wordnet_words.is_plural_noun(low))
        return CANON_WORDS["shape"][value] + ("s" if plural else "")
    if kind == "background":
        return _BARE_BACKGROUNDS[value]
    if _DIRECTION_ONLY.fullmatch(low):
        return {"skyward": "up"}.get(low, value if value in ("left", "right", "up", "down") else None)
    # "plunges" -> "moves down", "balloons" -> "grows"; an -ing verb only with its "is"/"are",
    # which `_swap_span` takes in
    if re.fullmatch(r"[a-z]+(?:s|ing)", low):
        return CANON_WORDS["motion"][value]
    return None


def _plural_verb(phrase: str) -> str:
    """ "moves down" -> "move down", "stays still" -> "stay still", "grows" -> "grow"."""
    first, _, rest = phrase.partition(" ")
    return " ".join(w for w in (first[:-1], rest) if w)


# What a swapped phrase makes redundant right after it: "canary yellow" -> "yellow" (not "yellow
# yellow"), "soars upward" -> "moves up" (not "moves up upward"), "swells up" -> "grows".
_AFTER_SWAP = {"up": r"up(?:wards?)?|skyward", "down": r"down(?:wards?)?", "left": r"left(?:wards?)?",
               "right": r"right(?:wards?)?", "grow": r"up|bigger|larger", "shrink": r"down|away|smaller"}
_MASS_BACKGROUNDS = {"grass", "sand"}


def _swap_span(text: str, start: int, end: int, kind: str, own: str) -> tuple[int, int, str] | None:
    """(start, end, words) of a swap to `own`: the phrase, plus the words right after it that the
    swap already says, for a bare mass noun ("grass", "sand") an "a"/"an" before it, and for an -ing
    verb its "is"/"are" ("is sinking" -> "moves down", "are sinking" -> "move down"); None for an
    -ing verb without one ("a sinking ball" stays)."""
    if kind == "motion" and text[start:end].lower().endswith("ing"):
        auxiliary = re.search(r"\b(is|are)\s+$", text[:start], re.IGNORECASE)
        if auxiliary is None:
            return None
        start = auxiliary.start()
        if auxiliary.group(1).lower() == "are":
            own = _plural_verb(own)
    if kind == "colour":
        repeat = re.match(rf"[\s-]+{re.escape(own)}\b", text[end:], re.IGNORECASE)
    elif kind == "motion" and (said_after := _AFTER_SWAP.get(own.split()[-1].removesuffix("s"))):
        repeat = re.match(rf"\s+(?:{said_after})\b", text[end:], re.IGNORECASE)
    elif kind == "background":
        # "a field of grass" -> "grass", not "grass of grass"
        repeat = re.match(r"\s+of\s+(?:the\s+)?([\w-]+(?:\s+[\w-]+)?)", text[end:], re.IGNORECASE)
        said = [v for _, _, k, v in canon_spans(repeat.group(1)) if k == "background"] if repeat else []
        if not said or _BARE_BACKGROUNDS[said[0]] != own:
            repeat = None
    else:
        repeat = None
    if repeat:
        end += repeat.end()
    if kind == "background" and own in _MASS_BACKGROUNDS:
        article = re.search(r"\ban?\s+$", text[:start], re.IGNORECASE)
        if article:
            start = article.start()
    return start, end, own


def _fix_article(before: str, word: str) -> str:
    """`before` with a trailing "a"/"an" matched to the `word` now after it."""
    article = re.search(r"\b(an?)(\s+)$", before, re.IGNORECASE)
    if not article:
        return before
    right = indefinite_article(word)
    if article.group(1)[0].isupper():
        right = right.capitalize()
    return before[:article.start(1)] + right + article.group(2)


_COUNTED = re.compile(r"\b(?:two|three|four|five|several|many|both|2|3|4|5)\s+(?:[\w-]+\s+){0,2}$", re.IGNORECASE)


def in_training_words(text: str, vocabulary: frozenset[str]) -> str:
    """`text` with each colour, shape, background and motion phrase that uses a word outside
    `vocabulary` (the model's training words) swapped for the model's own word for it; everything
    else, and any phrase the reader does not know, stays as written. The words around a swap are
    kept grammatical: no word said twice, "a"/"an" matched, no article before "grass" or "sand"."""
    out, last = [], 0
    # the dictionary's words only in a text about a coloured shape: in any other prompt "flags",
    # "arrows" or "skyline" are what they say, not the shapes world's square, triangle and sky
    for s, e, kind, value in canon_spans(text, dictionary=shapes_slots(text) is not None):
        if s < last:
            continue  # already replaced as part of the previous swap
        said = text[s:e]
        if set(words(said)) <= vocabulary:
            continue
        own = _own_words(kind, value, said)
        if own is None:
            continue
        if kind == "shape" and not own.endswith("s") and _COUNTED.search(text[:s]):
            own += "s"  # "two sable dice" -> "two black squares" (a plural the noun does not show)
        span = _swap_span(text, s, e, kind, own)
        if span is None:
            continue
        s, e, own = span
        out += [_fix_article(text[last:s], own), own]
        last = e
    return "".join(out) + text[last:]

