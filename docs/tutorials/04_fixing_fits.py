"""
4. Fixing underfitting and overfitting
======================================

The lecture gives two lists. Against **underfitting** (high bias: even the training error is high):
more model capacity, more features, more epochs, less regularisation. Against **overfitting** (high
variance: a large gap between training and test error): more data, cleaner data, regularisation,
fewer features, a smaller model, fewer epochs (early stopping). This tutorial applies every one of
them to a run that needs it and puts the numbers before and after side by side.

Theory: :doc:`/theory/generalisation` says which way each fix moves the training and the test error,
and why. Run it yourself: ``python docs/tutorials/04_fixing_fits.py``.

Which numbers: every error below is measured with the weights that ``fit`` returns, those of the epoch
with the lowest validation loss, on the whole training split and on the test split; only the early
stopping row compares the last epoch with that best epoch, on the validation split (the last epoch's
weights are never kept, so they have no test error).
"""

# %%
# Settings and helpers
# --------------------
import os
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
import torch.nn.functional as F

from synbiolab import Dataset, Split, TrainConfig, build_model, evaluate, fit, load_dataset

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
SCALE = 0.25 if FAST else (3 if LONG else 1)  # multiplies training-set sizes and epochs
N_TEST = 2000 if FAST else 10000  # test images scored per run
started = time.perf_counter()


def size(n):
    return max(100, int(n * SCALE))


def epochs(n):
    return max(2, int(round(n * min(SCALE, 1.5))))


def with_inputs(ds, change):
    """The same data set with every split's images passed through `change` (fewer or more features)."""
    splits = [Split(change(s.x), s.y) for s in (ds.train, ds.val, ds.test)]
    return Dataset(ds.name, ds.task, ds.kind, *splits, ds.class_names, tuple(splits[0].x.shape[1:]), info=ds.info)


def train_and_measure(ds, hidden, n_epochs, dropout=0.0, weight_decay=0.0, lr=1e-3, seed=0, **params):
    """Errors of the kept (best-epoch) weights on the training and test splits, and the history."""
    torch.manual_seed(seed)
    model = build_model("mlp", ds, hidden_units=hidden, dropout=dropout, **params)
    config = TrainConfig(epochs=n_epochs, lr=lr, weight_decay=weight_decay, seed=seed, progress=False)
    result = fit(model, ds, config, verbose=False)
    train_error = evaluate(result.model, ds.train, ds.task)["error"]
    test_error = evaluate(result.model, (ds.test.x[:N_TEST], ds.test.y[:N_TEST]), ds.task)["error"]
    return {"train": train_error, "test": test_error, "gap": test_error - train_error, "history": result.history}


rows = []


def compare(problem, fix, before, after, expect):
    rows.append({"problem": problem, "fix": fix, "train before": before["train"], "train after": after["train"],
                 "test before": before["test"], "test after": after["test"],
                 "gap before": before["gap"], "gap after": after["gap"], "expect": expect})
    print(f"{problem} -> {fix}: train {before['train']:.3f} -> {after['train']:.3f}, "
          f"test {before['test']:.3f} -> {after['test']:.3f}, gap {before['gap']:+.3f} -> {after['gap']:+.3f}")


base = load_dataset("mnist", train_size=size(3000), val_size=1000)
tiny = load_dataset("mnist", train_size=size(500), val_size=1000)

# %%
# Underfitting: four runs that cannot fit their training set
# ----------------------------------------------------------
# **More capacity.** Two hidden units cannot separate ten digits; 256 can.
compare("underfit: 2 hidden units", "256 hidden units",
        train_and_measure(base, [2], epochs(10)), train_and_measure(base, [256], epochs(10)), "train down")

# %%
# **More features.** Averaging 7x7 blocks leaves a 4x4 image (16 inputs): the digit's shape is gone.
# The full 28x28 image gives the model 784 inputs to work with.
coarse = with_inputs(base, lambda x: F.avg_pool2d(x, 7))
compare("underfit: 4x4 images (16 inputs)", "28x28 images (784 inputs)",
        train_and_measure(coarse, [256], epochs(10)), train_and_measure(base, [256], epochs(10)), "train down")

