"""Diagnosis: is a run underfitting, a good fit, overfitting, still improving or unstable, and what to change.

``rules.py``  thresholds, evidence and verdicts (pure: history and facts in, a Diagnosis out)
``fixes.py``  the fix book: ranked, runnable config overrides for each verdict (pure)
``noise.py``  the label-noise estimate (cross-validated confident counting)
``run.py``    a run folder in: its facts from the files training wrote, diagnosis.json out, and ``fix``
              (rerun with one fix, compare before and after)
"""

from .fixes import CAPACITY_FACTOR, Fix, format_value, recommend_fixes, scale_capacity
from .noise import estimate_label_noise
from .rules import (
    NOISE_REPORT_FRACTION,
    OVERFIT_GAP_FRACTION,
    RULES_TEXT,
    UNDERFIT_TRAIN_FRACTION,
    VERDICTS,
    Diagnosis,
    RunFacts,
    baseline_loss,
    check_history,
    compute_evidence,
    decide_verdict,
    diagnose_history,
    evidence_rows,
    format_diagnosis,
    reference_error,
    thresholds,
)

# The run-level names are loaded on first use. run.py imports training and the reports, and both import the
# pure modules above while they load (training saves the facts diagnose reads; the report names the evidence
# as the terminal does); importing run.py here would load it half-way through their own import.
_RUN_NAMES = ("FixResult", "diagnose", "errors_of", "fix", "run_facts")


def __getattr__(name: str):
    if name in _RUN_NAMES:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CAPACITY_FACTOR", "NOISE_REPORT_FRACTION", "OVERFIT_GAP_FRACTION", "RULES_TEXT", "UNDERFIT_TRAIN_FRACTION",
    "VERDICTS", "Diagnosis", "Fix", "FixResult", "RunFacts", "baseline_loss", "check_history", "compute_evidence",
    "decide_verdict", "diagnose", "diagnose_history", "errors_of", "estimate_label_noise", "evidence_rows", "fix",
    "format_diagnosis", "format_value", "recommend_fixes", "reference_error", "run_facts", "scale_capacity",
    "thresholds",
]
