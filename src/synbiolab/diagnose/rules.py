"""Generalisation verdicts: is a run underfitting, a good fit, overfitting, still improving or unstable?

The rules below read a run's history (one row per epoch) and a few facts about the run (task, size of
the model and of the training set, the error of the trivial majority-class predictor) and return a
verdict, the numbers behind it and ranked fixes (``fixes.py``). There is no learned component: each
threshold is a named constant, documented where it is defined and printed in every report. Everything
here is pure: it reads and writes nothing, so it is tested on hand-written histories.

The rules judge the *last* epoch in history.csv (what training ended with); the weights a run keeps are
the best epoch's, measured again in metrics.json. Both are shown, each under its own name.

Errors are compared on one scale for every task. The *reference error* is the error of the trivial
predictor (the majority class for classification; the mean for regression, whose 1 - R^2 is 1), so
"0.15 of the reference error" means the same thing on MNIST (10 classes) and on a binary promoter task.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..course import verdict_line
from ..errors import SynbiolabError
from ..runs import HISTORY_COLUMNS
from .fixes import (  # noqa: F401 - the fix book's thresholds are part of the rule book that reports print
    BARELY_MOVED_FRACTION,
    CAPACITY_FACTOR,
    EARLY_STOP_MIN_GAIN_FRACTION,
    MORE_DATA_MIN_FACTOR,
    STUCK_FRACTION,
    WEIGHT_DECAY_ADAMW,
    WEIGHT_DECAY_L2,
    Fix,
    recommend_fixes,
)

# ---------------------------------------------------------------------------------------------------
# Thresholds (the whole rule book; shown in every report)

#: Training error at or above this fraction of the reference error means the model cannot fit even
#: the data it sees: underfitting (high bias). On MNIST (reference 0.89) that is about 13 % error.
UNDERFIT_TRAIN_FRACTION = 0.15

#: A generalisation gap (validation error - training error) at or above this fraction of the reference
#: error means the model learned the training set far better than the task: overfitting (high
#: variance). On MNIST that is about 4.5 percentage points.
OVERFIT_GAP_FRACTION = 0.05

#: Validation loss that ended this fraction above its minimum, with the minimum at least
#: OVERFIT_MIN_EPOCHS_SINCE_BEST epochs before the end, also counts as overfitting when the gap is
#: at least OVERFIT_GAP_WITH_RISE_FRACTION of the reference error (the model grows overconfident on
#: examples it will never see).
OVERFIT_VAL_LOSS_RISE = 0.20
OVERFIT_MIN_EPOCHS_SINCE_BEST = 2
OVERFIT_GAP_WITH_RISE_FRACTION = 0.02

#: Number of final epochs over which the trend of the validation loss and error is measured (2: the
#: change over the last epoch). Curves decelerate, so a longer window reports the steep early descent
#: of a short run as if it were still going on.
TREND_WINDOW = 2

#: "Still improving": the validation loss is lowest at the last epoch, it fell by at least this
#: fraction per epoch over the trend window, and the validation error fell by at least
#: STILL_IMPROVING_ERROR_SLOPE of the reference error per epoch (about 0.9 percentage points on MNIST:
#: a loss that creeps down while the error has settled is not called unfinished).
STILL_IMPROVING_LOSS_SLOPE = 0.01
STILL_IMPROVING_ERROR_SLOPE = 0.01

#: A validation loss that fell by at least this fraction in the last epoch is still improving even when
#: the error did not move: on a small validation set the error moves in coarse steps (1 of 216
#: examples is 0.5 %), the loss does not.
STILL_IMPROVING_STRONG_LOSS_SLOPE = 0.25

#: "Unstable": a training loss (or any loss) that is NaN or infinite; a training loss that ends this
#: factor above its own minimum (diverged); a training loss that reached this factor times the
#: starting loss at the end of an epoch (far worse than guessing: the weights blew up); a loss that
#: barely moved at a learning rate at or above UNSTABLE_HIGH_LR for its optimizer (the units died in
#: the first steps and the network outputs a constant); or at least UNSTABLE_MIN_RISES
#: epochs in which the training loss rose by more than UNSTABLE_RISE of its previous value and by more
#: than UNSTABLE_RISE_OF_START of the starting loss (oscillation: a falling loss is the normal state of
#: a training set; wobbles of a loss already near zero do not count).
UNSTABLE_DIVERGE_FACTOR = 1.5
UNSTABLE_BASELINE_FACTOR = 3.0
UNSTABLE_HIGH_LR = {"adam": 0.03, "adamw": 0.03, "sgd": 1.0}
UNSTABLE_RISE = 0.10
UNSTABLE_RISE_OF_START = 0.02
UNSTABLE_MIN_RISES = 2

#: A label-noise estimate at or above this fraction is reported as a likely cause (it is always
#: printed when measured). The estimate also counts ambiguous examples: 3 to 6 % on clean MNIST
#: subsets, 0 to 1 % on the 8x8 digits.
NOISE_REPORT_FRACTION = 0.10

VERDICTS = ("underfitting", "good fit", "overfitting", "still improving", "unstable")


def thresholds() -> dict[str, float]:
    """Returns every threshold of the rule book by name (for reports and diagnosis.json)."""
    names = ["UNDERFIT_TRAIN_FRACTION", "OVERFIT_GAP_FRACTION", "OVERFIT_VAL_LOSS_RISE",
             "OVERFIT_MIN_EPOCHS_SINCE_BEST", "OVERFIT_GAP_WITH_RISE_FRACTION", "TREND_WINDOW",
             "STILL_IMPROVING_LOSS_SLOPE", "STILL_IMPROVING_ERROR_SLOPE", "STILL_IMPROVING_STRONG_LOSS_SLOPE",
             "UNSTABLE_DIVERGE_FACTOR", "UNSTABLE_BASELINE_FACTOR", "UNSTABLE_RISE", "UNSTABLE_RISE_OF_START",
             "UNSTABLE_MIN_RISES", "BARELY_MOVED_FRACTION", "STUCK_FRACTION", "EARLY_STOP_MIN_GAIN_FRACTION",
             "MORE_DATA_MIN_FACTOR", "NOISE_REPORT_FRACTION", "WEIGHT_DECAY_ADAMW", "WEIGHT_DECAY_L2",
             "CAPACITY_FACTOR"]
    values = {name: globals()[name] for name in names}
    values.update({f"UNSTABLE_HIGH_LR[{optimizer}]": lr for optimizer, lr in UNSTABLE_HIGH_LR.items()})
    return values


RULES_TEXT = (
    "Errors are measured in units of the reference error (the trivial predictor's: majority class, "
    "or the mean for regression).",
    "unstable: a NaN/infinite loss, a training loss that ends UNSTABLE_DIVERGE_FACTOR above its minimum "
    "or reaches UNSTABLE_BASELINE_FACTOR times the starting loss, a loss that barely moved at a learning "
    "rate >= UNSTABLE_HIGH_LR, or UNSTABLE_MIN_RISES epochs where it rose by "
    "more than UNSTABLE_RISE.",
    "underfitting: training error >= UNDERFIT_TRAIN_FRACTION of the reference error.",
    "overfitting: gap (validation - training error) >= OVERFIT_GAP_FRACTION of the reference error, or "
    "validation loss ended OVERFIT_VAL_LOSS_RISE above its minimum (reached OVERFIT_MIN_EPOCHS_SINCE_BEST+ "
    "epochs earlier) with a gap >= OVERFIT_GAP_WITH_RISE_FRACTION.",
    "When both underfitting and overfitting hold, the verdict goes to the one that exceeds its threshold "
    "by the larger factor; the other is noted.",
    "still improving: validation loss lowest at the last epoch, falling >= STILL_IMPROVING_LOSS_SLOPE per "
    "epoch, and validation error falling >= STILL_IMPROVING_ERROR_SLOPE of the reference error per epoch "
    "(or the loss falling >= STILL_IMPROVING_STRONG_LOSS_SLOPE per epoch) over the last TREND_WINDOW "
    "epochs (a single epoch is measured from the trivial predictor).",
    "good fit: none of the above.",
)


# ---------------------------------------------------------------------------------------------------
# Inputs and outputs


@dataclass
class RunFacts:
    """What the rules need to know about a run besides its history.

    Args:
        task: `multiclass`, `binary` or `regression`.
        data_kind: `image` or `sequence` (decides whether image augmentation is offered).
        majority_error: error of the trivial predictor on the training labels (None: 1.0 for regression,
            unknown for classification, then the chance error 1 - 1/n_classes is used when known).
        baseline_loss: the loss where training starts (see `baseline_loss`: the entropy of the class
            frequencies, or the mean square of the regression targets); None when unknown.
        n_classes: number of classes (classification).
        n_parameters: trainable parameters of the model.
        n_train: training examples used.
        n_train_available: training examples the data set could provide (for "more data").
        model_name: registered model name.
        model_params: the model's constructor arguments, defaults included.
        train: the training settings that fixes start from (lr, epochs, weight_decay, patience, augment).
        best_weights_restored: whether the saved model holds the weights of the best epoch (then
            stopping early saves time but not error, and that fix is ranked last).
        diverged_at_step: step at which training stopped on a non-finite loss, if it did.
        label_noise: estimated fraction of wrong training labels (see `estimate_label_noise`), if measured.
        capacity_keys: the constructor arguments that set the model's size (None: as the model registered
            them, ``MODELS[model_name].capacity_keys``).
        status: how training ended: ``finished``, ``diverged``, or ``stopped`` (interrupted or killed
            before metrics.json was written); None when unknown (a bare history).
        epochs_planned: the epochs training was asked for (to say how far a stopped run got).
        n_train_eval: training examples whose error history.csv records each epoch (a fixed subset).
        kept_epoch: the epoch whose weights the run kept (metrics.json's best_epoch), when finished.
        kept_errors: the kept weights' error per split measured at the end ({"train", "val", "test"}).
    """

    task: str = "multiclass"
    data_kind: str = "image"
    majority_error: float | None = None
    baseline_loss: float | None = None
    n_classes: int | None = None
    n_parameters: int | None = None
    n_train: int | None = None
    n_train_available: int | None = None
    model_name: str = "mlp"
    model_params: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    best_weights_restored: bool = False
    diverged_at_step: int | None = None
    label_noise: float | None = None
    capacity_keys: tuple[str, ...] | None = None
    status: str | None = None
    epochs_planned: int | None = None
    n_train_eval: int | None = None
    kept_epoch: int | None = None
    kept_errors: dict | None = None


@dataclass
class Diagnosis:
    """A verdict with its evidence, ranked fixes, notes and the thresholds that produced it."""

    verdict: str
    summary: str
    evidence: dict
    fixes: list[Fix]
    notes: list[str]
    thresholds: dict = field(default_factory=thresholds)

    def to_dict(self) -> dict:
        """Returns a JSON-ready dict (non-finite numbers become None)."""
        data = asdict(self)
        data["evidence"] = {key: _json_number(value) for key, value in self.evidence.items()}
        data["rules"] = list(RULES_TEXT)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Diagnosis:
        """Rebuilds a Diagnosis from `to_dict()` output (e.g. a diagnosis.json)."""
        return cls(verdict=data["verdict"], summary=data["summary"], evidence=dict(data["evidence"]),
                   fixes=[Fix(**fix) for fix in data["fixes"]], notes=list(data["notes"]),
                   thresholds=dict(data.get("thresholds", thresholds())))


def _json_number(value):
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---------------------------------------------------------------------------------------------------
# Evidence


def check_history(history: pd.DataFrame, source: str = "history") -> pd.DataFrame:
    """Validates a history table and returns it sorted by epoch with numeric columns.

    Args:
        history: one row per epoch with the columns of history.csv.
        source: name used in error messages (e.g. the path of history.csv).

    Returns:
        The table sorted by epoch, with float columns.

    Raises:
        SynbiolabError: missing columns, no rows, or no validation values.
    """
    needed = ("epoch", "train_loss", "train_error", "val_loss", "val_error")
    missing = [name for name in needed if name not in history.columns]
    if missing:
        raise SynbiolabError(f"{source}: missing column(s) {', '.join(missing)}; expected the columns "
                             f"{', '.join(HISTORY_COLUMNS)}")
    if len(history) == 0:
        raise SynbiolabError(f"{source}: no epochs recorded; train for at least one epoch before diagnosing")
    table = history.copy()
    for name in table.columns:
        table[name] = pd.to_numeric(table[name], errors="coerce")
    table = table.sort_values("epoch").reset_index(drop=True)
    if table["val_loss"].isna().all() and table["val_error"].isna().all():
        raise SynbiolabError(f"{source}: no validation values; a diagnosis compares training and validation "
                             "error, so train with a validation split")
    return table


def reference_error(facts: RunFacts) -> float:
    """Returns the error of the trivial predictor, the unit in which the rules measure errors."""
    if facts.majority_error is not None and facts.majority_error > 0:
        return float(facts.majority_error)
    if facts.task == "regression":
        return 1.0
    if facts.n_classes:
        return 1.0 - 1.0 / max(facts.n_classes, 2)
    return 0.5


def _slope(values: np.ndarray) -> float:
    """Least-squares slope per step of a short series (0 for fewer than two points)."""
    if len(values) < 2:
        return 0.0
    steps = np.arange(len(values), dtype=float)
    return float(np.polyfit(steps, values, 1)[0])


def compute_evidence(history: pd.DataFrame, facts: RunFacts) -> dict:
    """Computes the numbers that the verdict rests on.

    Args:
        history: the run's history (see `check_history`).
        facts: what is known about the run.

    Returns:
        A flat dict of numbers: final and best errors, the gap (absolute, relative and in reference
        units), the best epoch, trends over the last epochs, instability counts and size ratios.
    """
    table = check_history(history)
    ref = reference_error(facts)
    train_loss = table["train_loss"].to_numpy(float)
    val_loss = table["val_loss"].to_numpy(float)
    train_error = table["train_error"].to_numpy(float)
    val_error = table["val_error"].to_numpy(float)
    epochs = table["epoch"].to_numpy(float)

    finite = np.isfinite(train_loss) & np.isfinite(val_loss)
    first_nonfinite = None if finite.all() else int(epochs[~finite][0])
    best_index = int(np.nanargmin(val_loss)) if np.isfinite(val_loss).any() else len(table) - 1
    # The rules judge where training ended, even when the saved weights are an earlier epoch's: a run
    # that memorised its labels after epoch 30 overfits, and rolling back to epoch 30 hides the symptom,
    # not the cause. The last epoch whose numbers are finite is used (a NaN row has no errors to compare).
    at = len(table) - 1
    finite_rows = np.flatnonzero(finite)
    if not finite[at] and len(finite_rows):
        at = int(finite_rows[-1])

    gap = val_error[at] - train_error[at]
    evidence = {
        "epochs": int(len(table)),
        "reference_error": ref,
        "majority_error": facts.majority_error,
        "judged_epoch": int(epochs[at]),
        "train_error": float(train_error[at]),
        "val_error": float(val_error[at]),
        "train_loss": float(train_loss[at]),
        "val_loss": float(val_loss[at]),
        "final_train_error": float(train_error[-1]),
        "final_val_error": float(val_error[-1]),
        "best_train_error": float(np.nanmin(train_error)) if np.isfinite(train_error).any() else math.nan,
        "best_val_error": float(np.nanmin(val_error)) if np.isfinite(val_error).any() else math.nan,
        "best_epoch": int(epochs[best_index]),
        "best_val_loss": float(val_loss[best_index]),
        "val_error_at_best_epoch": float(val_error[best_index]),
        "epochs_since_best": int(len(table) - 1 - best_index),
        "gap": float(gap),
        # The share of the validation error that the training set does not show.
        "gap_relative": float(gap / val_error[at]) if val_error[at] > 0 else 0.0,
        "train_error_vs_reference": float(train_error[at] / ref),
        "gap_vs_reference": float(gap / ref),
        "first_nonfinite_epoch": first_nonfinite,
        "diverged_at_step": facts.diverged_at_step,
        "n_parameters": facts.n_parameters,
        "n_train": facts.n_train,
        "parameters_per_example": (facts.n_parameters / facts.n_train
                                   if facts.n_parameters and facts.n_train else None),
        "label_noise_estimate": facts.label_noise,
        # Which weights and which data each number belongs to: history.csv measures every epoch's weights on
        # a fixed training subset and on the validation split; metrics.json the kept (best-epoch) weights.
        "n_train_eval": facts.n_train_eval,
        "status": facts.status,
        "epochs_planned": facts.epochs_planned,
        "kept_epoch": facts.kept_epoch,
        **{f"kept_{split}_error": (facts.kept_errors or {}).get(split) for split in ("train", "val", "test")},
    }

    # Trends over the last epochs. One epoch has no trend of its own: it is measured from the
    # trivial predictor, which is where every training run starts.
    good_train = train_loss[np.isfinite(train_loss)]
    good_val = val_loss[np.isfinite(val_loss)]
    good_val_error = val_error[np.isfinite(val_loss)]
    window_loss = good_val[-TREND_WINDOW:]
    window_error = good_val_error[-TREND_WINDOW:]
    if len(window_loss) == 1 and facts.baseline_loss is not None:
        window_loss = np.array([facts.baseline_loss, window_loss[0]])
        window_error = np.array([ref, window_error[0]])
    mean_loss = float(np.mean(np.abs(window_loss))) if len(window_loss) else math.nan
    evidence["val_loss_trend"] = _slope(window_loss) / mean_loss if mean_loss > 0 else 0.0
    evidence["val_error_trend"] = _slope(window_error)
    evidence["trend_epochs"] = int(min(TREND_WINDOW, len(good_val)))
    # Shared with the fix book (more epochs first when the curve has not flattened).
    evidence["val_loss_still_falling"] = bool(evidence["epochs_since_best"] == 0
                                              and -evidence["val_loss_trend"] >= STILL_IMPROVING_LOSS_SLOPE)

    start_loss = facts.baseline_loss if facts.baseline_loss is not None else (
        float(good_train[0]) if len(good_train) else math.nan)
    end_loss = float(good_train[-1]) if len(good_train) else math.nan
    evidence["start_loss"] = start_loss
    moved = (1.0 - end_loss / start_loss) if start_loss and start_loss > 0 else math.nan
    evidence["train_loss_moved"] = moved
    evidence["train_loss_rise_from_min"] = (end_loss / float(np.min(good_train)) - 1.0
                                            if len(good_train) and np.min(good_train) > 0 else 0.0)
    evidence["max_train_loss_vs_start"] = (float(np.max(good_train)) / facts.baseline_loss
                                           if facts.baseline_loss and len(good_train) else None)
    evidence["lr"] = facts.train.get("lr")
    evidence["optimizer"] = facts.train.get("optimizer")
    steps = np.diff(good_train)
    relative = steps / np.maximum(np.abs(good_train[:-1]), 1e-12)
    of_start = steps / start_loss if math.isfinite(start_loss) and start_loss > 0 else steps
    evidence["train_loss_rises"] = int(np.sum((relative > UNSTABLE_RISE) & (of_start > UNSTABLE_RISE_OF_START)))
    evidence["val_loss_rise_from_best"] = (float(val_loss[-1] / val_loss[best_index] - 1.0)
                                           if np.isfinite(val_loss[-1]) and val_loss[best_index] > 0 else 0.0)
    return evidence


# ---------------------------------------------------------------------------------------------------
# Verdict


def decide_verdict(evidence: dict) -> tuple[str, list[str]]:
    """Applies the rule book to the evidence.

    Args:
        evidence: output of `compute_evidence`.

    Returns:
        The verdict (one of VERDICTS) and the reasons, one sentence each, with their numbers.
    """
    unstable = _unstable_reason(evidence)
    verdict, reasons = _fit_verdict(evidence)
    if unstable is None:
        return verdict, reasons
    # Instability comes first (nothing else can be trusted until the loss behaves), but a clear bias
    # or variance problem in the same run is worth knowing before the rerun.
    also = [f"besides, the run shows {verdict}: {reasons[0]}"] if verdict in ("underfitting", "overfitting") else []
    return "unstable", [unstable, *also]


def _unstable_reason(evidence: dict) -> str | None:
    """The reason the run is unstable, or None."""
    if evidence["first_nonfinite_epoch"] is not None or evidence["diverged_at_step"] is not None:
        where = (f"step {evidence['diverged_at_step']}" if evidence["diverged_at_step"] is not None
                 else f"epoch {evidence['first_nonfinite_epoch']}")
        return f"the loss became NaN or infinite at {where}"
    if evidence["train_loss_rise_from_min"] >= UNSTABLE_DIVERGE_FACTOR - 1.0:
        rise = evidence["train_loss_rise_from_min"]
        return (f"the training loss diverged: it ended {rise:.0%} above its minimum "
                f"(threshold {UNSTABLE_DIVERGE_FACTOR - 1.0:.0%})")
    blown = evidence["max_train_loss_vs_start"]
    if blown is not None and blown >= UNSTABLE_BASELINE_FACTOR:
        return (f"the training loss reached {blown:.3g} times the starting (trivial) loss "
                f"(threshold {UNSTABLE_BASELINE_FACTOR:g}): the weights blew up")
    moved, lr = evidence["train_loss_moved"], evidence.get("lr")
    high_lr = UNSTABLE_HIGH_LR.get(str(evidence.get("optimizer")))
    if lr is not None and high_lr is not None and lr >= high_lr and math.isfinite(moved) and (
            moved < 1.0 - BARELY_MOVED_FRACTION):
        return (f"the training loss fell only {max(moved, 0.0):.0%} at lr={lr:g}, a rate at or above "
                f"{high_lr:g} for {evidence['optimizer']} (UNSTABLE_HIGH_LR): the first steps blew the units "
                "out and the network now outputs a constant")
    if evidence["train_loss_rises"] >= UNSTABLE_MIN_RISES:
        return (f"the training loss rose by more than {UNSTABLE_RISE:.0%} in {evidence['train_loss_rises']} "
                f"epochs (threshold {UNSTABLE_MIN_RISES}): it oscillates")
    return None


def _fit_verdict(evidence: dict) -> tuple[str, list[str]]:
    """Underfitting, overfitting, still improving or good fit, from the errors and the trend."""
    reasons: list[str] = []
    bias = evidence["train_error_vs_reference"] / UNDERFIT_TRAIN_FRACTION
    variance = evidence["gap_vs_reference"] / OVERFIT_GAP_FRACTION
    rise_overfit = (evidence["val_loss_rise_from_best"] >= OVERFIT_VAL_LOSS_RISE
                    and evidence["epochs_since_best"] >= OVERFIT_MIN_EPOCHS_SINCE_BEST
                    and evidence["gap_vs_reference"] >= OVERFIT_GAP_WITH_RISE_FRACTION)
    if rise_overfit:
        variance = max(variance, 1.0)
    at = f"epoch {evidence['judged_epoch']}, the last"
    underfit_reason = (f"training error {evidence['train_error']:.3f} ({at}) is "
                       f"{evidence['train_error_vs_reference']:.2f} of the reference error "
                       f"{evidence['reference_error']:.3f} (threshold "
                       f"{UNDERFIT_TRAIN_FRACTION:g})")
    overfit_reason = (f"gap {evidence['gap']:.3f} (validation {evidence['val_error']:.3f} - training "
                      f"{evidence['train_error']:.3f}, {at}) is {evidence['gap_vs_reference']:.2f} of the "
                      f"reference error (threshold {OVERFIT_GAP_FRACTION:g})")
    if rise_overfit:
        overfit_reason += (f"; validation loss ended {evidence['val_loss_rise_from_best']:.0%} above its "
                           f"minimum at epoch {evidence['best_epoch']}")
    if bias >= 1.0 or variance >= 1.0:
        if variance > bias:
            reasons = [overfit_reason]
            if bias >= 1.0:
                reasons.append("the training error is high as well: " + underfit_reason)
            return "overfitting", reasons
        reasons = [underfit_reason]
        if variance >= 1.0:
            reasons.append("the gap is large as well: " + overfit_reason)
        return "underfitting", reasons

    loss_falling = evidence["val_loss_still_falling"]
    error_falling = -evidence["val_error_trend"] >= STILL_IMPROVING_ERROR_SLOPE * evidence["reference_error"]
    strong_fall = -evidence["val_loss_trend"] >= STILL_IMPROVING_STRONG_LOSS_SLOPE
    if loss_falling and (error_falling or strong_fall):
        return "still improving", [
            f"validation loss is lowest at the last epoch and fell {-evidence['val_loss_trend']:.1%} per "
            f"epoch (threshold {STILL_IMPROVING_LOSS_SLOPE:.0%}) over the last {evidence['trend_epochs']} "
            "epoch(s); "
            f"validation error fell {-evidence['val_error_trend']:.4f} per epoch"]
    return "good fit", [
        f"training error {evidence['train_error']:.3f} and gap {evidence['gap']:.3f} ({at}) are below their "
        "thresholds "
        f"({UNDERFIT_TRAIN_FRACTION * evidence['reference_error']:.3f} and "
        f"{OVERFIT_GAP_FRACTION * evidence['reference_error']:.3f}), and the validation curve has settled"]


# ---------------------------------------------------------------------------------------------------
# The whole diagnosis


def diagnose_history(history: pd.DataFrame, facts: RunFacts | None = None) -> Diagnosis:
    """Diagnoses a run from its history and facts (a pure function: reads and writes nothing).

    Args:
        history: one row per epoch with the columns of history.csv.
        facts: what is known about the run; defaults describe an image classification run.

    Returns:
        The Diagnosis: verdict, summary, evidence, ranked fixes, notes and thresholds.
    """
    facts = facts or RunFacts()
    evidence = compute_evidence(history, facts)
    verdict, reasons = decide_verdict(evidence)
    fixes = recommend_fixes(verdict, evidence, facts)
    notes = list(reasons[1:])
    noise = facts.label_noise
    stays_high = evidence["best_train_error"] >= UNDERFIT_TRAIN_FRACTION * evidence["reference_error"]
    if noise is not None and facts.task != "regression":
        if noise >= NOISE_REPORT_FRACTION:
            notes.append(f"label noise: about {noise:.0%} of the training labels disagree confidently with "
                         "what the inputs predict (cross-validated); check and clean them, since no model "
                         "can fit wrong labels without memorising them")
        elif stays_high:
            notes.append(f"label noise is an unlikely cause of the high training error: only {noise:.0%} of "
                         "the training labels disagree confidently with what the inputs predict")
    elif facts.task != "regression" and stays_high:
        notes.append(f"the training error never went below {evidence['best_train_error']:.3f}: if the labels "
                     "are noisy, at most that fraction of them could be wrong")
    if verdict == "overfitting":
        notes.append("fewer input features (e.g. a smaller image or a shorter sequence window) also narrows "
                     "the gap when many inputs carry no signal")
    if facts.status == "stopped":
        # A killed or interrupted run has no kept weights and no test numbers: say so before anything else,
        # and that the verdict rests on the epochs it did record.
        planned = f" of {facts.epochs_planned} planned" if facts.epochs_planned else ""
        notes.insert(0, f"training stopped early: {evidence['epochs']}{planned} epoch(s) were recorded and no "
                        "metrics.json was written (interrupted or killed), so this verdict judges the recorded "
                        "epochs only; there are no kept weights or test numbers to judge; continue it with "
                        "`synbiolab train --resume` on this folder")
    summary = f"{verdict}: {reasons[0]}"
    return Diagnosis(verdict=verdict, summary=summary, evidence=evidence, fixes=fixes, notes=notes)


def baseline_loss(task: str, targets) -> float:
    """The loss where training starts: that of a network whose outputs are still about zero.

    Args:
        task: multiclass, binary or regression.
        targets: the training labels (N,) or regression targets (N, T).

    Returns:
        For classification the entropy of the class frequencies (the cross-entropy of predicting
        them, a little below the ln K of an untrained network); for regression the mean square of
        the targets (an untrained network predicts about 0, not their mean).
    """
    y = np.asarray(targets)
    if task == "regression":
        return float(np.mean(np.square(y.reshape(len(y), -1).astype(float))))
    frequencies = np.bincount(y.astype(int).reshape(-1)) / len(y)
    frequencies = frequencies[frequencies > 0]
    return float(-(frequencies * np.log(frequencies)).sum())



# ---------------------------------------------------------------------------------------------------
# Text: the numbers under names that say which weights and which split they were measured on


def _number(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _percent(value, style: str = "+.1%") -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    # A loss that blew up moves by many orders of magnitude: scientific notation keeps it readable.
    return f"{value:{style}}" if abs(value) < 10 else f"{value * 100:+.2e} %"


def training_split_name(n_train_eval: int | None, n_train: int | None) -> str:
    """What "train error" was measured on: the whole training split or the fixed subset of it."""
    if n_train_eval and n_train and n_train_eval < n_train:
        return f"a fixed subset of {n_train_eval:,} of the {n_train:,} training examples"
    return f"the {n_train:,} training examples" if n_train else "the training split"


def evidence_rows(evidence: dict) -> list[tuple[str, str]]:
    """The evidence as (name, value) rows for the terminal and the report, each name saying its weights.

    The errors of history.csv belong to the weights of each epoch (the last one is judged); those of
    metrics.json to the kept weights, the best epoch's. A run that overfits shows a training error of 0 at
    its last epoch and a higher one for its kept weights: both are right, and the names tell them apart.
    Keys missing from an older diagnosis.json are left out.
    """
    ev = evidence
    if "train_error" not in ev:  # diverged before a single epoch was recorded
        return [(key.replace("_", " "), _number(value)) for key, value in ev.items() if value is not None]
    last = f"epoch {ev.get('judged_epoch', ev['epochs'])} (last)"
    rows = [
        (f"train error: {last} / lowest of any epoch",
         f"{_number(ev['train_error'])} / {_number(ev['best_train_error'])}"),
        (f"validation error: {last} / lowest of any epoch",
         f"{_number(ev['val_error'])} / {_number(ev['best_val_error'])}"),
        (f"gap at {last}: absolute / relative", f"{_number(ev['gap'])} / {_number(ev['gap_relative'], 2)}"),
        ("reference error (trivial predictor)", _number(ev["reference_error"])),
        ("epoch of lowest validation loss", f"{ev['best_epoch']} of {ev['epochs']}"
         + (f" ({ev['epochs_planned']} planned)" if ev.get("epochs_planned") not in (None, ev["epochs"]) else "")),
    ]
    if ev.get("kept_epoch") is not None:
        rows.append((f"kept weights (epoch {ev['kept_epoch']}, metrics.json): train / validation / test error",
                     " / ".join(_number(ev.get(f"kept_{split}_error")) for split in ("train", "val", "test"))))
    noise = ev.get("label_noise_estimate")
    rows += [
        (f"validation loss trend (last {ev['trend_epochs']}, per epoch)", _percent(ev["val_loss_trend"])),
        ("training loss fell from start by", _percent(ev["train_loss_moved"], ".0%")),
        ("parameters / training examples", f"{_number(ev['n_parameters'])} / {_number(ev['n_train'])}"),
        ("label-noise estimate (training labels)", f"{noise:.1%}" if noise is not None else "not measured"),
    ]
    return rows


def evidence_caption(evidence: dict) -> str:
    """One sentence naming the data behind the evidence (history.csv's splits, metrics.json's weights)."""
    if "train_error" not in evidence:
        return "no epoch was recorded"
    return (f"history.csv, each epoch's own weights: train error on "
            f"{training_split_name(evidence.get('n_train_eval'), evidence.get('n_train'))}, validation error on "
            "the validation split; the last epoch is judged")


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """Renders a diagnosis as plain text for the terminal."""
    rows = evidence_rows(diagnosis.evidence)
    lines = [f"verdict: {diagnosis.verdict}", f"  {diagnosis.summary}",
             f"evidence ({evidence_caption(diagnosis.evidence)}):"]
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    if diagnosis.fixes:
        lines.append("recommended fixes (synbiolab fix RUN --apply N):")
        for number, fix in enumerate(diagnosis.fixes, start=1):
            lines.append(f"  {number}. {fix.title}: --set {' --set '.join(fix.overrides)}")
            lines.append(f"     {fix.reason}")
    else:
        lines.append("recommended fixes: none needed")
    for note in diagnosis.notes:
        lines.append(f"note: {note}")
    lines.append("thresholds: " + ", ".join(f"{name}={value:g}"
                                            for name, value in diagnosis.thresholds.items()))
    lines.append(verdict_line())
    return "\n".join(lines)


#: The rows of the before/after table: (block, key, name). Each block says which weights it measures.
FIX_TABLE_ROWS = (
    ("last", "last_train_error", "train error"), ("last", "last_val_error", "validation error"),
    ("last", "last_gap", "gap"),
    ("kept", "train_error", "train error"), ("kept", "val_error", "validation error"), ("kept", "gap", "gap"),
    ("kept", "test_error", "test error"),
)


def fix_table_blocks(before: dict, after: dict) -> dict[str, str]:
    """The headings of the two blocks of the before/after table, naming the epochs of each run."""
    def epochs(key):
        return f"{before.get(key) or '?'} -> {after.get(key) or '?'}"

    return {"last": f"last epoch's weights (epoch {epochs('last_epoch')}; history.csv)",
            "kept": f"kept weights, the best epoch's (epoch {epochs('best_epoch')}; metrics.json)"}
