"""The diagnosis section of a train-run report: the verdict, its evidence, the fixes, a fix applied.

It reads diagnosis.json and fix.json, the files ``synbiolab diagnose`` and ``synbiolab fix`` write, and names
every number with the weights and the split it was measured on (the same names the terminal prints).
"""

from __future__ import annotations

import json
import math

from markupsafe import Markup

from ...course import verdict_pages
from ...diagnose.rules import FIX_TABLE_ROWS, RULES_TEXT, evidence_caption, evidence_rows, fix_table_blocks
from ..html import img_tag, render


def _number(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _fix_applied(run) -> dict | None:
    path = run.path / "fix.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    before, after = data["before"], data["after"]
    headings = fix_table_blocks(before, after)
    blocks: dict[str, list] = {}
    for block, key, name in FIX_TABLE_ROWS:
        if key not in before and key not in after:
            continue  # fix.json written before the last epoch's numbers were recorded
        b, a = before.get(key, math.nan), after.get(key, math.nan)
        b, a = math.nan if b is None else b, math.nan if a is None else a
        blocks.setdefault(headings[block], []).append((name, _number(b), _number(a), f"{a - b:+.4f}"
                                                        if math.isfinite(a - b) else "n/a"))
    figure = run.path / "figures" / "fix_comparison.png"
    return {"title": data["fix"]["title"], "overrides": data["fix"]["overrides"], "source": data["source_run"],
            "verdict_before": data.get("verdict_before", "?"), "blocks": list(blocks.items()),
            "figure": img_tag(figure.read_bytes(), "fix comparison") if figure.is_file() else None}


def section_diagnosis(run) -> Markup | None:
    """The diagnosis of the run, or None before ``synbiolab diagnose`` has run."""
    path = run.path / "diagnosis.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    evidence = data["evidence"]
    return render("sections/diagnosis.html", verdict=data["verdict"],
                  reason=data["summary"].split(": ", 1)[-1], caption=evidence_caption(evidence),
                  evidence=evidence_rows(evidence), fixes=data["fixes"], notes=data["notes"], path=str(run.path),
                  rules=data.get("rules", RULES_TEXT), thresholds=list(data.get("thresholds", {}).items()),
                  fix_applied=_fix_applied(run), course=verdict_pages())
