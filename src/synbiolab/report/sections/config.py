"""The config section every run report ends with: config.json as it is."""

from __future__ import annotations

import json

from markupsafe import Markup

from ..html import render


def section_config(run) -> Markup:
    return render("sections/config.html", config=json.dumps(run.raw_config, indent=2))
