"""Make the theory pages' figures at build time with the project's own code.

Every script in ``theory/figures/`` defines ``make(out: Path) -> list[Path]`` and writes PNG files into
``theory/_figures/``; the pages include them by name. No figure is drawn by hand or committed: when the
code that makes a figure changes, the figure changes with it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def make_figures(app) -> None:
    source = Path(app.srcdir) / "theory" / "figures"
    out = Path(app.srcdir) / "theory" / "_figures"
    out.mkdir(parents=True, exist_ok=True)
    for script in sorted(source.glob("*.py")):
        started = time.perf_counter()
        spec = importlib.util.spec_from_file_location(f"course_figure_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        made = module.make(out)
        logger.info(f"theory figures: {script.name} -> {', '.join(p.name for p in made)} "
                    f"({time.perf_counter() - started:.1f} s)")


def setup(app):
    app.connect("builder-inited", make_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
