"""Generalisation verdicts: is a run underfitting, a good fit, overfitting, still improving or unstable?

The rules below read a run's history (one row per epoch) and a few facts about the run (task, size of
the model and of the training set, the error of the trivial majority-class predictor) and return a
verdict, the numbers behind it and ranked fixes. Every fix is a list of config overrides in the
`--set` syntax, so that `fix` can rerun it. There is no learned component: each threshold is a named
constant below, documented where it is defined and printed in every report.

Errors are compared on one scale for every task. The *reference error* is the error of the trivial
predictor (the majority class for classification; the mean for regression, whose 1 - R^2 is 1), so
"0.15 of the reference error" means the same thing on MNIST (10 classes) and on a binary promoter task.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .errors import SynbiolabError

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

#: "The loss barely moved": the final training loss is more than this fraction of the starting loss
#: (the trivial predictor's loss, or the first epoch's). The first fix is then a higher learning rate.
BARELY_MOVED_FRACTION = 0.85

#: A training loss that fell by less than this fraction is stuck: the higher learning rate offered is
#: 100x the current one instead of 10x.
STUCK_FRACTION = 0.02

#: Early stopping is ranked first among the overfitting fixes when stopping at the best epoch would
#: have lowered the validation error by at least this fraction of the reference error.
EARLY_STOP_MIN_GAIN_FRACTION = 0.01

#: "More data" is offered when at least this factor more training examples are available.
MORE_DATA_MIN_FACTOR = 2.0

#: A label-noise estimate at or above this fraction is reported as a likely cause (it is always
#: printed when measured). The estimate also counts ambiguous examples: 3 to 6 % on clean MNIST
#: subsets, 0 to 1 % on the 8x8 digits.
NOISE_REPORT_FRACTION = 0.10

#: Weight decay offered against overfitting. AdamW decays the weights by lr * weight_decay per step,
#: apart from the gradient, so it needs a value about 100x larger than the L2 penalty of SGD or Adam
#: to have the same effect at lr 1e-3.
WEIGHT_DECAY_ADAMW = 0.05
WEIGHT_DECAY_L2 = 5e-4

#: Capacity changes: multiply (more capacity) or divide (less) every layer width by this factor.
CAPACITY_FACTOR = 4

#: Parameter names that hold a layer width (an int or a list of ints) in the models' constructors.
CAPACITY_KEYS = ("hidden_units", "channels", "conv_channels", "hidden_size", "hidden_dim", "width",
                 "filters", "n_filters", "units", "fc_units", "embedding_dim")

VERDICTS = ("underfitting", "good fit", "overfitting", "still improving", "unstable")

HISTORY_COLUMNS = ("epoch", "step", "train_loss", "train_metric", "train_error", "val_loss",
                   "val_metric", "val_error", "lr", "seconds")


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


@dataclass
class Fix:
    """One recommended change, runnable with `synbiolab fix RUN --apply N`.

    Args:
        title: short name, e.g. "early stopping at the best epoch".
        overrides: config overrides in the `--set` syntax, e.g. ["train.weight_decay=5e-4"].
        reason: the evidence that makes this fix worth trying, in numbers.
    """

    title: str
    overrides: list[str]
    reason: str


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
    underfit_reason = (f"training error {evidence['train_error']:.3f} is "
                       f"{evidence['train_error_vs_reference']:.2f} of the reference error "
                       f"{evidence['reference_error']:.3f} (threshold "
                       f"{UNDERFIT_TRAIN_FRACTION:g})")
    overfit_reason = (f"gap {evidence['gap']:.3f} (validation {evidence['val_error']:.3f} - training "
                      f"{evidence['train_error']:.3f}) is {evidence['gap_vs_reference']:.2f} of the "
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

    loss_falling = (evidence["epochs_since_best"] == 0
                    and -evidence["val_loss_trend"] >= STILL_IMPROVING_LOSS_SLOPE)
    error_falling = -evidence["val_error_trend"] >= STILL_IMPROVING_ERROR_SLOPE * evidence["reference_error"]
    strong_fall = -evidence["val_loss_trend"] >= STILL_IMPROVING_STRONG_LOSS_SLOPE
    if loss_falling and (error_falling or strong_fall):
        return "still improving", [
            f"validation loss is lowest at the last epoch and fell {-evidence['val_loss_trend']:.1%} per "
            f"epoch (threshold {STILL_IMPROVING_LOSS_SLOPE:.0%}) over the last {evidence['trend_epochs']} "
            "epoch(s); "
            f"validation error fell {-evidence['val_error_trend']:.4f} per epoch"]
    return "good fit", [
        f"training error {evidence['train_error']:.3f} and gap {evidence['gap']:.3f} are below their "
        "thresholds "
        f"({UNDERFIT_TRAIN_FRACTION * evidence['reference_error']:.3f} and "
        f"{OVERFIT_GAP_FRACTION * evidence['reference_error']:.3f}), and the validation curve has settled"]


# ---------------------------------------------------------------------------------------------------
# Fixes


def format_value(value) -> str:
    """Formats a value in the `--set` syntax: lists without spaces, floats short."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def scale_capacity(params: dict, factor: float) -> dict:
    """Returns every layer width of a model multiplied by `factor`, by parameter name.

    Args:
        params: the model's constructor arguments (e.g. `hidden_units` of an MLP; `channels` and
            `hidden_units` of a CNN).
        factor: > 1 for more capacity, < 1 for less. An empty list of hidden layers (a linear
            model) grows into one hidden layer of 32 * factor units.

    Returns:
        {parameter: new value} for the widths that change; empty when the model has none.
    """
    changes = {}
    for key in CAPACITY_KEYS:
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
            continue
        if isinstance(value, int):
            new = max(1, int(round(value * factor))) if value > 0 else value
        elif not value:
            new = [int(32 * factor)] if factor > 1 else []
        else:
            new = [max(1, int(round(width * factor))) for width in value]
        if new != (list(value) if isinstance(value, (list, tuple)) else value):
            changes[key] = new
    return changes


