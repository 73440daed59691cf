"""The config section every run report ends with: config.json as it is, and the data set's recipe if it used one."""

from __future__ import annotations

import json

from markupsafe import Markup

from ...data.recipes import recipe_for
from ..html import render


def recipe_note(raw_config: dict) -> dict | None:
    """The recipe of the run's data set, when the run trained its model: settings, how they were chosen and
    which of them the run changed (by a config file, an option or --set)."""
    data = (raw_config.get("data") or {}).get("name")
    model = raw_config.get("model") or {}
    recipe = recipe_for(data)
    if recipe is None or model.get("name") != recipe.model:
        return None
    changed = []
    for key, value in recipe.settings.items():
        section, _, name = key.partition(".")
        holder = model.get("params", {}) if section == "model" else raw_config.get(section) or {}
        if name in holder and holder[name] != value:
            changed.append(f"{key}={json.dumps(holder[name])} (recipe: {json.dumps(value)})")
    settings = ", ".join(f"{k}={json.dumps(v)}" for k, v in recipe.settings.items()) or "the model's defaults"
    return {"data": data, "model": recipe.model, "settings": settings, "chosen": recipe.chosen, "changed": changed}


def section_config(run) -> Markup:
    return render("sections/config.html", config=json.dumps(run.raw_config, indent=2),
                  recipe=recipe_note(run.raw_config))
