"""Chinese ideas: read the shapes world in Chinese and write it in English.

The models read English. For the embedded shapes world the rule backend can translate a
Chinese idea exactly: every colour, shape, motion, background and count has a small
Chinese vocabulary here (with everyday synonyms: 红/红色/大红, 球/圆/圆形, 往右/向右/朝右,
天空/蓝天 ...). `read(text)` finds those words (longest match first), ties colours and
motions to the shape they belong to, and writes an English sentence in plain words
("An orange ball slowly drifts to the left against the sky."), plus the same idea in the
embedded models' training words ("An orange square moves left on the blue sky.").

What it cannot translate it says: `ZhReading.untranslated` holds the Chinese words left
over, and the agent then keeps the user's text as written and adds a note.

`facts(text)` lists the facts of a Chinese idea with their English words, for the LLM
backend's check that its translation kept them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import lexicon as lx

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    """Mostly Chinese characters among the letters."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    return sum(bool(_CJK.match(c)) for c in letters) / len(letters) >= 0.5


# --- the shapes world's vocabulary ------------------------------------------------------
# value -> Chinese words. English words for each value follow (the model's canonical ones
# are in lexicon.CANON_WORDS).

COLOURS: dict[str, list[str]] = {
    "red": ["红色", "红", "大红", "鲜红", "朱红", "深红", "血红", "火红", "赤红", "通红"],
    "orange": ["橙色", "橙", "橘色", "橘黄色", "橘黄", "橙黄色", "橙黄", "橘", "琥珀色", "杏色", "橘红色"],
    "yellow": ["黄色", "黄", "金黄色", "金黄", "金色", "明黄", "柠檬黄", "鹅黄", "亮黄"],
    "green": ["绿色", "绿", "翠绿色", "翠绿", "草绿", "亮绿色", "亮绿", "深绿", "墨绿", "嫩绿", "碧绿", "青绿"],
    "blue": ["蓝色", "蓝", "深蓝色", "深蓝", "宝蓝", "湛蓝", "天蓝色", "天蓝", "蔚蓝", "海蓝", "靛蓝", "藏青色", "浅蓝"],
    "purple": ["紫色", "紫", "紫罗兰色", "紫罗兰", "淡紫", "深紫", "葡萄紫", "紫红色"],
    "white": ["白色", "白", "纯白", "雪白", "乳白", "洁白", "米白"],
    "black": ["黑色", "黑", "乌黑", "纯黑", "漆黑", "墨黑", "黝黑"],
}
# shape value -> {Chinese word: English noun}
SHAPES: dict[str, dict[str, str]] = {
    "circle": {"圆形": "circle", "圆圈": "circle", "圆球": "ball", "圆盘": "disc", "圆片": "disc", "圆点": "dot",
               "球体": "sphere", "小球": "ball", "皮球": "ball", "球": "ball", "圆": "circle", "泡泡": "bubble",
               "圆饼": "disc"},
    "square": {"正方形": "square", "正方体": "cube", "立方体": "cube", "方块": "block", "方形": "square",
               "方砖": "tile", "砖块": "brick", "积木": "block", "盒子": "box", "箱子": "box", "木箱": "box",
               "方格": "square", "四方块": "block"},
    "triangle": {"三角形": "triangle", "三角": "triangle", "三角锥": "cone", "锥形": "cone", "圆锥": "cone",
                 "金字塔": "pyramid", "楔形": "wedge", "三角块": "triangle", "棱锥": "pyramid"},
}
# motion value -> Chinese patterns (regular expressions). A verb of manner may stand beside
# a direction ("往左飘", "向右滚动"); VERBS gives its English.
MOTIONS: dict[str, list[str]] = {
    "right": [r"从左(?:边|侧)?(?:往|向|到|朝)右(?:边|侧)?", r"(?:向|往|朝)右(?:边|侧|方)?", r"右移", r"(?:向|往|朝)东"],
    "left": [r"从右(?:边|侧)?(?:往|向|到|朝)左(?:边|侧)?", r"(?:向|往|朝)左(?:边|侧|方)?", r"左移", r"(?:向|往|朝)西"],
    "up": [r"(?:飞|飘|升|浮|跳|弹)了?起来", r"(?:飞|飘|升|浮)了?上去", r"(?:向|往|朝)上(?:方)?", r"上升", r"升起", r"升高", r"升空", r"飞起", r"飞上", r"浮起", r"飘起", r"飘上",
           r"腾空", r"攀升", r"升", r"往高处"],
    "down": [r"(?:掉|落|滑|滚|飘|沉|坠|降)了?下(?:来|去)", r"下来", r"(?:向|往|朝)下(?:方)?", r"下降", r"下落", r"落下", r"掉落", r"掉下", r"坠落", r"坠下", r"滑落",
             r"下沉", r"沉下", r"降落", r"跌落", r"落到", r"沉"],
    "still": [r"(?:一直|始终)?没(?:有)?(?:移)?动", r"一动不动", r"纹丝不动", r"静止不动", r"保持不动", r"停在原[地处]不动", r"停在原[地处]", r"待在原[地处]",
              r"留在原[地处]", r"原地不动", r"不动", r"静止", r"停着", r"停住", r"停留", r"不移动", r"静静地待着"],
    "grows": [r"(?:变得|变)?越来越大", r"越变越大", r"越涨越大", r"变得?更大", r"变大", r"长大", r"放大", r"膨胀", r"扩大", r"增大", r"胀大"],
    "shrinks": [r"(?:变得|变)?越来越小", r"越变越小", r"越缩越小", r"变得?更小", r"变小", r"缩小", r"收缩", r"减小", r"缩"],
}
# Verbs of manner: Chinese -> English third person. Longest first when matched.
VERBS: dict[str, str] = {
    "滚动": "rolls", "滚": "rolls", "飘移": "drifts", "漂移": "drifts", "飘": "drifts", "漂": "drifts",
    "滑行": "glides", "滑动": "slides", "滑过": "glides", "滑": "slides", "飞去": "flies", "飞": "flies",
    "移动": "moves", "运动": "moves", "走": "moves", "跑": "runs", "跳": "bounces", "弹": "bounces",
    "浮": "floats", "游": "drifts", "冲": "shoots", "掉": "falls", "落": "falls", "坠": "falls",
    "升": "rises", "平移": "slides", "降": "sinks", "转": "turns", "转动": "turns",
}
# background value -> {Chinese pattern: English words}
BACKGROUNDS: dict[str, dict[str, str]] = {
    "sky": {r"(?:白天的?|晴朗的?|湛蓝的?|蔚蓝的?|蓝色的?)天空": "against the daytime sky", r"天空": "against the sky",
            r"(?:白天的?)?蓝天": "against the blue sky", r"晴空": "against a clear sky", r"天上": "in the sky",
            r"空中": "in the sky", r"白天": "against the daytime sky"},
    "night": {r"(?:漆黑|黑暗|乌黑|黑漆漆)的?(?:夜晚|夜里|夜空|夜色|夜)": "on a dark night", r"黑夜": "on a dark night",
              r"夜空": "against the night sky", r"深夜": "in the dead of night", r"午夜": "at midnight",
              r"夜晚": "at night", r"夜里": "at night", r"夜幕": "at night", r"夜色": "at night", r"晚上": "at night",
              r"星空": "against the starry night sky", r"夜": "at night"},
    "grass": {r"(?:绿色?的?)?草地": "on green grass", r"(?:绿色?的?)?草坪": "on a lawn", r"草原": "on grassland",
              r"草场": "on a meadow", r"绿地": "on green grass", r"牧场": "on a meadow", r"草丛": "in the grass",
              r"田野": "in a field", r"公园": "in a park", r"草": "on grass"},
    "sand": {r"沙滩": "on a sandy beach", r"沙丘": "on sand dunes", r"沙漠": "in a desert", r"沙地": "on sand",
             r"沙子": "on sand", r"海滩": "on a beach", r"海边": "on a beach", r"沙": "on sand"},
    "gray studio": {r"灰色?的?(?:摄影棚|影棚|背景|墙|幕布)": "in a gray studio", r"(?:摄影棚|影棚|演播室)": "in a studio",
                    r"纯色背景": "against a plain backdrop", r"灰色": "against gray", r"灰": "against gray"},
}
# Adverbs of manner, kept in the English.
ADVERBS: dict[str, str] = {
    "慢慢地": "slowly", "慢慢": "slowly", "缓缓地": "slowly", "缓缓": "slowly", "缓慢地": "slowly", "缓慢": "slowly",
    "渐渐地": "gradually", "渐渐": "gradually", "逐渐": "gradually", "轻轻地": "gently", "轻轻": "gently",
    "静静地": "quietly", "静静": "quietly", "快速地": "quickly", "快速": "quickly", "迅速": "quickly",
    "飞快地": "quickly", "飞快": "quickly", "稳稳地": "steadily", "平稳地": "steadily",
}
# Size words between a colour and its shape ("白色的小方块").
SIZES: dict[str, str] = {"小": "small", "大": "big", "巨大": "huge", "迷你": "tiny"}
# Words that carry no fact of their own (a frame, a position in it, "placed", "all along").
FUNCTION_WORDS = ["画面", "中间", "中央", "旁边", "放着", "一直", "始终", "过去", "过来", "下来", "起来", "让", "看到",
                  "出现", "一颗", "一只", "一个", "一块", "一枚"]