def _capacity_fix(title: str, params: dict, changes: dict, reason: str) -> Fix:
    """A Fix that sets every changed width, titled with the old and new sizes."""
    sizes = ", ".join(f"{key} {format_value(params[key])} -> {format_value(new)}" for key, new in changes.items())
    return Fix(f"{title} ({sizes})", [f"model.{key}={format_value(new)}" for key, new in changes.items()], reason)


def _train(facts: RunFacts, key: str, default):
    value = facts.train.get(key)
    return default if value is None else value


def recommend_fixes(verdict: str, evidence: dict, facts: RunFacts) -> list[Fix]:
    """Ranks concrete, runnable fixes for a verdict.

    Args:
        verdict: one of VERDICTS.
        evidence: output of `compute_evidence`.
        facts: what is known about the run (its current settings are the starting point).

    Returns:
        Fixes, best first. Good fits get none.
    """
    ref = evidence["reference_error"]
    lr = float(_train(facts, "lr", 1e-3))
    epochs = int(_train(facts, "epochs", evidence["epochs"]))
    weight_decay = float(_train(facts, "weight_decay", 0.0))
    augment = _train(facts, "augment", "none")
    dropout = facts.model_params.get("dropout")
    fixes: list[Fix] = []

    if verdict == "unstable":
        fixes.append(Fix("lower learning rate", [f"train.lr={format_value(lr / 10)}"],
                         f"the loss misbehaved at lr={lr:g}; steps 10x smaller stay inside the region "
                         "where the loss surface is smooth"))
        if "grad_clip" in facts.train:
            fixes.append(Fix("lower learning rate and clip gradients",
                             [f"train.lr={format_value(lr / 10)}", "train.grad_clip=1.0"],
                             "clipping the gradient norm at 1 bounds the size of any one update"))
        return fixes

    if verdict == "overfitting":
        available = facts.n_train_available
        if available and facts.n_train and available >= MORE_DATA_MIN_FACTOR * facts.n_train:
            new_size = int(min(available, CAPACITY_FACTOR * facts.n_train))
            fixes.append(Fix("more training data", [f"data.train_size={new_size}"],
                             f"the run used {facts.n_train} of {available} available training examples "
                             f"({evidence['parameters_per_example'] or 0:.0f} parameters per example); more "
                             "data is the surest way to close a gap"))
        early_gain = evidence["final_val_error"] - evidence["val_error_at_best_epoch"]
        early = Fix("early stopping at the best epoch",
                    [f"train.epochs={max(1, evidence['best_epoch'])}", "train.patience=3"],
                    f"validation loss was lowest at epoch {evidence['best_epoch']} of {evidence['epochs']}; "
                    f"stopping there gives validation error {evidence['val_error_at_best_epoch']:.3f} "
                    f"instead of {evidence['final_val_error']:.3f}")
        early_useful = evidence["epochs_since_best"] >= 1
        if facts.best_weights_restored:
            # The kept weights already are the best epoch's: stopping there saves time, not error.
            early = Fix("early stopping at the best epoch", ["train.patience=3"],
                        f"the saved weights are epoch {evidence['best_epoch']}'s already; stopping 3 epochs "
                        f"without progress saves {max(evidence['epochs_since_best'] - 3, 0)} of "
                        f"{evidence['epochs']} epochs")
            early_useful = evidence["epochs_since_best"] > 3
        elif early_useful and early_gain >= EARLY_STOP_MIN_GAIN_FRACTION * ref:
            fixes.append(early)
        if facts.data_kind == "image" and augment in (None, "none", ""):
            fixes.append(Fix("data augmentation (random shifts and small rotations)",
                             ["train.augment=shift_rotate"],
                             "each epoch sees the training images moved by up to 2 pixels and turned by up "
                             "to 10 degrees: more distinct examples for free"))
        optimizer = str(_train(facts, "optimizer", "adamw"))
        floor = WEIGHT_DECAY_ADAMW if optimizer == "adamw" else WEIGHT_DECAY_L2
        regularise = [f"train.weight_decay={format_value(max(floor, weight_decay * 10))}"]
        if dropout is not None and float(dropout) < 0.3:
            regularise.append("model.dropout=0.3")
        fixes.append(Fix("regularisation (weight decay" + (" and dropout)" if len(regularise) > 1 else ")"),
                         regularise,
                         f"penalises large weights{' and co-adapted units' if len(regularise) > 1 else ''} "
                         f"so the model cannot memorise {facts.n_train or 'the'} examples as easily"))
        smaller = scale_capacity(facts.model_params, 1.0 / CAPACITY_FACTOR)
        if smaller:
            fixes.append(_capacity_fix(
                "smaller model", facts.model_params, smaller,
                f"{facts.n_parameters or 'many'} parameters for {facts.n_train or 'few'} examples; "
                f"{CAPACITY_FACTOR}x narrower layers hold fewer memorised details"))
        if early_useful and early not in fixes:
            fixes.append(early)
        return fixes

    if verdict == "underfitting":
        moved = evidence["train_loss_moved"]
        barely_moved = math.isfinite(moved) and moved < 1.0 - BARELY_MOVED_FRACTION
        # A loss that did not move at all needs a bigger jump than one that moved a little.
        lr_factor = 100 if math.isfinite(moved) and moved < STUCK_FRACTION else 10
        higher_lr = Fix("higher learning rate", [f"train.lr={format_value(lr * lr_factor)}"],
                        f"the training loss fell only {max(moved, 0.0):.0%} from "
                        f"{evidence['start_loss']:.3f}; lr={lr:g} takes steps too small to get anywhere")
        if barely_moved:
            fixes.append(higher_lr)
        still_falling = (evidence["epochs_since_best"] == 0
                         and -evidence["val_loss_trend"] >= STILL_IMPROVING_LOSS_SLOPE)
        more_epochs = Fix("more epochs", [f"train.epochs={epochs * 3}"],
                          f"validation loss still fell {-evidence['val_loss_trend']:.1%} per epoch at the "
                          "end")
        bigger = scale_capacity(facts.model_params, CAPACITY_FACTOR)
        if bigger:
            fixes.append(_capacity_fix(
                "more capacity", facts.model_params, bigger,
                f"training error {evidence['train_error']:.3f} is {evidence['train_error_vs_reference']:.0%} "
                "of the trivial predictor's: the model cannot represent the training set"))
        if still_falling:
            # Before capacity when the curve has not flattened: a longer run costs nothing to try.
            position = 1 if barely_moved else 0
            fixes.insert(position, more_epochs)
        else:
            fixes.append(more_epochs)
        if weight_decay > 0 or (dropout is not None and float(dropout) > 0):
            less = []
            if weight_decay > 0:
                less.append("train.weight_decay=0")
            if dropout is not None and float(dropout) > 0:
                less.append("model.dropout=0")
            fixes.append(Fix("less regularisation", less,
                             "weight decay and dropout hold back a model that is already too weak"))
        if not barely_moved:
            fixes.append(higher_lr)
        if facts.data_kind == "image" and facts.model_name == "mlp":
            fixes.append(Fix("better features (a convolutional network)", ["model.name=cnn"],
                             "convolutions see strokes and edges wherever they are; an MLP sees isolated "
                             "pixels"))
        return fixes

    if verdict == "still improving":
        fixes.append(Fix("more epochs", [f"train.epochs={epochs * 3}", "train.patience=3"],
                         f"validation loss fell {-evidence['val_loss_trend']:.1%} per epoch at the end; "
                         "early stopping with patience 3 keeps the best epoch if it starts to overfit"))
    return fixes


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
    summary = f"{verdict}: {reasons[0]}"
    return Diagnosis(verdict=verdict, summary=summary, evidence=evidence, fixes=fixes, notes=notes)


