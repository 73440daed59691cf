"""The one module that writes whole HTML pages: Jinja2 templates, tables and figures.

Every report (a run, a GAN run, a comparison, a sweep, a design) is a list of sections rendered into
``templates/base.html``; a section is a fragment rendered from ``templates/sections/<name>.html`` or built
with the helpers below. Pages are self-contained: figures are PNGs saved in the folder's ``figures/`` and
inlined as base64, and no page loads anything from another host. The web page (``synbiolab serve``) renders
the same section templates.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape  # noqa: E402
from markupsafe import Markup, escape  # noqa: E402

from ..io import atomic_write_bytes, atomic_write_text  # noqa: E402
from ..runs import subfolder  # noqa: E402

_ENV = Environment(loader=PackageLoader("synbiolab.report", "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def fmt(value) -> str:
    """A number as a report shows it: 4 decimals, thousands separators for large values, 'nan' for NaN."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    return str(value)


_ENV.filters["fmt"] = fmt


def render(template: str, **context) -> Markup:
    """Render ``templates/<template>`` (e.g. ``sections/diagnosis.html``) to a safe HTML fragment."""
    return Markup(_ENV.get_template(template).render(**context))


def table(rows: list[dict], columns: list[str] | None = None) -> Markup:
    """An HTML table of `rows` (values escaped and formatted with :func:`fmt`)."""
    return render("table.html", rows=rows, columns=columns or (list(rows[0]) if rows else []))


def img_tag(png: bytes, alt: str) -> Markup:
    return Markup(f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')


def save_figure(fig, folder: str | Path, name: str, dpi: int = 110) -> Markup:
    """Save a matplotlib figure as ``<folder>/figures/<name>.png`` and return an <img> with it inlined.

    Args:
        fig: the figure (closed here).
        folder: the run (or comparison, sweep, design) folder; anything with a ``path`` attribute works too.
        name: the file name without ``.png``.
    """
    folder = getattr(folder, "path", folder)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    atomic_write_bytes(subfolder(folder, "figures") / f"{name}.png", data)
    return img_tag(data, name)


def write_page(path: str | Path, title: str, sections: list, heading: str | None = None,
               contents: bool = False) -> Path:
    """Write a whole page: `sections` (HTML fragments; None entries are skipped) in the base template.

    Args:
        path: the page to write (atomically), e.g. ``run/report.html``.
        title: the page's title.
        sections: (name, fragment) pairs or bare fragments, in order.
        heading: the <h1> (default: the title).
        contents: show a line of links to the named sections under the heading (for long pages).
    """
    items = []
    for i, item in enumerate(sections):
        name, fragment = item if isinstance(item, tuple) else (f"section-{i + 1}", item)
        if fragment:
            items.append({"name": name, "label": name.replace("_", " "), "html": Markup(fragment)})
    page = render("base.html", title=title, heading=heading or title, sections=items, contents=contents)
    path = Path(path)
    atomic_write_text(path, page)
    return path