NUMBERS: dict[str, int] = {"一": 1, "两": 2, "二": 2, "俩": 2, "三": 3}
_NUMBER = re.compile(r"([一两二三俩])(?:个|只|块|颗|枚|片)")
# "both" / "together": one motion for two shapes.
_BOTH = re.compile(r"都|一起|一同|同时向|同时往|一齐")
# Words that carry no fact of their own (particles, measure words, place words).
FUNCTION_CHARS = set("的地得了着过个只块颗枚片条有是在上里中内前后下面边处和与跟及并而也都那这它其从到向往朝正之"
                     "头一两二三俩方侧旁身背景同时然后再又就还则起齐呢吧啊呀")


@dataclass
class Obj:
    colour: str | None = None
    shape: str | None = None
    noun: str = ""
    motion: str | None = None
    verb: str | None = None
    adverb: str | None = None
    count: int = 1
    size: str | None = None


@dataclass
class ZhReading:
    """What the Chinese reader understood of a shapes-world idea."""

    objects: list[Obj] = field(default_factory=list)
    background: str | None = None
    background_words: str | None = None
    untranslated: str = ""  # Chinese words left over (not translated)

    @property
    def shapes(self) -> bool:
        return bool(self.objects) and any(o.colour for o in self.objects)

    @property
    def complete(self) -> bool:
        return self.shapes and not self.untranslated

    def slots(self) -> dict:
        """The same shape as lexicon.shapes_slots / the eval's expected slots."""
        return {"background": self.background, "count": len(self.objects),
                "objects": [{"colour": o.colour, "shape": o.shape, "motion": o.motion} for o in self.objects]}

    def english(self) -> str:
        """The idea in plain English, every fact kept."""
        parts = []
        for o in self.objects:
            noun = " ".join(w for w in (o.size, o.colour, o.noun) if w)
            if o.count == 2:
                head = f"two {noun}s"
            else:
                head = f"{lx.indefinite_article(noun)} {noun}"
            parts.append(f"{head} {_motion_words(o, plural=o.count > 1)}".rstrip())
        sentence = " and ".join(parts)
        if self.background_words:
            sentence += f" {self.background_words}"
        return sentence[:1].upper() + sentence[1:] + "."

    def canonical(self) -> str:
        """The idea in the embedded models' training words (lexicon.CANON_WORDS)."""
        parts = []
        for o in self.objects:
            noun = " ".join(w for w in (o.colour, lx.CANON_WORDS["shape"][o.shape]) if w)
            motion = lx.CANON_WORDS["motion"].get(o.motion or "", "")
            parts.append(f"{lx.indefinite_article(noun)} {noun} {motion}".strip())
        sentence = " and ".join(parts)
        if self.background:
            sentence += f" on {lx.CANON_WORDS['background'][self.background]}"
        return sentence[:1].upper() + sentence[1:] + "."