# ---------------------------------------------------------------------------------------------------
# Label noise


def estimate_label_noise(features, labels, n_classes: int | None = None, n_folds: int = 5,
                         max_samples: int = 4000, seed: int = 0) -> float:
    """Estimates the fraction of wrong labels with cross-validated confident counting.

    A simple classifier (logistic regression on the standardised inputs) predicts every example
    from folds that did not contain it. An example is counted as mislabelled when the probability
    of its own label is below that label's average self-confidence while another class reaches its
    own average self-confidence (the confident-learning count of Northcutt et al., 2021). Ambiguous
    examples count too, so on clean data the estimate sits a little above zero.

    Args:
        features: (N, ...) array or tensor of inputs; flattened.
        labels: (N,) integer labels.
        n_classes: number of classes (default: from the labels).
        n_folds: cross-validation folds.
        max_samples: examples drawn at random when there are more (keeps the estimate fast).
        seed: random seed of the subsample and the folds.

    Returns:
        The estimated fraction of mislabelled examples, between 0 and 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    y = np.asarray(labels).astype(int).reshape(-1)
    if len(x) != len(y):
        raise SynbiolabError(f"estimate_label_noise: {len(x)} inputs but {len(y)} labels")
    rng = np.random.default_rng(seed)
    if len(y) > max_samples:
        keep = rng.choice(len(y), size=max_samples, replace=False)
        x, y = x[keep], y[keep]
    n_classes = int(n_classes or (y.max() + 1))
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(n_folds, counts[counts > 0].min()))
    if folds < 2:
        return 0.0
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    present = np.flatnonzero(counts)
    probabilities = np.zeros((len(y), n_classes))
    probabilities[:, present] = cross_val_predict(model, x, y, cv=splitter, method="predict_proba")
    # Average self-confidence of each class: how sure the model is of examples carrying that label.
    threshold = np.full(n_classes, np.inf)
    for label in present:
        threshold[label] = probabilities[y == label, label].mean()
    own = probabilities[np.arange(len(y)), y]
    confident_other = probabilities >= threshold[None, :]
    confident_other[np.arange(len(y)), y] = False
    flagged = (own < threshold[y]) & confident_other.any(axis=1)
    return float(flagged.mean())


# ---------------------------------------------------------------------------------------------------
# Text output


def format_diagnosis(diagnosis: Diagnosis) -> str:
    """Renders a diagnosis as plain text for the terminal."""
    ev = diagnosis.evidence

    def number(value, digits=3):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return "n/a"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    def percent(value, style="+.1%"):
        if value is None or not math.isfinite(value):
            return "n/a"
        # A loss that blew up moves by many orders of magnitude: scientific notation keeps it readable.
        return f"{value:{style}}" if abs(value) < 10 else f"{value * 100:+.2e} %"

    lines = [f"verdict: {diagnosis.verdict}", f"  {diagnosis.summary}", "evidence:"]
    if "train_error" not in ev:  # diverged before a single epoch was recorded
        rows = [(key.replace("_", " "), number(value)) for key, value in ev.items()]
    else:
        noise = ev.get("label_noise_estimate")
        rows = [
            ("train error (judged / best)", f"{number(ev['train_error'])} / {number(ev['best_train_error'])}"),
            ("validation error (judged / best)", f"{number(ev['val_error'])} / {number(ev['best_val_error'])}"),
            ("gap (absolute / relative)", f"{number(ev['gap'])} / {number(ev['gap_relative'], 2)}"),
            ("reference error (trivial predictor)", number(ev["reference_error"])),
            ("epoch of lowest validation loss", f"{ev['best_epoch']} of {ev['epochs']}"),
            (f"validation loss trend (last {ev['trend_epochs']}, per epoch)", percent(ev["val_loss_trend"])),
            ("training loss fell from start by", percent(ev["train_loss_moved"], ".0%")),
            ("parameters / training examples", f"{number(ev['n_parameters'])} / {number(ev['n_train'])}"),
            ("label-noise estimate", f"{noise:.1%}" if noise is not None else "not measured"),
        ]
    width = max(len(name) for name, _ in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    if diagnosis.fixes:
        lines.append("recommended fixes (synbiolab fix RUN --apply N):")
        for number_, fix in enumerate(diagnosis.fixes, start=1):
            lines.append(f"  {number_}. {fix.title}: --set {' --set '.join(fix.overrides)}")
            lines.append(f"     {fix.reason}")
    else:
        lines.append("recommended fixes: none needed")
    for note in diagnosis.notes:
        lines.append(f"note: {note}")
    lines.append("thresholds: " + ", ".join(f"{name}={value:g}"
                                            for name, value in diagnosis.thresholds.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Runs: diagnose a run folder, apply a fix


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


def _as_run(run):
    from .runs import Run, load_run

    return run if isinstance(run, Run) else load_run(run)


def _diverged_step(metrics: dict) -> int | None:
    import re

    if metrics.get("status") != "diverged":
        return None
    found = re.search(r"at step (\d+)", metrics.get("message", ""))
    return int(found.group(1)) if found else 0


def run_facts(run, estimate_noise: bool = True) -> RunFacts:
    """Collects the facts about a run folder that the rules need (loads its data set once or twice).

    Args:
        run: a run folder or Run.
        estimate_noise: measure the label-noise estimate on the training split (classification).

    Returns:
        The RunFacts of the run.
    """
    from dataclasses import asdict as dataclass_dict

    from .config import model_parameters
    from .data import load_dataset

    run = _as_run(run)
    config = run.config
    metrics = run.metrics if (run.path / "metrics.json").is_file() else {}
    dataset = run.load_dataset()
    n_train = len(dataset.train)
    available = n_train
    if config.data.train_size is not None:
        available = len(load_dataset(config.data, train_size=None).train)
    labels = dataset.train.y.numpy()
    n_classes = len(dataset.class_names) if dataset.class_names else None
    noise = None
    if estimate_noise and dataset.task != "regression":
        noise = estimate_label_noise(dataset.train.x.numpy(), labels.astype(int),
                                     n_classes=n_classes if dataset.task == "multiclass" else 2)
    n_parameters = metrics.get("n_parameters")
    if n_parameters is None:
        from .models import build_model, count_parameters

        n_parameters = count_parameters(build_model(config.model.name, dataset, **config.model.params))
    majority = metrics.get("majority_error", dataset.majority_error())
    return RunFacts(
        task=dataset.task, data_kind=dataset.kind, majority_error=majority,
        baseline_loss=baseline_loss(dataset.task, labels), n_classes=n_classes,
        n_parameters=int(n_parameters), n_train=n_train, n_train_available=available,
        model_name=config.model.name,
        model_params={**model_parameters(config.model.name), **config.model.params},
        train=dataclass_dict(config.train),
        # The loop always keeps the weights of the epoch with the lowest validation loss.
        best_weights_restored=True,
        diverged_at_step=_diverged_step(metrics), label_noise=noise)


def _history_or_empty(run) -> pd.DataFrame:
    path = run.path / "history.csv"
    if path.is_file():
        return pd.read_csv(path)
    return pd.DataFrame(columns=list(HISTORY_COLUMNS))


def diagnose(run, write: bool = True, verbose: bool = True, estimate_noise: bool = True,
             report: bool = True) -> Diagnosis:
    """Diagnoses a run folder: verdict, evidence, ranked fixes.

    Writes diagnosis.json (atomically) and re-writes report.html with a diagnosis section.

    Args:
        run: a run folder or Run.
        write: write diagnosis.json and the report.
        verbose: print the diagnosis.
        estimate_noise: measure label noise on the training split (a few seconds on MNIST).
        report: re-write report.html with the diagnosis section (when `write`).

    Returns:
        The Diagnosis.

    Raises:
        SynbiolabError: the folder is not a run, or the run has no history to judge.
    """
    from .runs import atomic_write_json

    run = _as_run(run)
    metrics = run.metrics if (run.path / "metrics.json").is_file() else {}
    history_path = run.path / "history.csv"
    if not history_path.is_file() and metrics.get("status") != "diverged":
        raise SynbiolabError(f"{run.path}: run has no history.csv (training never finished an epoch); "
                             "nothing to diagnose")
    facts = run_facts(run, estimate_noise=estimate_noise)
    history = _history_or_empty(run)
    if len(history) == 0 and facts.diverged_at_step is not None:
        diagnosis = _diverged_without_history(facts, metrics)
    else:
        diagnosis = diagnose_history(check_history(history, source=str(history_path)), facts)
    if write:
        atomic_write_json(run.path / "diagnosis.json", diagnosis.to_dict())
        if report:
            from .report import write_report

            write_report(run)
    if verbose:
        print(format_diagnosis(diagnosis))
    return diagnosis


def _diverged_without_history(facts: RunFacts, metrics: dict) -> Diagnosis:
    """An unstable verdict for a run that diverged before its first epoch ended."""
    evidence = {"epochs": 0, "reference_error": reference_error(facts),
                "diverged_at_step": facts.diverged_at_step, "message": metrics.get("message", "")}
    fake = {"reference_error": evidence["reference_error"], "epochs": 0}
    fixes = recommend_fixes("unstable", fake, facts)
    reason = f"the loss became NaN or infinite at step {facts.diverged_at_step}, before the first epoch ended"
    return Diagnosis("unstable", f"unstable: {reason}", evidence, fixes, [])


def _errors_of(run) -> dict:
    """Train, validation and test error (and the gap) of a finished run's kept weights."""
    metrics = run.metrics
    if metrics.get("status") == "diverged":
        return {"train_error": math.nan, "val_error": math.nan, "gap": math.nan, "test_error": math.nan,
                "status": "diverged"}
    row = {split + "_error": float(metrics[split]["error"]) for split in ("train", "val", "test")}
    row["gap"] = row["val_error"] - row["train_error"]
    row["status"] = metrics.get("status", "finished")
    return row


