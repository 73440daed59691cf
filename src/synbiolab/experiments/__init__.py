"""Experiments: many trainings or fits, one question, one folder of their own kind.

``compare.py``   classical, learned and combined pipelines on one split (``synbiolab compare``; kind "compare")
``pipelines.py`` one pipeline of a comparison: its name (FEATURES+CLASSIFIER), its features, its fit
``sweep.py``     one run per value of any config field: capacity, learning and epochs curves (kind "sweep")
``crossval.py``  k-fold cross-validation beside the k-mer baseline (``synbiolab cv``; kind "cv")
``tune.py``      Optuna search of settings on validation data (``synbiolab tune``; kind "tune")

Each starts its folder with ``runs.start_folder`` (kind.json first, locked until the job ends), trains with
the one loop (``train``), and hands its numbers to a report section (``report/sections/``) for the page.
"""

from .compare import compare_pipelines
from .crossval import cross_validate
from .sweep import sweep

__all__ = ["compare_pipelines", "cross_validate", "sweep"]