_DIRECTION_WORDS = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}


def _plural(verb: str) -> str:
    """rolls -> roll, flies -> fly: the verb for two things."""
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("shes", "ches", "sses")):
        return verb[:-2]
    return verb.removesuffix("s")


def _motion_words(o: Obj, plural: bool = False) -> str:
    words = _singular_motion_words(o)
    if not plural or not words:
        return words
    parts = words.split(" ")
    i = 1 if o.adverb and len(parts) > 1 else 0
    parts[i] = _plural(parts[i])
    return " ".join(parts)


def _singular_motion_words(o: Obj) -> str:
    adverb = f"{o.adverb} " if o.adverb else ""
    if o.motion in _DIRECTION_WORDS:
        return f"{adverb}{o.verb or 'moves'} {_DIRECTION_WORDS[o.motion]}"
    if o.motion == "still":
        return f"{adverb}stays still"
    if o.motion == "grows":
        return f"{adverb}grows bigger"
    if o.motion == "shrinks":
        return f"{adverb}shrinks"
    return f"{adverb}{o.verb}" if o.verb else ""


def _table() -> list[tuple[str, str, re.Pattern]]:
    rows: list[tuple[str, str, str]] = []
    for value, words in COLOURS.items():
        rows += [("colour", value, re.escape(w)) for w in words]
    for value, nouns in SHAPES.items():
        rows += [("shape", value, re.escape(w)) for w in nouns]
    for value, patterns in MOTIONS.items():
        rows += [("motion", value, p) for p in patterns]
    for value, patterns in BACKGROUNDS.items():
        rows += [("background", value, p) for p in patterns]
    rows += [("verb", english, re.escape(w)) for w, english in VERBS.items()]
    rows += [("adverb", english, re.escape(w)) for w, english in ADVERBS.items()]
    return [(kind, value, re.compile(p)) for kind, value, p in rows]


