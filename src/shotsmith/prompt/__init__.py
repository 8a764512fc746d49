"""The prompt agent: turn an idea into a formula prompt for a CogVideoX model.

    from shotsmith.prompt import enhance
    enhance("a red ball rolls to the right on green grass").prompt

Formula: [camera] + [lighting] + [subject] + [movement] + [scene] + [mood/style].
Two backends: "rules" (default; offline, deterministic) and "llm" (any OpenAI-compatible
chat endpoint, falling back to rules). See docs/prompt-agent.md.
"""

from .agent import MAX_CHARS, enhance
from .for_model import enhance_for_model
from .llm import LLMConfig
from .presets import Preset, list_presets, load_preset
from .schema import SLOTS, EnhanceResult, PromptError, SlotInfo

__all__ = [
    "MAX_CHARS",
    "SLOTS",
    "EnhanceResult",
    "LLMConfig",
    "Preset",
    "PromptError",
    "SlotInfo",
    "enhance",
    "enhance_for_model",
    "list_presets",
    "load_preset",
]
