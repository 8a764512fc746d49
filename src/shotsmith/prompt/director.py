"""The director: camera, lighting, mood and concrete detail chosen from what the idea shows.

The rule backend used to fill every empty slot with the same neutral phrase. The director
reads content cues instead (a face, a landscape, fast action, a candle, night, a feeling
the user names ...) in English or Chinese, and picks, deterministically:

- camera: a face or a person close-up or medium, a landscape or a city wide or aerial,
  fast action tracking, small things macro, underwater and space their own moves;
- lighting: an explicit phrase that agrees with the light the words imply (night and
  dark give low-key moonlight or practical light, a candle its own flicker, dawn and
  evening their low sun, a kitchen window light on the face ...);
- mood: the feeling the user names, else one that fits the content; a style preset adds
  its own tint;
- detail: one concrete sentence about the subject (skin and fabric, fur, feathers,
  scales) and one about the place (a kitchen's utensils, a forest's layers), never a
  colour, a new character or a new time of day.

Phrases follow the preset rules (the part before the first comma stands alone) and hold
no colour word, so they never clash with a colour the user gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import lexicon as lx

# --- cues: English words, Chinese substrings -------------------------------------------
# Each cue is (English words, Chinese substrings). Chinese has no spaces, so its cues are
# substrings; they are picked so that they rarely sit inside an unrelated word.

CUES: dict[str, tuple[set[str], list[str]]] = {
    "face": ({"face", "faces", "eyes", "eye", "expression", "smile", "smiles", "smiling", "tears", "cries",
              "crying", "weeps", "weeping", "gazes", "gaze", "stares", "blinks", "blink", "portrait", "lips",
              "frowns", "sunglasses", "glasses", "hair"},
             ["脸", "面部", "面孔", "眼睛", "眼神", "表情", "微笑", "泪", "凝视", "眨眼", "墨镜", "眼镜", "肖像", "头发"]),
    "person": ({"woman", "women", "man", "men", "girl", "girls", "boy", "boys", "child", "children", "kid", "kids",
                "baby", "person", "people", "lady", "grandmother", "grandfather", "grandma", "grandpa", "mother",
                "father", "teenager", "student", "warrior", "soldier", "knight", "astronaut", "mage", "wizard",
                "witch", "princess", "prince", "king", "queen", "dancer", "ballerina", "chef", "farmer",
                "musician", "singer", "athlete", "runner", "she", "he", "monk", "samurai", "detective", "pilot"},
               ["人", "女孩", "男孩", "孩子", "小孩", "奶奶", "爷爷", "姑娘", "妈妈", "爸爸", "母亲", "父亲", "学生",
                "战士", "士兵", "骑士", "宇航员", "航天员", "法师", "巫师", "公主", "王子", "舞者", "芭蕾", "厨师",
                "她", "他", "少女", "少年", "女子", "男子", "和尚", "婆婆", "外婆", "姥姥"]),
    "elderly": ({"old", "elderly", "aged", "grandmother", "grandfather", "grandma", "grandpa", "granny"},
                ["老人", "老奶奶", "老爷爷", "老太太", "老妇", "老头", "年迈", "奶奶", "爷爷", "外婆", "姥姥", "婆婆"]),
    "child": ({"child", "children", "kid", "kids", "baby", "toddler", "toys"},
              ["孩子", "小孩", "儿童", "宝宝", "婴儿", "小女孩", "小男孩", "玩具"]),
    "embrace": ({"hug", "hugs", "hugging", "embrace", "embraces", "embracing", "kiss", "kisses", "kissing",
                 "couple", "lovers"}, ["拥抱", "相拥", "亲吻", "情侣"]),
    "dance": ({"dance", "dances", "dancing", "dancer", "ballerina", "ballet", "twirls"},
              ["跳舞", "舞蹈", "舞者", "芭蕾", "起舞"]),
    "craft": ({"cook", "cooks", "cooking", "draws", "drawing", "paints", "writes", "writing", "knits", "sews",
               "guitar", "piano", "violin", "chops", "stirs", "bakes", "baking", "reads", "reading", "typing"},
              ["做饭", "烹饪", "炒菜", "煮", "画画", "绘画", "写字", "吉他", "钢琴", "小提琴", "读书", "看书", "编织"]),
    "animal": ({"cat", "cats", "kitten", "dog", "dogs", "puppy", "fox", "wolf", "bear", "bears", "cheetah", "tiger",
                "lion", "panda", "pandas", "deer", "horse", "horses", "rabbit", "squirrel", "monkey", "elephant",
                "creature", "monster", "owl", "eagle", "bird", "birds", "fish", "whale", "dolphin", "shark",
                "turtle", "frog", "dragon", "cow", "sheep", "duck", "swan", "penguin", "butterfly"},
               ["猫", "狗", "狐狸", "狼", "熊", "猎豹", "老虎", "狮子", "鹿", "兔", "松鼠", "猴", "大象", "鸟", "鱼",
                "龙", "怪兽", "怪物", "鹰", "鸭", "天鹅", "企鹅", "小动物", "蝴蝶", "匹马", "骏马", "马儿", "马群", "小马"]),
    "fur": ({"cat", "cats", "kitten", "dog", "dogs", "puppy", "fox", "wolf", "bear", "bears", "cheetah", "tiger",
             "lion", "panda", "pandas", "deer", "horse", "horses", "rabbit", "squirrel", "monkey", "fluffy"},
            ["猫", "狗", "狐狸", "狼", "熊", "猎豹", "老虎", "狮子", "鹿", "兔", "松鼠", "猴", "毛茸茸", "匹马", "骏马",
             "马儿", "小马"]),
    "feathers": ({"bird", "birds", "owl", "eagle", "parrot", "duck", "swan", "hawk", "dove", "penguin"},
                 ["鸟", "鹰", "鸭", "天鹅", "鸽", "企鹅", "鹦鹉"]),
    "scales": ({"fish", "dragon", "snake", "lizard", "koi", "carp"}, ["鱼", "龙", "蛇", "蜥蜴"]),
    "small": ({"flower", "flowers", "lotus", "petal", "petals", "leaf", "butterfly", "bee", "insect", "ant",
               "ladybug", "dewdrop", "dew", "droplet", "raindrop", "candle", "cup", "teacup", "coin", "seed",
               "snail", "spider", "mushroom"},
              ["花", "荷", "莲", "叶子", "树叶", "蝴蝶", "蜜蜂", "昆虫", "蚂蚁", "露珠", "水滴", "雨滴", "蜡烛", "杯",
               "硬币", "种子", "蜗牛", "蜘蛛", "蘑菇"]),
    "fast": ({"runs", "run", "running", "races", "racing", "sprints", "sprinting", "chases", "chasing",
              "leaps", "leaping", "charges", "charging", "gallops", "galloping", "speeds", "speeding", "rushes",
              "dashes", "fights", "fighting", "battle", "attacks", "jumps", "jumping", "surfs", "surfing",
              "flees", "fleeing", "pursues", "skis", "skiing"},
             ["奔跑", "跑", "冲", "追", "飞驰", "疾驰", "赛车", "跳跃", "战斗", "打斗", "搏斗", "冲锋", "激战", "逃"]),
    "vehicle": ({"car", "cars", "train", "trains", "motorcycle", "bike", "bicycle", "truck", "vehicles",
                 "vehicle", "plane", "jet", "boat", "ship"},
                ["汽车", "火车", "摩托", "自行车", "卡车", "飞机", "船", "车"]),
    "city": ({"city", "cityscape", "skyline", "street", "streets", "town", "downtown", "skyscraper",
              "skyscrapers", "metropolis", "megacity", "alley", "avenue", "traffic", "village"},
             ["城市", "都市", "街道", "街头", "街", "马路", "天际线", "摩天", "高楼", "小镇", "村庄", "村子"]),
    "landscape": ({"landscape", "mountain", "mountains", "valley", "hills", "hill", "ocean", "sea", "lake",
                   "river", "desert", "dunes", "field", "fields", "meadow", "canyon", "waterfall", "glacier",
                   "iceberg", "island", "horizon", "sky", "clouds", "coast", "shore", "beach", "prairie",
                   "savanna", "countryside", "sunrise", "sunset", "forest", "woods", "jungle", "pond", "waves"},
                  ["风景", "山", "海", "湖", "河", "江", "沙漠", "草原", "田野", "森林", "树林", "丛林", "峡谷",
                   "瀑布", "冰川", "冰山", "岛", "地平线", "天空", "云", "海岸", "海边", "海滩", "池塘", "日出", "日落"]),
    "underwater": ({"underwater", "reef", "seabed", "diver"}, ["水下", "水底", "海底", "潜水"]),
    "space": ({"space", "astronaut", "galaxy", "nebula", "weightless", "weightlessness", "orbit"},
              ["太空", "宇宙", "宇航员", "航天员", "星系", "星云", "失重"]),
    "magic": ({"magic", "magical", "spell", "wizard", "mage", "witch", "portal", "enchanted", "fairy", "fairies",
               "fantastical", "conjures", "transforms", "transform", "morphs", "paintings"},
              ["魔法", "魔幻", "咒语", "施法", "法师", "巫师", "传送门", "仙女", "精灵", "变成", "化身", "活了过来",
               "复活"]),
    "home": ({"kitchen", "bedroom", "room", "home", "apartment", "cafe", "restaurant", "library", "office",
              "classroom"},
             ["厨房", "卧室", "客厅", "房间", "家里", "屋里", "咖啡馆", "餐厅", "图书馆", "办公室", "教室"]),
    "metropolis": ({"city", "cityscape", "skyline", "skyscraper", "skyscrapers", "metropolis", "megacity",
                    "downtown", "traffic"}, ["城市", "都市", "天际线", "摩天", "高楼"]),
    "town": ({"town", "village", "villages", "towns"}, ["小镇", "村庄", "村子", "古镇"]),
    "dwelling": ({"kitchen", "bedroom", "home", "apartment", "living"}, ["厨房", "卧室", "客厅", "家里", "屋里", "家中"]),
    "fireworks": ({"fireworks", "firework"}, ["烟花", "烟火"]),
    "sunlight": ({"sunbathing", "sunbathes", "basking", "basks"}, ["晒太阳", "阳光"]),
    "kitchen": ({"kitchen", "cooks", "cooking", "bakes", "baking"}, ["厨房", "做饭", "烹饪", "炒菜"]),
    "crowd": ({"crowd", "armies", "army", "soldiers", "audience", "crowds"}, ["人群", "军队", "观众", "士兵们"]),
    "storm": ({"storm", "stormy", "thunder", "lightning", "rain", "raining", "rainy", "overcast"},
              ["暴风雨", "风暴", "雷", "闪电", "下雨", "雨", "阴天"]),
    "fog": ({"fog", "foggy", "mist", "misty", "haze", "hazy"}, ["雾"]),
    "snow": ({"snow", "snowy", "snowfall", "frozen", "ice", "icy", "iceberg", "winter", "glacier"},
             ["雪", "冰", "冬天", "冬日"]),
    "forest": ({"forest", "woods", "jungle", "bamboo", "trees"}, ["森林", "树林", "丛林", "竹林"]),
    "garden": ({"garden", "flowers", "park", "plants"}, ["花园", "公园", "花丛", "植物"]),
    "water": ({"lake", "pond", "river", "stream", "seawater"}, ["湖", "池塘", "河", "溪"]),
    "coast": ({"ocean", "sea", "beach", "shore", "coast", "waves"}, ["大海", "海洋", "海边", "海滩", "海浪", "海岸"]),
    "mountain": ({"mountain", "mountains", "valley", "hills", "canyon", "cliff", "cliffs"},
                 ["山", "山谷", "峡谷", "悬崖"]),
    "desert": ({"desert", "dunes"}, ["沙漠", "沙丘"]),
    "battle": ({"battle", "battlefield", "siege", "war", "armies"}, ["战场", "战斗", "战争", "攻城"]),
    "castle": ({"castle", "palace", "temple", "fortress"}, ["城堡", "宫殿", "寺庙", "古堡"]),
    # the light the words imply
    "candle": ({"candle", "candles", "candlelit", "candlelight"}, ["蜡烛", "烛光", "烛火"]),
    "fire": ({"fireplace", "campfire", "bonfire", "flames", "torch", "torches", "hearth"},
             ["篝火", "壁炉", "火焰", "火把", "炉火"]),
    "neon": ({"neon", "cyberpunk"}, ["霓虹", "赛博朋克"]),
    "night": ({"night", "nighttime", "midnight", "moon", "moonlit", "starry", "moonlight"},
              ["夜", "晚上", "月光", "月亮", "星空", "午夜"]),
    "dark": ({"dark", "darkness", "dim", "dimly", "gloomy", "shadowy", "unlit"},
             ["黑暗", "昏暗", "幽暗", "暗处", "漆黑", "黑漆漆"]),
    "dawn": ({"dawn", "sunrise", "daybreak"}, ["黎明", "日出", "清晨", "破晓", "拂晓"]),
    "dusk": ({"dusk", "sunset", "evening", "twilight", "sundown"}, ["黄昏", "傍晚", "日落", "夕阳", "晚霞"]),
    "morning": ({"morning"}, ["早晨", "早上", "上午"]),
    "noon": ({"noon", "midday", "sunny"}, ["中午", "正午", "烈日", "阳光明媚", "晴天", "晴朗"]),
}
# Feelings the user names, strongest first; the director's mood then agrees with them.
FEELINGS: dict[str, tuple[set[str], list[str]]] = {
    "fear": ({"fear", "fearful", "frightened", "scared", "afraid", "terrified", "shock", "shocked", "anxious",
              "nervous", "worried", "panic"}, ["害怕", "恐惧", "惊恐", "惊慌", "紧张", "担心", "惊吓"]),
    "sad": ({"sad", "sadly", "sadness", "cries", "crying", "tears", "weeps", "weeping", "lonely", "grief",
             "melancholy", "melancholic", "sobbing", "sobs", "heartbroken", "mourning"},
            ["悲伤", "伤心", "难过", "哭", "流泪", "忧伤", "孤独", "落寞", "悲痛"]),
    "anger": ({"angry", "anger", "furious", "rage"}, ["愤怒", "生气", "怒"]),
    "tender": ({"hug", "hugs", "hugging", "embrace", "embracing", "kiss", "kissing", "romantic", "tender",
                "love"}, ["拥抱", "相拥", "亲吻", "温柔", "浪漫", "爱"]),
    "joy": ({"joy", "joyful", "happy", "happily", "laughs", "laughing", "smiles", "smiling", "delighted",
             "excited", "cheerful"}, ["开心", "快乐", "高兴", "欢笑", "大笑", "笑", "喜悦", "兴奋"]),
}

# Words that state the light itself (not only a time or place that implies it).
EXPLICIT_LIGHT = {
    "light", "lights", "lighting", "lit", "sunlight", "daylight", "moonlight", "starlight", "candlelight",
    "firelight", "lamplight", "backlit", "sunlit", "moonlit", "candlelit", "starlit", "glow", "glows", "glowing",
    "illuminated", "illuminates", "illuminating", "illumination", "silhouette", "silhouetted", "chiaroscuro",
    "volumetric", "rays", "sunbeams", "sunbeam", "spotlight", "lamplit", "shadows", "neon",
}
_EXPLICIT_LIGHT_PHRASES = re.compile(r"golden hour|blue hour|low[- ]key|high[- ]key|god rays", re.IGNORECASE)


# --- the phrases ------------------------------------------------------------------------
# Ordered rules: the first whose cues are all present wins. Each phrase's part before its
# first comma stands alone (the short form kept when the prompt must shrink).

CAMERA_RULES: list[tuple[tuple[str, ...], str]] = [
    (("underwater",), "a gliding underwater shot at the subject's level, drifting gently with the current"),
    (("space",), "a slow floating shot, drifting weightlessly around the subject"),
    (("fast", "vehicle"), "a low tracking shot racing alongside, with the ground streaking past"),
    (("fast",), "a fast tracking shot alongside the action, keeping pace with every move"),
    (("embrace",), "a medium two-shot at eye level, with a slow, gentle push-in"),
    (("dance",), "a medium-wide shot that circles slowly, keeping the whole body in frame"),
    (("craft", "person"), "a close-up that follows the hands and face, moving gently with the work"),
    (("crowd",), "a high wide shot that takes in the whole crowd, with a slow lateral drift"),
    (("face",), "an intimate close-up at eye level, with a slow push-in on the face"),
    (("person", "feeling"), "a close-up at eye level, holding quietly on the face"),
    (("person", "city"), "a medium-wide shot at street level, with a slow dolly alongside"),
    (("person",), "a medium shot at eye level, with a gentle handheld drift"),
    (("magic",), "a steady medium shot with a slow orbit around the subject, holding the change in frame"),
    (("small",), "a macro close-up with a shallow depth of field, the focus easing across the detail"),
    (("animal", "landscape"), "a wide shot with a slow pan that follows the animals across the view"),
    (("animal",), "a low medium shot at the animal's eye level, held steady on a long lens"),
    (("city",), "a wide aerial establishing shot, drifting slowly forward above the streets"),
    (("landscape",), "a wide establishing shot, with a slow lateral pan across the view"),
    (("storm",), "a wide establishing shot, held steady against the wind and weather"),
    (("home",), "a slow dolly shot through the room at eye level"),
]
I2V_CAMERA_RULES: list[tuple[tuple[str, ...], str]] = [
    (("underwater",), "a slow gliding drift with the current"),
    (("space",), "a slow weightless drift around the subject"),
    (("fast",), "a tracking move that keeps pace with the action"),
    (("embrace",), "a steady two-shot, with a slow and gentle push-in"),
    (("face",), "a gentle close-up, with a slow push-in toward the face"),
    (("person", "feeling"), "a gentle close-up, holding quietly on the face"),
    (("person",), "a steady medium shot, with a slight handheld drift"),
    (("magic",), "a slow orbit around the subject, holding the change in frame"),
    (("small",), "a gentle macro push-in, with a shallow depth of field"),
    (("animal", "landscape"), "a slow wide pan that follows the movement across the view"),
    (("animal",), "a steady shot at the animal's level, with a slight drift"),
    (("landscape",), "a slow wide pan across the view"),
    (("city",), "a slow wide pan across the view"),
]

# (cues, phrase, strong): a strong cue beats a style preset's own lighting.
LIGHT_RULES: list[tuple[tuple[str, ...], str, bool]] = [
    (("candle",), "warm flickering candlelight as the only practical light, with deep low-key shadows around it",
     True),
    (("fire",), "the warm flickering glow of firelight, with deep shadows beyond its reach", True),
    (("underwater",), "shafts of sunlight filtering down through the water, rippling over every surface", True),
    (("space",), "hard direct sunlight against the deep dark of space, with sharp-edged shadows", True),
    (("fireworks",), "bright bursts from the fireworks, with the scene falling back into darkness between them",
     True),
    (("neon",), "the mixed glow of neon signs and street lamps, with deep shadows between them", True),
    (("night", "city"), "low-key night light from street lamps and lit windows, with deep shadows between them", True),
    (("night", "home"), "low-key practical light from a single lamp, with the room falling into soft shadow", True),
    (("night",), "low-key moonlight, with soft cool highlights and deep shadows", True),
    (("dark", "home"), "low-key practical light from a single lamp, with the room falling into soft shadow", True),
    (("dark",), "dim low-key light from a single source, with most of the frame falling into shadow", True),
    (("dawn",), "the soft low light of dawn, cool in the shadows and warm where it first touches", True),
    (("dusk",), "the warm low light of evening, raking across the scene with long soft shadows", True),
    (("morning",), "fresh morning light, low and clear, with long soft shadows", True),
    (("noon",), "hard overhead midday sunlight, with short crisp shadows", True),
    (("storm",), "flat diffused storm light under a heavy overcast sky", True),
    (("fog",), "soft diffused light through the haze, with gentle falloff into the distance", True),
    (("snow",), "cool diffuse daylight, bouncing softly off the frozen surfaces", True),
    (("forest",), "dappled daylight filtering through the leaves, with soft pools of shade", True),
    (("sunlight",), "warm sunlight falling across the subject, with soft natural shadows", True),
    (("kitchen",), "warm window light falling softly across {face}", False),
    (("home",), "warm window light falling softly across {face}, with gentle shadows in the room", False),
    (("face",), "soft flattering natural light, with a gentle fill on {face}", False),
    (("person",), "soft natural light, with a gentle fill on {face}", False),
]

MOOD_BY_FEELING = {
    "fear": "tense and uneasy",
    "sad": "wistful and melancholic",
    "anger": "charged and fierce",
    "tender": "tender and affectionate",
    "joy": "joyful and light-hearted",
}
MOOD_RULES: list[tuple[tuple[str, ...], str]] = [
    (("candle",), "hushed and intimate"),
    (("fire",), "cosy and intimate"),
    (("neon",), "electric and restless"),
    (("night", "city"), "electric and restless"),
    (("battle",), "grim and urgent"),
    (("fast",), "urgent and kinetic"),
    (("space",), "weightless and awe-struck"),
    (("underwater",), "tranquil and dreamlike"),
    (("magic",), "enchanted and wondrous"),
    (("child",), "tender and playful"),
    (("storm",), "brooding and dramatic"),
    (("dark",), "quiet and mysterious"),
    (("night",), "quiet and mysterious"),
    (("dance",), "graceful and free"),
    (("kitchen",), "homely and heartfelt"),
    (("elderly",), "gentle and nostalgic"),
    (("dawn",), "hopeful and still"),
    (("dusk",), "reflective and unhurried"),
    (("snow",), "crisp and hushed"),
    (("small",), "delicate and intimate"),
    (("animal",), "patient and observational"),
    (("city",), "busy and modern"),
    (("landscape",), "vast and serene"),
    (("home",), "quiet and lived-in"),
]

MOVEMENT_RULES: list[tuple[tuple[str, ...], str]] = [
    (("dance",), "graceful and flowing, each turn landing softly"),
    (("face",), "small and natural, with a slow blink and a slight turn of the head"),
    (("person",), "natural and unhurried, with small shifts of weight and breath"),
    (("small",), "delicate and slight, stirring softly in the air"),
    (("animal",), "natural and unhurried, with small movements of the head and body"),
]

SCENE_RULES: list[tuple[tuple[str, ...], str]] = [
    (("kitchen",), "a homely kitchen, with the counter and stove softly out of focus"),
    (("home",), "a lived-in room, softly out of focus behind the subject"),
]

# One sentence about the subject and one about the place. Only for what the user did not
# already describe (no clothes sentence when the user dressed the subject, and so on).
SUBJECT_DETAIL: list[tuple[tuple[str, ...], str]] = [
    (("elderly", "dwelling"), ("Age shows in the fine lines of {possessive} face and hands, and {pronoun} wears "
                               "casual home clothes.")),
    (("elderly",), "Age shows in the fine lines of {possessive} face and hands, rendered in natural detail."),
    (("child",), "Small hands and a rounded, youthful face are caught in soft, natural detail."),
    (("person", "dwelling"), "{Pronoun} wears casual home clothes, with skin and fabric in fine, natural detail."),
    (("person",), "Skin, hair and the texture of fabric are rendered in fine, natural detail."),
    (("fur",), "Every strand of fur and the shine of the eyes are sharp and lifelike."),
    (("feathers",), "Each feather is crisp and distinct, ruffling slightly with every move."),
    (("scales",), "Scales catch the light with a soft shimmer as it moves."),
    (("small",), "Fine surface texture is sharp in the plane of focus, the rest melting into soft blur."),
]
SCENE_DETAIL: list[tuple[tuple[str, ...], str]] = [
    (("kitchen",), "Neatly arranged utensils and fresh ingredients fill the kitchen around the action."),
    (("dwelling",), "Small personal objects and soft furnishings give the room a lived-in feel."),
    (("home",), "Furniture and fittings recede in soft focus, giving the room depth."),
    (("underwater",), "Fine particles drift in the water, and light ripples across every surface."),
    (("space",), "Distant stars hang still in the depth of space."),
    (("battle",), "Dust and smoke hang in the air above the churned ground."),
    (("castle",), "Weathered stone walls rise over the scene, rough with age."),
    (("metropolis",), "Layers of glass, concrete and distant windows give the city depth."),
    (("town",), "Rooftops and winding lanes give the town a lived-in character."),
    (("forest",), "Layers of trunks and leaves recede into a soft haze."),
    (("snow",), "Fine frost and ice crystals glint on every frozen surface."),
    (("desert",), "Wind-carved ripples run across the sand toward the horizon."),
    (("coast",), "Foam and spray catch the light along the water's edge."),
    (("water",), "Light glints and shifts on the surface of the water."),
    (("mountain",), "Ridges fold into the distance, each softer than the last."),
    (("garden",), "Leaves and petals stir softly, layered in depth around the subject."),
]

# Clothing words: no "casual home clothes" for a subject the user already dressed.
_DRESSED = {"wearing", "wears", "dressed", "dress", "suit", "coat", "robe", "uniform", "clothes", "attire",
            "armor", "armour", "jacket", "shirt", "gown", "hat", "costume", "sunglasses", "穿", "戴", "衣", "裙"}
_FEMALE = ({"woman", "women", "girl", "girls", "she", "her", "lady", "grandmother", "grandma", "granny", "mother",
            "ballerina", "princess", "queen", "witch"}, ["她", "女", "奶奶", "妈妈", "姑娘", "公主", "外婆", "姥姥", "婆婆", "老太太"])
_MALE = ({"man", "men", "boy", "boys", "he", "his", "grandfather", "grandpa", "father", "king", "prince", "monk"},
         ["他", "男", "爷爷", "爸爸", "王子", "和尚", "老头"])
_PLURAL = {"two", "three", "several", "many", "couple", "armies", "people", "crowd", "children", "women", "men",
           "girls", "boys", "lovers", "hugging", "hug", "embrace", "embracing", "and"}


@dataclass(frozen=True)
class Cues:
    """What the director read from an idea."""

    kinds: frozenset[str]
    feeling: str | None
    face: str  # how to name the subject's face: "her face", "his face", "their faces", "the subject"
    possessive: str
    pronoun: str
    dressed: bool

    def has(self, *keys: str) -> bool:
        return all(k in self.kinds for k in keys)


def states_light(phrase: str) -> bool:
    """True when the user's lighting phrase names the light itself ("soft night lighting"),
    not only a time or place that implies it ("under the starry night sky", "at dawn")."""
    return bool(set(lx.words(phrase)) & EXPLICIT_LIGHT) or bool(_EXPLICIT_LIGHT_PHRASES.search(phrase)) \
        or any(c in phrase for c in ("光", "灯", "照"))


def _present(words: set[str], text: str, cue: tuple[set[str], list[str]]) -> bool:
    english, chinese = cue
    return bool(words & english) or any(c in text for c in chinese)


def read_cues(text: str) -> Cues:
    """The content cues of an idea, in English or Chinese. Deterministic and fast."""
    words = set(lx.words(text))
    kinds = frozenset(k for k, cue in CUES.items() if _present(words, text, cue))
    if ("sun" in words and words & {"rise", "rises", "rising", "rose"}) or "太阳升起" in text:
        kinds |= {"dawn"}
    if "fish" in words and words & {"swims", "swim", "swimming"} and "underwater" not in kinds \
            and words & {"underwater", "reef", "sea", "ocean", "coral"}:
        kinds |= {"underwater"}
    feeling = next((f for f, cue in FEELINGS.items() if _present(words, text, cue)), None)
    if feeling:
        kinds |= {"feeling"}
    female, male = _present(words, text, _FEMALE), _present(words, text, _MALE)
    plural = (female and male) or bool(words & _PLURAL & {"two", "three", "several", "many", "couple", "armies",
                                                           "people", "crowd", "children", "women", "men",
                                                           "girls", "boys", "lovers"}) \
        or "embrace" in kinds or any(c in text for c in ("两个人", "他们", "她们", "人们", "一群", "情侣"))
    if plural:
        face, possessive, pronoun = "their faces", "their", "they"
    elif female:
        face, possessive, pronoun = "her face", "her", "she"
    elif male:
        face, possessive, pronoun = "his face", "his", "he"
    elif "person" in kinds or "face" in kinds:
        face, possessive, pronoun = "the face", "their", "they"
    else:
        face, possessive, pronoun = "the subject", "its", "it"
    dressed = bool(words & _DRESSED) or any(c in text for c in _DRESSED if not c.isascii())
    return Cues(kinds=kinds, feeling=feeling, face=face, possessive=possessive,
                pronoun=pronoun, dressed=dressed)


def _first(rules, cues: Cues) -> str | None:
    return next(iter(_all(rules, cues)), None)


def _all(rules, cues: Cues) -> list[str]:
    return [_fill(phrase, cues) for keys, phrase, *_ in rules if cues.has(*keys)]


def _fill(phrase: str, cues: Cues) -> str:
    wears = "wear" if cues.pronoun == "they" else "wears"
    return (phrase.replace("{face}", cues.face).replace("{possessive}", cues.possessive)
            .replace("{Pronoun} wears", f"{cues.pronoun.capitalize()} {wears}")
            .replace("{pronoun} wears", f"{cues.pronoun} {wears}"))


# The candidates for a slot, best first; the rule backend takes the first that does not
# clash with the user's words (rules.conflicts).


def cameras(cues: Cues, mode: str) -> list[str]:
    return _all(I2V_CAMERA_RULES if mode == "i2v" else CAMERA_RULES, cues)


TIME_CUES = {"night", "dawn", "dusk", "morning", "noon"}


def lightings(cues: Cues) -> list[tuple[str, bool, bool]]:
    """(phrase, strong, from_time): strong cues beat a style preset's lighting; a phrase made
    from the user's own time of day ("night" -> moonlight) may name that time."""
    return [(_fill(phrase, cues), strong, bool(set(keys) & TIME_CUES))
            for keys, phrase, strong in LIGHT_RULES if cues.has(*keys)]