_TABLE = _table()
# For phrases of one length: a background ("蓝天") before a colour ("蓝"), a motion ("往下")
# before anything else.
_RANK = {"background": 0, "motion": 1, "shape": 2, "adverb": 3, "colour": 4, "verb": 5}
_NEAR = 4  # a colour belongs to a shape that starts at most this many characters after it
_BREAK = re.compile(r"[，。、；：！？,.;:!?\s和与跟及]")  # ... with no pause or "and" between them


def _tokens(text: str) -> list[tuple[int, int, str, str]]:
    found = []
    for kind, value, rx in _TABLE:
        for m in rx.finditer(text):
            found.append((m.start(), m.end(), kind, value))
    found.sort(key=lambda f: (-(f[1] - f[0]), _RANK[f[2]], f[0]))
    taken: list[tuple[int, int]] = []
    out = []
    for s, e, kind, value in found:
        if any(s < te and ts < e for ts, te in taken):
            continue
        taken.append((s, e))
        out.append((s, e, kind, value))
    return sorted(out)


def read(text: str) -> ZhReading:
    """The shapes-world facts of a Chinese idea (objects with colour, shape and motion; the
    background) and the Chinese words it could not place."""
    tokens = _tokens(text)
    reading = ZhReading()
    used = [False] * len(text)
    pending_colour: tuple[int, str, int] | None = None  # (end, value, start)
    pending_motion: list[tuple[str, str | None, str | None]] = []  # motions before any shape
    verb: str | None = None
    adverb: str | None = None
    backgrounds: list[tuple[str, str]] = []
    last_motion_end = -10

    def mark(s: int, e: int) -> None:
        for i in range(s, e):
            used[i] = True

    for s, e, kind, value in tokens:
        if kind == "colour":
            pending_colour = (e, value, s)
        elif kind == "shape":
            colour = size = None
            if pending_colour and s - pending_colour[0] <= _NEAR and not _BREAK.search(text[pending_colour[0]:s]):
                # "红色的球", "红彤彤的皮球", "白色的小方块": the colour is the shape's
                colour = pending_colour[1]
                gap = text[pending_colour[0]:s]
                size = next((en for zh_size, en in SIZES.items() if gap.endswith(zh_size)), None)
                mark(pending_colour[2], s)
            elif text[max(0, s - 2):s] in SIZES or text[max(0, s - 1):s] in SIZES:
                size = SIZES.get(text[max(0, s - 2):s]) or SIZES[text[s - 1]]
                mark(s - (2 if text[max(0, s - 2):s] in SIZES else 1), s)
            pending_colour = None
            word = text[s:e]
            number = _NUMBER.search(text[max(0, s - 6):s])
            obj = Obj(colour=colour, shape=value, noun=SHAPES[value][word], size=size,
                      count=NUMBERS.get(number.group(1), 1) if number else 1)
            reading.objects.append(obj)
            mark(s, e)
            if pending_motion and obj.motion is None:
                obj.motion, obj.verb, obj.adverb = pending_motion.pop(0)
        elif kind in ("verb", "adverb"):
            if kind == "verb":
                verb = value
            else:
                adverb = value
            mark(s, e)
            # a verb of manner after a direction ("往左飘") belongs to that motion
            last = reading.objects[-1] if reading.objects else None
            if kind == "verb" and last and last.motion in _DIRECTION_WORDS and last.verb is None \
                    and s - last_motion_end <= 1:
                last.verb, verb = value, None
        elif kind == "motion":
            mark(s, e)
            last_motion_end = e
            target = next((o for o in reading.objects if o.motion is None), None) if reading.objects else None
            if reading.objects and reading.objects[-1].motion is None:
                target = reading.objects[-1]
            if target is not None:
                target.motion, target.verb, target.adverb = value, verb, adverb
            elif not reading.objects:
                pending_motion.append((value, verb, adverb))
            verb = adverb = None
        else:  # background
            backgrounds.append((value, _background_words(value, text[s:e])))
            mark(s, e)
            pending_colour = None
    # a verb of manner alone ("滚动") with no direction: keep it as the movement
    for o in reading.objects:
        if o.motion is None and verb and o is reading.objects[-1]:
            o.verb, o.adverb = verb, adverb
    if len(reading.objects) == 2 and _BOTH.search(text):
        known = [(o.motion, o.verb, o.adverb) for o in reading.objects if o.motion]
        if len(known) == 1:
            for o in reading.objects:
                o.motion, o.verb, o.adverb = known[0]
    if backgrounds:
        values = [v for v, _ in backgrounds]
        reading.background = max(set(values), key=lambda v: (values.count(v), -values.index(v)))
        reading.background_words = next(w for v, w in backgrounds if v == reading.background)
    for word in FUNCTION_WORDS:
        for m in re.finditer(word, text):
            mark(m.start(), m.end())
    left = "".join(c for i, c in enumerate(text) if not used[i] and _CJK.match(c) and c not in FUNCTION_CHARS)
    reading.untranslated = left
    return reading