@dataclass
class FixResult:
    """The outcome of `fix`: the new run and the numbers before and after."""

    fix: Fix
    run_path: str
    before: dict
    after: dict
    figure: str | None = None

    def table(self) -> str:
        """The before/after table as plain text."""
        lines = [f"{'':<12}{'before':>10}{'after':>10}{'change':>10}"]
        for key, name in (("train_error", "train error"), ("val_error", "val error"), ("gap", "gap"),
                          ("test_error", "test error")):
            before, after = self.before.get(key, math.nan), self.after.get(key, math.nan)
            lines.append(f"{name:<12}{before:>10.4f}{after:>10.4f}{after - before:>+10.4f}")
        return "\n".join(lines)


def fix(run, apply: int = 1, out=None, overwrite: bool = False, verbose: bool = True,
        diagnose_after: bool = True) -> FixResult:
    """Reruns a run with one of its recommended fixes and compares the two.

    Args:
        run: a run folder or Run (diagnosed first if it has no diagnosis.json).
        apply: which fix, counted from 1 as printed by `diagnose`.
        out: the new run folder (default: `<run>-fix<apply>` beside the run).
        overwrite: replace an existing folder at `out`.
        verbose: print the training progress and the before/after table.
        diagnose_after: diagnose the new run too (its verdict is printed and saved).

    Returns:
        A FixResult with the new run's path, the errors before and after and the comparison figure.

    Raises:
        SynbiolabError: the run is not a run, has no such fix, or the fix does not apply.
    """
    import json
    from pathlib import Path

    from .config import apply_overrides
    from .errors import TrainingDiverged
    from .runs import Run, atomic_write_json
    from .train import train

    run = _as_run(run)
    path = run.path / "diagnosis.json"
    if path.is_file():
        diagnosis = Diagnosis.from_dict(json.loads(path.read_text()))
    else:
        diagnosis = diagnose(run, verbose=verbose)
    if not diagnosis.fixes:
        raise SynbiolabError(f"{run.path}: the verdict is '{diagnosis.verdict}' and no fix is recommended")
    if not 1 <= apply <= len(diagnosis.fixes):
        raise SynbiolabError(f"--apply {apply}: {run.path} has {len(diagnosis.fixes)} recommended fix(es); "
                             f"choose 1..{len(diagnosis.fixes)}")
    chosen = diagnosis.fixes[apply - 1]
    config = apply_overrides(run.config, chosen.overrides)
    out = Path(out) if out is not None else run.path.parent / f"{run.name}-fix{apply}"
    if verbose:
        print(f"fix {apply}: {chosen.title} (--set {' --set '.join(chosen.overrides)}) -> {out}")
    try:
        new_run = train(config, out=out, overwrite=overwrite, verbose=verbose)
    except TrainingDiverged:
        new_run = Run(out)
    before, after = _errors_of(run), _errors_of(new_run)
    figure = _fix_figure(run, new_run, chosen, before, after)
    result = FixResult(chosen, str(new_run.path), before, after, figure)
    atomic_write_json(new_run.path / "fix.json", {"source_run": str(run.path), "apply": apply,
                                                  "fix": asdict(chosen), "before": before, "after": after,
                                                  "verdict_before": diagnosis.verdict})
    if diagnose_after and after.get("status") != "diverged":
        diagnose(new_run, verbose=False)
    else:
        from .report import write_report

        write_report(new_run)
    if verbose:
        print(result.table())
        if diagnose_after and (new_run.path / "diagnosis.json").is_file():
            verdict = json.loads((new_run.path / "diagnosis.json").read_text())["verdict"]
            print(f"verdict before: {diagnosis.verdict}; after: {verdict}")
        print(f"figure: {figure}")
    return result