def moods(cues: Cues) -> list[tuple[str, bool]]:
    """(phrase, from_feeling): a mood made from the feeling the user names agrees with it."""
    out = [(MOOD_BY_FEELING[cues.feeling], True)] if cues.feeling else []
    return out + [(p, False) for p in _all(MOOD_RULES, cues)]


def movements(cues: Cues) -> list[str]:
    return _all(MOVEMENT_RULES, cues)


def scenes(cues: Cues) -> list[str]:
    return _all(SCENE_RULES, cues)


def details(cues: Cues) -> tuple[str | None, str | None]:
    """A concrete sentence about the subject and one about the place (None where no cue fits)."""
    subject = next((_fill(sentence, cues) for keys, sentence in SUBJECT_DETAIL
                    if cues.has(*keys) and not (cues.dressed and "wears" in sentence)), None)
    return subject, _first(SCENE_DETAIL, cues)


def all_phrases() -> list[str]:
    """Every phrase the director can write (the tests check them for colour words)."""
    out = [p for _, p in CAMERA_RULES + I2V_CAMERA_RULES + MOOD_RULES + MOVEMENT_RULES + SCENE_RULES + SUBJECT_DETAIL
           + SCENE_DETAIL]
    out += [p for _, p, _ in LIGHT_RULES] + list(MOOD_BY_FEELING.values())
    return out