# %%
# **More epochs.** One epoch at a small learning rate stops long before the loss has fallen.
compare("underfit: 1 epoch at lr 1e-4", "15 epochs at lr 1e-4",
        train_and_measure(base, [256], 1, lr=1e-4), train_and_measure(base, [256], epochs(15), lr=1e-4),
        "train down")

# %%
# **Less regularisation.** Dropout of 0.9 on the hidden units and a strong weight decay hold the model
# back; removing them lets it fit.
compare("underfit: dropout 0.9 + weight decay 2", "no dropout, no weight decay",
        train_and_measure(base, [256], epochs(10), dropout=0.9, weight_decay=2.0),
        train_and_measure(base, [256], epochs(10)), "train down")

# %%
# Overfitting: six runs with a gap
# --------------------------------
# **More data.** The same 1024-unit MLP on 500 and on 5,000 images.
more = load_dataset("mnist", train_size=size(5000), val_size=1000)
compare("overfit: 500 images", "5,000 images",
        train_and_measure(tiny, [1024], epochs(30)), train_and_measure(more, [1024], epochs(10)), "gap down")

# %%
# **Cleaner data.** ``label_noise=0.3`` shuffles the labels of 30 % of the training images (validation
# and test stay clean). The network memorises the wrong labels too; with clean labels there is
# nothing wrong to memorise.
noisy = load_dataset("mnist", train_size=size(3000), val_size=1000, label_noise=0.3)
compare("overfit: 30 % wrong labels", "clean labels",
        train_and_measure(noisy, [1024], epochs(15)), train_and_measure(base, [1024], epochs(15)), "test down")

# %%
# **Regularisation.** Dropout (0.2 on the inputs, 0.5 on the hidden units) and decoupled weight decay
# 0.5 on the 1024-unit MLP and 500 images: each step sees a different thinned network, and large
# weights shrink.
compare("overfit: no regularisation", "dropout 0.2/0.5 + weight decay 0.5",
        train_and_measure(tiny, [1024], epochs(30)),
        train_and_measure(tiny, [1024], epochs(30), dropout=0.5, input_dropout=0.2, weight_decay=0.5), "gap down")

# %%
# **Fewer features.** Each image gets a second 28x28 panel of pure noise beside it (1,568 inputs, half
# of them useless). With 500 images the MLP finds patterns in the noise that do not generalise;
# dropping the noise panel narrows the gap.
generator = torch.Generator().manual_seed(0)
padded = with_inputs(tiny, lambda x: torch.cat([x, torch.randn(x.shape, generator=generator)], dim=3))
compare("overfit: 784 pixels + 784 noise inputs", "the 784 pixels only",
        train_and_measure(padded, [256], epochs(30)), train_and_measure(tiny, [256], epochs(30)), "gap down")

# %%
# **A smaller model.** 2048 hidden units against 32 on the same 500 images. The gap narrows and the
# training error rises: a smaller model trades variance for bias, and the test error falls only while
# variance is the larger part of it.
compare("overfit: 2048 hidden units", "32 hidden units",
        train_and_measure(tiny, [2048], epochs(15)), train_and_measure(tiny, [32], epochs(15)), "gap down")

# %%
# **Fewer epochs: early stopping.** Trained for long on labels of which 30 % are wrong, the network
# first learns the digits and then memorises the wrong labels: the validation loss and error turn up
# while the training loss keeps falling. ``fit`` always keeps the weights of the epoch with the lowest
# validation loss, so the saved model is already early-stopped; the difference shows in the history.
long_run = train_and_measure(noisy, [256], epochs(30))
history = pd.DataFrame(long_run["history"])
best = history.loc[history.val_loss.idxmin()]
last = history.iloc[-1]
rows.append({"problem": f"overfit: {int(last.epoch)} epochs on 30 % wrong labels (validation)",
             "fix": f"stop at epoch {int(best.epoch)} (lowest validation loss)",
             "train before": last.train_error, "train after": best.train_error,
             "test before": last.val_error, "test after": best.val_error,
             "gap before": last.val_error - last.train_error, "gap after": best.val_error - best.train_error,
             "expect": "test down"})
