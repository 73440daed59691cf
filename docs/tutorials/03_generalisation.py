"""
3. Generalisation: learning curves, capacity and data size
==========================================================

A model is useful when it does well on data it never saw. This tutorial measures that: the learning
curves of one run with the generalisation gap shaded; a *capacity sweep* (ever wider MLPs) with the
underfitting and overfitting regions marked; a *training-size sweep*; and the verdicts that
``synbiolab diagnose`` gives for three runs.

Theory: :doc:`/theory/generalisation` (the rules and thresholds used below).
Run it yourself: ``python docs/tutorials/03_generalisation.py``.

Which numbers are which: ``fit`` records, after every epoch, the error of that epoch's weights on
a fixed subsample of the training split and on the validation split. The rules of ``diagnose`` judge
the **last epoch** of that history (where training ended); the model that ``fit`` returns, and that a
run folder saves and tests, holds the weights of the **best epoch** (lowest validation loss).
"""

# %%
# Settings
# --------
import math
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from synbiolab import (
    RunFacts,
    TrainConfig,
    build_model,
    count_parameters,
    default_config,
    diagnose,
    diagnose_history,
    fit,
    load_dataset,
    train,
)

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
EPOCHS = 4 if FAST else (30 if LONG else 10)
WIDTHS = [2, 16, 1024] if FAST else [1, 4, 16, 64, 256, 1024]
SIZES = [100, 1000] if FAST else ([100, 300, 1000, 3000, 10000, 55000] if LONG else [100, 300, 1000, 3000, 10000])
OUT = Path(tempfile.mkdtemp(prefix="synbiolab-tutorial-03-"))  # run folders go here, not into the project
started = time.perf_counter()

# %%
# One helper: train with ``fit`` and ask the rule book for a verdict
# ------------------------------------------------------------------
# :func:`synbiolab.diagnose_history` is the pure function behind ``synbiolab diagnose``: it reads a
# history (one row per epoch) and a few facts about the run. The facts put errors on one scale: the
# *reference error* is that of always predicting the most frequent class (0.89 on MNIST), and the
# starting loss is the entropy of the class frequencies (what a network that knows nothing scores).