def _fix_figure(before_run, after_run, chosen: Fix, before: dict, after: dict) -> str | None:
    """Side-by-side learning curves (train and validation error per epoch) before and after a fix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .runs import atomic_write_bytes

    histories = [_history_or_empty(r) for r in (before_run, after_run)]
    if any(len(h) == 0 for h in histories):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    titles = [f"{name}: validation error {errors['val_error']:.4f} (kept weights)"
              for name, errors in (("before", before), ("after " + chosen.title, after))]
    for ax, history, title in zip(axes, histories, titles, strict=True):
        epochs = history["epoch"].to_numpy()
        train_error, val_error = history["train_error"].to_numpy(float), history["val_error"].to_numpy(float)
        ax.plot(epochs, train_error, "o-", ms=3, label="train error")
        ax.plot(epochs, val_error, "s-", ms=3, label="validation error")
        ax.fill_between(epochs, train_error, val_error, color="tab:red", alpha=0.12, label="gap")
        has_loss = history["val_loss"].notna().any()
        best = int(history.loc[history["val_loss"].idxmin(), "epoch"]) if has_loss else None
        if best:
            ax.axvline(best, color="k", ls="--", lw=0.8, label=f"best epoch {best}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error")
    fig.suptitle(" ".join(chosen.overrides), fontsize=9)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    from .runs import subfolder

    target = subfolder(after_run.path, "figures") / "fix_comparison.png"
    atomic_write_bytes(target, buffer.getvalue())
    return str(target)


# ---------------------------------------------------------------------------------------------------
# Report section


def diagnosis_html(diagnosis: Diagnosis) -> str:
    """An HTML fragment with the verdict, evidence, fixes, notes and the rule book with thresholds."""
    import html

    ev = diagnosis.evidence
    css = "good" if diagnosis.verdict == "good fit" else "bad"
    parts = [f"<h2>Diagnosis</h2><p class='{css}'><b>{html.escape(diagnosis.verdict)}</b>: "
             f"{html.escape(diagnosis.summary.split(': ', 1)[-1])}</p><table>"]
    for key, value in ev.items():
        if isinstance(value, float):
            value = "n/a" if not math.isfinite(value) else f"{value:.4g}"
        parts.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(str(value))}</td></tr>")
    parts.append("</table>")
    if diagnosis.fixes:
        parts.append("<h3>Recommended fixes</h3><ol>")
        for fix_ in diagnosis.fixes:
            parts.append(f"<li><b>{html.escape(fix_.title)}</b>: "
                         f"<code>{html.escape(' '.join(fix_.overrides))}</code><br>"
                         f"{html.escape(fix_.reason)}</li>")
        parts.append("</ol><p>Run one with <code>synbiolab fix RUN --apply N</code>.</p>")
    for note in diagnosis.notes:
        parts.append(f"<p>Note: {html.escape(note)}</p>")
    parts.append("<details><summary>Rules and thresholds</summary><ul>")
    parts += [f"<li>{html.escape(rule)}</li>" for rule in RULES_TEXT]
    parts.append("</ul><table>")
    parts += [f"<tr><td>{html.escape(name)}</td><td>{value:g}</td></tr>"
              for name, value in diagnosis.thresholds.items()]
    parts.append("</table></details>")
    return "".join(parts)


def _section_diagnosis(run) -> str | None:
    import json

    path = run.path / "diagnosis.json"
    if not path.is_file():
        return None
    html_text = diagnosis_html(Diagnosis.from_dict(json.loads(path.read_text())))
    fix_path = run.path / "fix.json"
    if fix_path.is_file():
        import html

        data = json.loads(fix_path.read_text())
        rows = "".join(
            f"<tr><td>{name}</td><td>{data['before'].get(key, math.nan):.4f}</td>"
            f"<td>{data['after'].get(key, math.nan):.4f}</td></tr>"
            for key, name in (("train_error", "train error"), ("val_error", "validation error"),
                              ("gap", "gap"), ("test_error", "test error")))
        html_text += (f"<h3>Fix applied</h3><p>{html.escape(data['fix']['title'])} "
                      f"(<code>{html.escape(' '.join(data['fix']['overrides']))}</code>) to "
                      f"{html.escape(data['source_run'])}</p><table><tr><th></th><th>before</th><th>after</th></tr>"
                      f"{rows}</table>")
        figure = run.path / "figures" / "fix_comparison.png"
        if figure.is_file():
            from .report import img_tag

            html_text += img_tag(figure.read_bytes(), "fix_comparison")
    return html_text


def _register_report_section() -> None:
    from .report import register_section

    register_section(_section_diagnosis, name="diagnosis")


_register_report_section()