print(f"early stopping: epoch {int(last.epoch)} train {last.train_error:.3f} / validation {last.val_error:.3f} "
      f"(loss {last.val_loss:.3f}) -> epoch {int(best.epoch)} train {best.train_error:.3f} / validation "
      f"{best.val_error:.3f} (loss {best.val_loss:.3f})")

# %%
# Before and after, side by side
# ------------------------------
table = pd.DataFrame(rows)
pd.set_option("display.width", 200)
print(table.drop(columns="expect").to_string(index=False, float_format=lambda v: f"{v:.3f}"))

fig, axes = plt.subplots(1, 2, figsize=(11, 5.5), sharex=False)
for ax, (kind, part) in zip(axes, (("underfitting", table[:4]), ("overfitting", table[4:])), strict=True):
    y = range(len(part))
    for i, (_, r) in enumerate(part.iterrows()):
        ax.annotate("", xy=(r["train after"], i + 0.12), xytext=(r["train before"], i + 0.12),
                    arrowprops={"arrowstyle": "->", "color": "C0", "lw": 1.8})
        ax.annotate("", xy=(r["test after"], i - 0.12), xytext=(r["test before"], i - 0.12),
                    arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1.8})
        ax.plot([r["train before"], r["test before"]], [i + 0.12, i - 0.12], "o", color="grey", ms=3)
    ax.set_yticks(list(y))
    ax.set_yticklabels([f"{r['fix']}\n(was: {r['problem'].split(': ')[1]})" for _, r in part.iterrows()], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("error (arrow: before -> after)")
    ax.set_title(f"fixes for {kind}")
    ax.plot([], [], color="C0", label="training error")
    ax.plot([], [], color="C3", label="test error")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(left=0)
fig.tight_layout()

# %%
# Headline
# --------
# Every underfitting fix lowers the training error; every overfitting fix narrows the gap between
# training and test error, and all but the smaller model lower the test error. The two rows with
# wrong labels (cleaner data, early stopping) are judged by their test or validation error alone:
# their "training error" is measured against the wrong labels.
under, over = table[:4], table[4:]
train_drops = (under["train before"] - under["train after"]).round(3).tolist()
gap_drops = (over["gap before"] - over["gap after"]).round(3).tolist()
print(f"headline: underfitting fixes lower the training error by {train_drops}; overfitting fixes narrow the gap "
      f"by {gap_drops} and lower the test error in {int((over['test after'] < over['test before']).sum())} of "
      f"{len(over)} ({time.perf_counter() - started:.0f} s)")
margin = 0.0 if FAST else 0.01
narrowing = over[over.expect == "gap down"]
assert (under["train after"] < under["train before"] - margin).all(), under
assert (narrowing["gap after"] < narrowing["gap before"] - margin).all(), narrowing
assert (over["test after"] < over["test before"]).sum() >= (4 if FAST else 5), over

# %%
# Exercises
# ---------
# 1. Apply an overfitting fix to an underfitting run: give the 2-unit MLP dropout 0.5. Its training
#    error rises further: regularisation is the wrong medicine for bias.
# 2. Try ``label_noise=0.6``: the test error of the noisy run climbs, and even 5,000 images do not
#    rescue it. Cleaning labels can matter more than collecting more of them.
# 3. In a terminal, train an overfitting run and let the tool pick the fix:
#    ``synbiolab train --data mnist --model mlp --train-size 500 --set model.dropout=0 --out runs/o``,
#    then ``synbiolab diagnose runs/o`` and ``synbiolab fix runs/o --apply 1``. Compare its
#    before/after table with the rows above; note which weights each of its numbers uses.
# 4. Replace the noise panel by a copy of the image itself (``torch.cat([x, x], dim=3)``). The gap
#    hardly changes: duplicated features add parameters but no new way to memorise.
plt.show()
