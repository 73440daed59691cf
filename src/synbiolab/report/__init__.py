"""Reports: the human view of every folder the project writes.

``html.py``      the one page writer (``write_page``), Jinja2 templates, tables, figures saved and inlined
``figures.py``   the figures reports share (learning curves, confusion matrix, image grids, before/after a fix)
``outputs.py``   predictions.csv, the test outputs training saved, read back (or recomputed for older runs)
``run.py``       a run folder's report.html: the list of sections of each kind of run, ``write_report``
``sections/``    one module per section family: diagnosis, interpret, gan, design, config
"""

from .figures import confusion_figure, image_grid_figure, learning_curves_figure
from .html import fmt, img_tag, render, save_figure, table, write_page
from .run import register_section, write_gan_report, write_report

__all__ = ["confusion_figure", "fmt", "image_grid_figure", "img_tag", "learning_curves_figure", "register_section",
           "render", "save_figure", "table", "write_gan_report", "write_page", "write_report"]
