"""Model families by name; `family_for_class` recognises a folder from its pipeline class."""

from __future__ import annotations

from shotsmith.models.families.base import TASKS, Family, Output, to_uint8
from shotsmith.models.families.cogvideox import COGVIDEOX
from shotsmith.models.families.hunyuan import HUNYUAN_VIDEO_15
from shotsmith.models.families.ltx import LTX
from shotsmith.models.families.ltx2 import LTX2
from shotsmith.models.families.wan import WAN

FAMILIES: dict[str, Family] = {f.name: f for f in (COGVIDEOX, WAN, LTX, HUNYUAN_VIDEO_15, LTX2)}


def get_family(name: str) -> Family:
    return FAMILIES[name]


def folder_rules(family: Family, folder, index: dict) -> dict:
    return family.folder_rules(folder, index)


def family_for_class(class_name: str) -> tuple[Family, str] | None:
    """(family, task) for a diffusers pipeline class name, e.g. 'WanPipeline' -> (WAN, 't2v')."""
    for family in FAMILIES.values():
        task = family.task_for_class(class_name)
        if task is not None:
            return family, task
    return None


__all__ = ["FAMILIES", "TASKS", "Family", "Output", "family_for_class", "get_family", "to_uint8"]