def _background_words(value: str, word: str) -> str:
    for pattern, english in BACKGROUNDS[value].items():
        if re.fullmatch(pattern, word):
            return english
    return lx.CANON_WORDS["background"][value]


# --- facts, for checking an LLM's translation ------------------------------------------
# Common content words of video ideas and the English words that keep them. An LLM answer
# to a Chinese idea must hold one of the English words for every one of these the idea uses
# (and every shapes-world fact). Not a dictionary: a check that obvious facts survived.

GLOSSARY: dict[str, tuple[str, ...]] = {
    "老奶奶": ("old", "elderly", "grandmother", "grandma", "granny", "aged"),
    "老爷爷": ("old", "elderly", "grandfather", "grandpa", "aged"),
    "老人": ("old", "elderly", "aged", "senior"), "老太太": ("old", "elderly", "aged"),
    "女孩": ("girl",), "男孩": ("boy",), "女人": ("woman", "lady"), "男人": ("man",), "孩子": ("child", "kid"),
    "小孩": ("child", "kid"), "婴儿": ("baby", "infant"), "宝宝": ("baby", "toddler"),
    "宇航员": ("astronaut",), "航天员": ("astronaut",), "舞者": ("dancer",), "芭蕾": ("ballet", "ballerina"),
    "士兵": ("soldier",), "战士": ("warrior", "soldier", "fighter"), "厨师": ("chef", "cook"),
    "猫": ("cat", "kitten"), "狗": ("dog", "puppy"), "熊猫": ("panda",), "狐狸": ("fox",), "匹马": ("horse", "pony"),
    "骏马": ("horse", "steed", "stallion"), "马儿": ("horse", "pony"),
    "鸟": ("bird",), "鱼": ("fish",), "龙": ("dragon",), "老虎": ("tiger",), "狮子": ("lion",), "兔": ("rabbit", "bunny"),
    "蝴蝶": ("butterfly",), "熊": ("bear",), "鹿": ("deer",), "猎豹": ("cheetah",),
    "厨房": ("kitchen",), "卧室": ("bedroom",), "客厅": ("living room", "lounge"), "房间": ("room",),
    "城市": ("city",), "街道": ("street",), "街头": ("street",), "森林": ("forest", "woods"), "竹林": ("bamboo",),
    "大海": ("sea", "ocean"), "海边": ("sea", "beach", "shore", "coast", "seaside"), "海滩": ("beach",),
    "沙漠": ("desert",), "草原": ("grassland", "prairie", "steppe", "meadow"), "雪山": ("snow", "mountain"),
    "山": ("mountain", "hill"), "湖": ("lake",), "河": ("river",), "瀑布": ("waterfall",), "天空": ("sky",),
    "太空": ("space",), "宇宙": ("space", "universe", "cosmos"), "屋顶": ("roof", "rooftop"), "桥": ("bridge",),
    "蜡烛": ("candle",), "烛光": ("candle",), "灯笼": ("lantern",), "雨": ("rain",), "雪": ("snow",), "雾": ("fog", "mist"),
    "夜": ("night",), "晚上": ("night", "evening"), "黄昏": ("dusk", "twilight", "evening"), "夕阳": ("sunset", "setting sun"),
    "日落": ("sunset",), "日出": ("sunrise", "dawn"), "清晨": ("morning", "dawn"), "早晨": ("morning",),
    "黎明": ("dawn", "daybreak"), "中午": ("noon", "midday"),
    "做饭": ("cook",), "烹饪": ("cook",), "跳舞": ("danc",), "奔跑": ("run", "running", "ran", "gallop", "sprint"),
    "跑": ("run", "ran", "running", "gallop", "sprint", "dash"), "飞": ("fly", "flies", "flying", "flew", "soar"),
    "游": ("swim",), "哭": ("cry", "cries", "crying", "weep", "tear", "sob"), "笑": ("smil", "laugh"),
    "睡": ("sleep", "asleep", "nap", "doze"), "拥抱": ("hug", "embrac"), "弹吉他": ("guitar",), "吉他": ("guitar",),
    "钢琴": ("piano",), "画画": ("draw", "paint", "sketch"), "读书": ("read",), "看书": ("read",),
    "白天": ("day", "daytime", "daylight", "sunlit", "sunny", "sky"), "黑暗": ("dark",), "黑夜": ("night", "dark"),
    "雪白": ("white", "snow"), "蓝天": ("sky",), "夜空": ("night", "sky"), "草地": ("grass", "lawn", "meadow", "field"),
    "沙滩": ("beach", "sand"), "漆黑": ("dark", "black", "pitch"),
    "苹果": ("apple",), "香蕉": ("banana",), "蛋糕": ("cake",), "咖啡": ("coffee",), "茶": ("tea",),
    "面包": ("bread",), "奶酪": ("cheese",), "蘑菇": ("mushroom",), "书": ("book",), "花": ("flower", "blossom", "bloom"),
    "树": ("tree",), "树叶": ("leaf", "leaves"), "汽车": ("car",), "火车": ("train",), "船": ("boat", "ship"),
    "飞机": ("plane", "aircraft", "jet"), "雨伞": ("umbrella",), "气球": ("balloon",), "窗": ("window",),
    "门": ("door", "gate"), "桌子": ("table", "desk"), "椅子": ("chair",), "床": ("bed",), "沙发": ("sofa", "couch"),
    "月亮": ("moon",), "太阳": ("sun",), "星星": ("star",), "云": ("cloud",), "风": ("wind", "breeze"),
    "火": ("fire", "flame", "blaze"), "石头": ("rock", "stone"), "锅": ("pot", "pan", "wok"), "碗": ("bowl",),
    "红": ("red", "crimson", "scarlet"), "绿": ("green",), "蓝": ("blue",), "黄": ("yellow", "golden", "gold"),
    "紫": ("purple", "violet"), "白": ("white",), "黑": ("black", "dark"), "橙": ("orange",), "粉": ("pink",),
}
_GLOSS_ORDER = sorted(GLOSSARY, key=len, reverse=True)
_COUNT_WORDS = {"两": ("two", "2", "pair", "both", "couple"), "二": ("two", "2", "pair", "both"),
                "三": ("three", "3"), "四": ("four", "4"), "五": ("five", "5")}
