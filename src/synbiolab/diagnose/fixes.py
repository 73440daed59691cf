"""The fix book: concrete, runnable changes for each verdict, ranked (pure: reads and writes nothing).

Every fix is a list of config overrides in the ``--set`` syntax, so that ``synbiolab fix RUN --apply N``
can rerun it. The constants below are the fix book's half of the thresholds; the verdict's half and the
evidence live in ``rules.py``, which imports this module (never the other way round).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

#: Weight decay offered against overfitting. AdamW decays the weights by lr * weight_decay per step,
#: apart from the gradient, so it needs a value about 100x larger than the L2 penalty of SGD or Adam
#: to have the same effect at lr 1e-3.
WEIGHT_DECAY_ADAMW = 0.05
WEIGHT_DECAY_L2 = 5e-4

#: Capacity changes: multiply (more capacity) or divide (less) every layer width by this factor.
CAPACITY_FACTOR = 4


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


def format_value(value) -> str:
    """Formats a value in the `--set` syntax: lists without spaces, floats short."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def capacity_keys_of(facts) -> tuple[str, ...]:
    """The constructor arguments that set the size of the run's model.

    Each model declares them when it is registered (``MODELS[name].capacity_keys``); facts may carry them
    already (a run's own record, which a run of an older version wrote under the names of then: they are read
    as today's, ``config.RENAMED_MODEL_KEYS``), otherwise the registry is asked. An unknown model has none.
    """
    if facts.capacity_keys is not None:
        from ..config import current_model_key

        return tuple(current_model_key(facts.model_name, key) for key in facts.capacity_keys)
    from ..models.registry import MODELS

    entry = MODELS.get(facts.model_name)
    return entry.capacity_keys if entry is not None else ()


def scale_capacity(params: dict, factor: float, keys) -> dict:
    """Returns every layer width of a model multiplied by `factor`, by parameter name.

    Args:
        params: the model's constructor arguments (e.g. `hidden_units` of an MLP; `channels` and
            `head_units` of a CNN; `hidden_size` of an RNN).
        factor: > 1 for more capacity, < 1 for less. An empty list of the MLP's hidden layers
            (``hidden_units=[]``, a linear model) grows into one hidden layer of 32 * factor units; a head
            without hidden layers (``head_units=[]``) stays so: the layers before it hold the capacity.
        keys: the parameters that hold a layer width (an int or a list of ints), as the model declares
            them (``MODELS[name].capacity_keys``).

    Returns:
        {parameter: new value} for the widths that change; empty when the model has none.
    """
    changes = {}
    for key in keys:
        value = params.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
            continue
        if isinstance(value, int):
            new = max(1, int(round(value * factor))) if value > 0 else value
        elif not value:
            new = [int(32 * factor)] if factor > 1 and key == "hidden_units" else []
        else:
            new = [max(1, int(round(width * factor))) for width in value]
        if new != (list(value) if isinstance(value, (list, tuple)) else value):
            changes[key] = new
    return changes


def _capacity_fix(title: str, params: dict, changes: dict, reason: str) -> Fix:
    """A Fix that sets every changed width, titled with the old and new sizes."""
    sizes = ", ".join(f"{key} {format_value(params[key])} -> {format_value(new)}" for key, new in changes.items())
    return Fix(f"{title} ({sizes})", [f"model.{key}={format_value(new)}" for key, new in changes.items()], reason)


def _count(n: int | None, unknown: str) -> str:
    return f"{n:,}" if n else unknown


def _train(facts, key: str, default):
    value = facts.train.get(key)
    return default if value is None else value


def recommend_fixes(verdict: str, evidence: dict, facts) -> list[Fix]:
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
    keys = capacity_keys_of(facts)
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
                             f"the run used {facts.n_train:,} of {available:,} available training examples "
                             f"({evidence['parameters_per_example'] or 0:,.0f} parameters per example); more "
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
                         f"so the model cannot memorise {_count(facts.n_train, 'the')} examples as easily"))
        smaller = scale_capacity(facts.model_params, 1.0 / CAPACITY_FACTOR, keys)
        if smaller:
            fixes.append(_capacity_fix(
                "smaller model", facts.model_params, smaller,
                f"{_count(facts.n_parameters, 'many')} parameters for {_count(facts.n_train, 'few')} examples; "
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
        still_falling = evidence["val_loss_still_falling"]
        more_epochs = Fix("more epochs", [f"train.epochs={epochs * 3}"],
                          f"validation loss still fell {-evidence['val_loss_trend']:.1%} per epoch at the "
                          "end")
        bigger = scale_capacity(facts.model_params, CAPACITY_FACTOR, keys)
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