def run(ds, hidden, epochs=EPOCHS, weight_decay=0.0, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    model = build_model("mlp", ds, hidden_units=hidden, dropout=dropout)
    config = TrainConfig(epochs=epochs, lr=1e-3, weight_decay=weight_decay, seed=seed, progress=False)
    result = fit(model, ds, config, verbose=False)
    frequencies = np.bincount(ds.train.y.numpy(), minlength=10) / len(ds.train)
    facts = RunFacts(task=ds.task, data_kind=ds.kind, majority_error=ds.majority_error(),
                     baseline_loss=float(-(frequencies[frequencies > 0] * np.log(frequencies[frequencies > 0])).sum()),
                     n_classes=10, n_parameters=count_parameters(model), n_train=len(ds.train),
                     model_name="mlp", model_params={"hidden_units": hidden, "dropout": dropout},
                     train=asdict(config), best_weights_restored=True)
    history = pd.DataFrame(result.history)
    return history, diagnose_history(history, facts), count_parameters(model)


# %%
# Learning curves and the gap
# ---------------------------
# A wide MLP (1024 hidden units, no dropout, no weight decay) on 500 images: the training error goes
# to zero while the validation error stalls. The shaded band between the two curves is the
# generalisation gap.
small = load_dataset("mnist", train_size=500, val_size=1000)
history, verdict, _ = run(small, [1024], epochs=EPOCHS * 2)
last = history.iloc[-1]
print(f"last epoch: train error {last.train_error:.3f}, validation error {last.val_error:.3f}, "
      f"gap {last.val_error - last.train_error:.3f}; verdict: {verdict.summary}")

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(history.epoch, history.train_error, "o-", label="training error")
ax.plot(history.epoch, history.val_error, "o-", label="validation error")
ax.fill_between(history.epoch, history.train_error, history.val_error, alpha=0.2, color="C3", label="gap")
best = int(history.val_loss.idxmin())
ax.axvline(history.epoch[best], color="grey", ls=":", label=f"lowest validation loss (epoch {history.epoch[best]})")
ax.set_xlabel("epoch")
ax.set_ylabel("error (1 - accuracy)")
ax.set_title(f"500 training images, MLP [1024]: {verdict.verdict}")
ax.legend()
fig.tight_layout()

# %%
# A capacity sweep
# ----------------
# The same 1,000 training images, MLPs from 1 to 1024 hidden units. Narrow models cannot even fit the
# training set (underfitting: high training error); wide ones fit it far better than the validation
# set (overfitting: a large gap). Each point is coloured by its verdict.
ds = load_dataset("mnist", train_size=1000, val_size=1000)
rows = []
for width in WIDTHS:
    history, verdict, n_parameters = run(ds, [width])
    last = history.iloc[-1]
    rows.append({"hidden": width, "parameters": n_parameters, "train_error": last.train_error,
                 "val_error": last.val_error, "gap": last.val_error - last.train_error,
                 "verdict": verdict.verdict})
capacity = pd.DataFrame(rows)
print(capacity.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

COLOURS = {"underfitting": "C1", "good fit": "C2", "overfitting": "C3", "still improving": "C0", "unstable": "k"}


def mark_regions(ax, x, verdicts):
    """Shade the stretch of the x axis around each point by its verdict (geometric midpoints)."""
    x = np.asarray(x, float)
    edges = np.sqrt(x[1:] * x[:-1])
    lows = np.concatenate([[x[0] / 1.5], edges])
    highs = np.concatenate([edges, [x[-1] * 1.5]])
    for low, high, v in zip(lows, highs, verdicts, strict=True):
        ax.axvspan(low, high, color=COLOURS[v], alpha=0.12, lw=0)
    for v, colour in COLOURS.items():
        if v in set(verdicts):
            ax.plot([], [], "s", color=colour, alpha=0.4, label=v)


fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(capacity.parameters, capacity.train_error, "o-", label="training error")
ax.plot(capacity.parameters, capacity.val_error, "o-", label="validation error")
mark_regions(ax, capacity.parameters, capacity.verdict)
ax.set_xscale("log")
ax.set_xlabel("parameters (MLP with 1 hidden layer)")
ax.set_ylabel("error at the last epoch")
ax.set_title("Capacity sweep on 1,000 MNIST images")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# A training-size sweep
# ---------------------
# Now the model is fixed (256 hidden units, dropout 0.2) and the training set grows. With few images
# the gap is wide; more data closes it, which is why "more data" heads the list of fixes for
# overfitting.
rows = []
for size in SIZES:
    sized = load_dataset("mnist", train_size=size if size < 55000 else None, val_size=5000 if LONG else 1000)
    history, verdict, _ = run(sized, [256], epochs=min(EPOCHS, 8), dropout=0.2)
    last = history.iloc[-1]
    rows.append({"train_size": size, "train_error": last.train_error, "val_error": last.val_error,
                 "gap": last.val_error - last.train_error, "verdict": verdict.verdict})
learning = pd.DataFrame(rows)
print(learning.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(learning.train_size, learning.train_error, "o-", label="training error")
ax.plot(learning.train_size, learning.val_error, "o-", label="validation error")
mark_regions(ax, learning.train_size, learning.verdict)
ax.set_xscale("log")
ax.set_xlabel("training images")
ax.set_ylabel("error at the last epoch")
ax.set_title("Training-size sweep, MLP [256]")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# ``diagnose`` on three run folders
# ---------------------------------
# The same rules, on real run folders written by :func:`synbiolab.train` (what ``synbiolab train``
# does): a 2-unit MLP (too small), a 1024-unit MLP on 500 images (too big for its data) and a
# 256-unit MLP with dropout and weight decay on 10,000 images. ``diagnose`` prints the verdict, the
# evidence as numbers and ranked fixes; the printout of the second run is kept below.
cases = {"too small": ({"hidden_units": [2], "dropout": 0.0}, 1000, 0.0),
         "too big for its data": ({"hidden_units": [1024], "dropout": 0.0}, 500, 0.0),
         "256 units on 10,000 images": ({"hidden_units": [256], "dropout": 0.2}, 2000 if FAST else 10000, 1e-4)}
if FAST:  # each run folder also gets its report.html: the fast mode writes one
    cases = {"too big for its data": cases["too big for its data"]}
verdicts = {}
for name, (params, size, weight_decay) in cases.items():
    config = default_config("mnist", "mlp")  # the recipe: AdamW, one-cycle schedule
    config.data.train_size, config.data.val_size = size, 1000
    config.model.params.update(params)
    config.train.epochs, config.train.weight_decay, config.train.progress = 8, weight_decay, False
    folder = train(config, out=OUT / name.replace(" ", "-").replace(",", ""), verbose=False).path
    diagnosis = diagnose(folder, verbose=name == "too big for its data", estimate_noise=False)
    verdicts[name] = diagnosis.verdict
    print(f"{name}: {diagnosis.summary}")
print(f"run folders (with report.html): {OUT}")

# %%
# Headline
# --------
gaps = capacity.set_index("hidden").gap
summary = ", ".join(f"{k}: {v}" for k, v in verdicts.items())
print(f"headline: capacity sweep verdicts {capacity.verdict.tolist()}; gap {gaps.iloc[0]:.3f} at "
      f"{WIDTHS[0]} units -> {gaps.iloc[-1]:.3f} at {WIDTHS[-1]}; gap {learning.gap.iloc[0]:.3f} with "
      f"{SIZES[0]} images -> {learning.gap.iloc[-1]:.3f} with {SIZES[-1]}; diagnose: {summary} "
      f"({time.perf_counter() - started:.0f} s)")
assert capacity.verdict.iloc[0] == "underfitting", capacity
assert capacity.verdict.iloc[-1] == "overfitting", capacity
assert gaps.iloc[-1] > gaps.iloc[0] + 0.03, "the gap should widen with capacity"
assert learning.gap.iloc[-1] < learning.gap.iloc[0] - 0.03, "the gap should narrow with more data"
assert verdicts["too big for its data"] == "overfitting", verdicts
if not FAST:
    assert verdicts["too small"] == "underfitting", verdicts
    assert verdicts["256 units on 10,000 images"] in ("good fit", "still improving"), verdicts
assert not math.isnan(gaps.iloc[-1])

# %%
# Exercises
# ---------
# 1. Add ``weight_decay=0.05`` to the 1024-unit run of the first section. The training error no longer
#    reaches zero and the gap narrows: regularisation trades a little bias for less variance.
# 2. Sweep the number of epochs instead of the width (``EPOCHS = 60`` for the first section). The
#    validation loss reaches its lowest point and then rises while the training loss keeps falling:
#    that turning point is what early stopping finds.
# 3. Run ``synbiolab sweep --data mnist --model mlp --param model.hidden_units=[4],[64],[1024]
#    --train-size 1000`` in a terminal: the same capacity curve, with a page (``sweep.html``) that
#    shades the regions in the same way.
# 4. Look at the thresholds printed at the end of the ``diagnose`` output and change the 500-image run
#    until its verdict flips from overfitting to good fit. Which change did it?
plt.show()