_COUNT = re.compile(r"([两二三四五])(?:个|只|匹|位|条|头|块|颗|朵|棵|辆|艘|名|群)")
_SHAPE_WORDS = {value: {n for n in nouns.values()} | set(lx.CANON_SHAPES[value]) for value, nouns in SHAPES.items()}
_SHAPE_WORDS["triangle"] |= {"pyramid", "cone", "wedge", "triangular"}
_SHAPE_WORDS["square"] |= {"crate", "cube", "box", "block", "square"}
_SHAPE_WORDS["circle"] |= {"orb", "sphere", "ball", "circle", "round", "circular"}
_EXTRA_BG = {"sky": ["sky", "skies"], "night": ["night", "dark"], "grass": ["grass", "lawn", "meadow", "turf", "field"],
             "sand": ["sand", "beach", "desert", "dunes"], "gray studio": ["studio", "gray", "grey"]}


def _any_word(words, answer: str) -> bool:
    """Any of the English words (or a word they start: "danc" -> dancing) in the answer."""
    low = answer.lower()
    return any(re.search(r"(?<![a-z])" + re.escape(w.lower()), low) for w in words)


def missing_facts(text: str, answer: str) -> list[str]:
    """The facts of a Chinese idea that an English answer lost, each as "中文 (english)"."""
    lost: list[str] = []
    reading = read(text)
    if reading.shapes:
        answer_slots = {(kind, value) for _, kind, value in lx.canon_tokens(answer)}
        for o in reading.objects:
            if o.colour and ("colour", o.colour) not in answer_slots and not _any_word([o.colour], answer):
                lost.append(f"{o.colour} (colour)")
            if o.shape and ("shape", o.shape) not in answer_slots and not _any_word(_SHAPE_WORDS[o.shape], answer):
                lost.append(f"{o.noun or o.shape} (shape)")
            if o.motion and ("motion", o.motion) not in answer_slots:
                lost.append(f"{o.motion} (movement)")
        bg = reading.background
        if bg and ("background", bg) not in answer_slots and not _any_word(_EXTRA_BG[bg], answer):
            lost.append(f"{bg} (background)")
    rest = text
    for word in _GLOSS_ORDER:
        if word in rest:
            rest = rest.replace(word, " ")
            if not _any_word(GLOSSARY[word], answer):
                lost.append(f"{word} ({GLOSSARY[word][0]})")
    for m in _COUNT.finditer(text):
        if not _any_word(_COUNT_WORDS[m.group(1)], answer):
            lost.append(f"{m.group(0)} ({_COUNT_WORDS[m.group(1)][0]})")
    for digits in re.findall(r"\d+", text):
        if digits not in answer:
            lost.append(digits)
    return list(dict.fromkeys(lost))
