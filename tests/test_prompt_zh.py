"""Chinese ideas: the rule backend's shapes-world translation, open content kept with a
note, and the LLM backend translating (against a real local chat-completions server)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_prompt_llm import _config, server  # noqa: F401  (server is a fixture)

from shotsmith.eval.adherence import slots_from_caption
from shotsmith.prompt import enhance, zh

DATA = Path(__file__).resolve().parent / "data"
CJK = re.compile(r"[\u3400-\u9fff]")
EMBEDDED_LIMIT = 48  # the embedded shapes model's caption window (models/registry.py)


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


ROWS = _rows("shapes_zh.jsonl") + _rows("shapes_zh_blind.jsonl")


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_a_chinese_shapes_idea_becomes_an_english_prompt_the_model_reads(row):
    reading = zh.read(row["prompt"])
    assert reading.slots()["background"] == row["expected"]["background"]
    assert reading.slots()["objects"] == row["expected"]["objects"]
    assert reading.complete, reading.untranslated  # nothing left in Chinese
    result = enhance(row["prompt"], token_limit=EMBEDDED_LIMIT)
    assert not CJK.search(result.prompt), result.prompt
    assert result.language == "zh" and result.original.startswith(row["prompt"].rstrip("。"))
    # the embedded model gets the idea in its own training words alone, no filler (docs/prompt-agent.md);
    # the plain translation is reported beside it
    assert result.prompt == reading.canonical() and result.translation == reading.english()
    assert result.tokens <= EMBEDDED_LIMIT
    # what the eval reads from the prompt the model gets is what the Chinese asked for
    read_back = slots_from_caption(result.prompt)
    assert read_back["background"] == row["expected"]["background"], result.prompt
    assert [(o["colour"], o["shape"], o["motion"]) for o in read_back["objects"]] == \
        [(o["colour"], o["shape"], o["motion"]) for o in row["expected"]["objects"]], result.prompt


def test_words_without_an_offline_translation_are_left_out_for_the_embedded_model_and_said():
    idea = "一个红色的球在草地上向右滚动，旁边有一只猫"
    short = enhance(idea, token_limit=EMBEDDED_LIMIT)
    assert short.prompt == "A red circle moves right on green grass." and short.original.startswith(idea)
    assert any("'猫'" in note and "left out of the prompt" in note for note in short.notes)
    # a model with a long window keeps them, after the translation
    assert "猫" in enhance(idea).prompt


def test_the_issue_example_is_translated_and_said():
    result = enhance("一个红色的球在草地上向右滚动")
    assert "A red ball rolls to the right on green grass." in result.prompt
    assert not CJK.search(result.prompt)
    assert any("translated into English" in note for note in result.notes)
    assert result.tokens <= 226


@pytest.mark.parametrize("words, slot, value", [
    (["红色的球", "红球", "大红色的球"], "colour", "red"),
    (["红色的圆", "红色的球", "红色圆形", "红色的圆球", "红色小球"], "shape", "circle"),
    (["红色方块", "红色的盒子", "红色立方体", "红色正方形"], "shape", "square"),
    (["红色三角形", "红色的三角", "红色金字塔"], "shape", "triangle"),
    (["红球向右移动", "红球往右滚", "红球朝右边走", "红球从左往右移动"], "motion", "right"),
    (["红球向左移动", "红球往左飘", "红球从右往左移动"], "motion", "left"),
    (["红球上升", "红球往上飞", "红球慢慢升起", "红球飘了起来"], "motion", "up"),
    (["红球下落", "红球往下掉", "红球掉了下来", "红球坠落"], "motion", "down"),
    (["红球一动不动", "红球静止", "红球停在原地", "红球没有动"], "motion", "still"),
    (["红球变大", "红球越来越大", "红球膨胀"], "motion", "grows"),
    (["红球变小", "红球越来越小", "红球缩小"], "motion", "shrinks"),
])
def test_synonyms_and_word_orders(words, slot, value):
    for text in words:
        obj = zh.read(text).objects[0]
        assert getattr(obj, slot) == value, (text, obj)


@pytest.mark.parametrize("text, background", [
    ("蓝天下一个红球", "sky"), ("天空中一个红球", "sky"), ("夜晚一个红球", "night"), ("夜空里一个红球", "night"),
    ("黑夜中一个红球", "night"), ("草地上一个红球", "grass"), ("草坪上一个红球", "grass"), ("沙滩上一个红球", "sand"),
    ("沙漠里一个红球", "sand"), ("灰色背景前一个红球", "gray studio"), ("摄影棚里一个红球", "gray studio"),
])
def test_backgrounds(text, background):
    assert zh.read(text).background == background


def test_counts_sizes_and_both():
    two = zh.read("草地上两个红色的球往右滚")
    assert two.objects[0].count == 2 and "Two red balls roll to the right" in two.english()
    small = zh.read("一个白色的小方块往上飘")
    assert "small white block" in small.english()
    both = zh.read("红色方块和蓝色三角形都往下掉")
    assert [o.motion for o in both.objects] == ["down", "down"]
    apart = zh.read("红色方块往左，蓝色三角形往右")
    assert [o.motion for o in apart.objects] == ["left", "right"]
    # a colour that belongs to the background is not the shape's
    assert zh.read("漆黑的夜晚，一个蓝色的立方体向上飞去").objects[0].colour == "blue"
    assert zh.read("蓝天下一个球").objects[0].colour is None


def test_open_chinese_content_is_kept_and_the_note_says_how_to_translate():
    result = enhance("一位老奶奶在厨房里做饭")
    assert "一位老奶奶在厨房里做饭" in result.prompt
    assert result.language == "zh" and result.translation is None
    assert any("kept as written" in n and "LLM" in n for n in result.notes)
    # the director still reads the Chinese: a person at work in a kitchen
    assert "close-up" in result.slots["camera"].text and "window light" in result.slots["lighting"].text
    night = enhance("一个女孩在黑暗的房间里点着蜡烛")
    assert "candlelight" in night.slots["lighting"].text and "low-key" in night.prompt


def test_words_outside_the_shapes_world_stay_in_chinese_and_are_named():
    result = enhance("一个红色的球在草地上向右滚动，阳光明媚")
    assert result.prompt.index("A red ball rolls to the right on green grass.") < result.prompt.index("阳光明媚")
    assert any("'阳光明媚'" in n for n in result.notes)


def test_chinese_scene_and_content():
    result = enhance(scene="厨房里摆满了锅碗瓢盆", content="一位老奶奶在做饭")
    assert "一位老奶奶在做饭。" in result.prompt and "厨房里摆满了锅碗瓢盆。" in result.prompt
    shapes = enhance(scene="绿色的草地", content="一个红色的球向右滚动", token_limit=EMBEDDED_LIMIT)
    assert "A red circle moves right on green grass." in shapes.prompt


def test_cli_prints_the_notes_on_stderr():
    import typer
    from typer.testing import CliRunner

    from shotsmith.prompt.cli import enhance_command

    app = typer.Typer()
    app.command("enhance")(enhance_command)
    app.command("noop")(lambda: None)
    out = CliRunner().invoke(app, ["enhance", "--local", "一位老奶奶在厨房里做饭"])
    assert out.exit_code == 0
    assert "一位老奶奶在厨房里做饭" in out.stdout
    assert "note: text: Chinese, kept as written" in out.stderr


# --- the LLM backend translates --------------------------------------------------------------

IDEA = "两只熊猫在竹林里吃苹果，夜晚"
GOOD_EN = ("Medium close-up at eye level, lit by low-key moonlight filtering through the stalks. Two pandas sit "
           "in a bamboo forest at night, eating apples with slow, careful bites. Tall stalks sway softly behind "
           "them. The mood is quiet and mysterious, in a realistic documentary style with fine detail.")


def test_llm_translates_a_chinese_idea_in_one_call(server):  # noqa: F811
    server.script = [{"content": GOOD_EN}]
    result = enhance(IDEA, backend="llm", llm=_config(server))
    assert result.backend_used == "llm" and result.fallback_reason is None
    assert result.prompt == GOOD_EN and result.original == IDEA + "。"
    assert result.language == "zh"
    assert any("LLM translated" in n for n in result.notes)
    [request] = server.requests
    messages = request["body"]["messages"]
    assert "Chinese" in messages[0]["content"] and "English" in messages[0]["content"]
    last = messages[-1]["content"]
    assert last.index("<idea>") < last.index(IDEA) < last.index("</idea>")  # the idea is data, fenced


@pytest.mark.parametrize("answer, reason", [
    (GOOD_EN.replace("Two pandas", "Pandas"), "两只 (two)"),
    (GOOD_EN.replace(" at night", "").replace("moonlight", "light"), "夜 (night)"),
    (GOOD_EN.replace("apples", "bamboo shoots"), "苹果 (apple)"),
    ("两只熊猫在竹林里吃苹果。 " + GOOD_EN, "not all English"),
    (" ".join([GOOD_EN] * 4), "token limit"),
])
def test_llm_answers_that_lose_facts_or_are_not_english_fall_back(server, answer, reason):  # noqa: F811
    server.script = [{"content": answer}]
    result = enhance(IDEA, backend="llm", llm=_config(server))
    assert result.backend_used == "rules"
    assert reason in result.fallback_reason
    assert IDEA in result.prompt  # the rule backend kept the idea, and says it could not translate it
    assert any("kept as written" in n for n in result.notes)


def test_llm_shapes_translation_is_checked_slot_by_slot(server):  # noqa: F811
    idea = "蓝天下，一个橙色的球慢慢往左飘"
    server.script = [{"content": "Static wide shot in soft even light. An orange ball drifts slowly to the right "
                                 "across a clear blue sky. The mood is calm and playful, in a clean minimalist style."}]
    wrong = enhance(idea, backend="llm", llm=_config(server))
    assert wrong.backend_used == "rules" and "left (movement)" in wrong.fallback_reason
    # the fallback still translates the shapes world
    assert "An orange ball slowly drifts to the left against the blue sky." in wrong.prompt
    server.script = [{"content": "Static wide shot in soft even light. An orange ball drifts slowly to the left "
                                 "across a clear blue sky. The mood is calm and playful, in a clean minimalist style."}]
    right = enhance(idea, backend="llm", llm=_config(server))
    assert right.backend_used == "llm"


def test_api_enhance_returns_notes_and_language():
    from shotsmith.api.native import enhance_prompt
    from shotsmith.settings import Settings

    answer = enhance_prompt({"text": "一位老奶奶在厨房里做饭"}, Settings())
    assert answer["language"] == "zh" and answer["original"].startswith("一位老奶奶")
    assert any("kept as written" in n for n in answer["notes"])
    translated = enhance_prompt({"text": "一个红色的球在草地上向右滚动"}, Settings())
    assert translated["translation"] == "A red ball rolls to the right on green grass."
