"""
6. Classical vs deep vs combined
================================

Three pipelines, one split. **Hand-crafted features**: histograms of oriented gradients (HoG), chosen
by an expert, then a classical classifier (an RBF support vector machine, a decision tree).
**Learned features**: a CNN learns its own filters and its own classifier end to end. **Both**: the
CNN's penultimate features next to the HoG vector, with logistic regression on top. Then the
training-size view: with few images the expert's features win; with more, the learned ones catch up.

Theory: :doc:`/theory/pipelines`. Run it yourself: ``python docs/tutorials/06_classical_vs_deep.py``.
``synbiolab compare`` runs these pipelines (and more: raw pixels, DAISY, k-NN, random forests) with
the features cached on disk; this tutorial builds them from their parts so that each step is visible.
"""

# %%
# Settings
# --------
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from skimage.feature import hog
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from synbiolab import Dataset, TrainConfig, build_model, evaluate, fit, load_dataset, predict

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
SIZES = [100, 1000] if FAST else ([100, 300, 1000, 3000, 10000] if LONG else [100, 300, 1000, 2000])
N_TEST = 1000 if FAST else (10000 if LONG else 2000)  # test images (HoG in Python costs about 2 ms each)
started = time.perf_counter()

# %%
# Hand-crafted features: HoG
# --------------------------
# HoG measures the direction of the intensity gradient at every pixel and counts the directions in
# 9 bins per cell. Two cell sizes (7x7 and 4x4 pixels) with blocks of 2x2 cells normalised together
# give 324 + 1,296 = 1,620 numbers per 28x28 digit (the same features ``synbiolab compare`` uses).


def pixels(split, ds, n=None):
    """Images back in 0..1 (the data set stores them standardised)."""
    norm = ds.info["normalisation"]
    x = split.x[:n, 0] if n else split.x[:, 0]
    return (x * norm["std"] + norm["mean"]).numpy()


def hog_features(images):
    return np.stack([np.concatenate([
        hog(img, orientations=9, pixels_per_cell=(c, c), cells_per_block=(2, 2), block_norm="L2-Hys")
        for c in (7, 4)]) for img in images]).astype(np.float32)


full = load_dataset("mnist", train_size=SIZES[-1], val_size=1000)
test_x, test_y = full.test.x[:N_TEST], full.test.y[:N_TEST].numpy()
all_train_hog = hog_features(pixels(full.train, full))
test_hog = hog_features(pixels(full.test, full, N_TEST))
print(f"HoG features: {test_hog.shape[1]} per image; test images {len(test_y)}")

image = pixels(full.test, full, 1)[0]
_, picture = hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), visualize=True)
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
axes[0].imshow(image, cmap="gray_r")
axes[0].set_title(f"a test digit ({int(test_y[0])})")
axes[1].imshow(picture, cmap="magma")
axes[1].set_title("its HoG: dominant gradient\ndirections per 4x4 cell")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# Four pipelines at each training-set size
# ----------------------------------------
# Settings are fixed in advance (no tuning on the test set). The smaller training sets are nested
# subsets of the largest one, so the HoG features are computed once. The CNN is the project's (16
# and 32 channels, a 128-unit layer); it trains for about 200 steps whatever the size, and ``fit``
# keeps the weights of its best validation epoch.
results = {name: [] for name in ("HoG + RBF SVM", "HoG + decision tree", "CNN", "HoG + CNN features + logistic")}
# A nested order that keeps the classes balanced: the k-th image of each class comes before the
# (k+1)-th of any class, so the first 100 images hold about 10 of each digit.
rng, labels = np.random.default_rng(0), full.train.y.numpy()
rank = np.zeros(len(labels))
for c in range(10):
    members = rng.permutation(np.flatnonzero(labels == c))
    rank[members] = np.arange(len(members)) / len(members)
order = np.argsort(rank + 1e-9 * rng.random(len(labels)))
for size in SIZES:
    keep = np.sort(order[:size])
    ds = Dataset(full.name, full.task, full.kind, full.train.subset(keep), full.val, full.test, full.class_names,
                 full.input_shape, info=full.info)
    train_hog, train_y = all_train_hog[keep], ds.train.y.numpy()

    svm = make_pipeline(PCA(n_components=min(120, size - 1), random_state=0),
                        SVC(C=10, gamma="scale")).fit(train_hog, train_y)
    tree = DecisionTreeClassifier(max_depth=10, random_state=0).fit(train_hog, train_y)

    torch.manual_seed(0)
    cnn = build_model("cnn", ds, channels=[16, 32], head_units=[128])
    steps_per_epoch = -(-size // 32)
    n_epochs = int(np.clip(200 // steps_per_epoch, 3, 40)) if not FAST else int(np.clip(100 // steps_per_epoch, 2, 20))
    cnn = fit(cnn, ds, TrainConfig(epochs=n_epochs, batch_size=32, lr=3e-3, schedule="onecycle", weight_decay=5e-4,
                                   progress=False), verbose=False).model

    # The hybrid: the CNN's penultimate features (what its head reads) beside the HoG vector,
    # each block standardised, then one linear classifier.
    with torch.no_grad():
        train_deep = cnn.features(ds.train.x).numpy()
        test_deep = cnn.features(test_x).numpy()
    hybrid = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    hybrid.fit(np.hstack([train_hog, train_deep]), train_y)

    accuracy = {
        "HoG + RBF SVM": float((svm.predict(test_hog) == test_y).mean()),
        "HoG + decision tree": float((tree.predict(test_hog) == test_y).mean()),
        "CNN": evaluate(cnn, (test_x, full.test.y[:N_TEST]), ds.task)["accuracy"],
        "HoG + CNN features + logistic": float((hybrid.predict(np.hstack([test_hog, test_deep])) == test_y).mean()),
    }
    for name, value in accuracy.items():
        results[name].append(value)
    print(f"{size:>6} training images: " + ", ".join(f"{k} {v:.4f}" for k, v in accuracy.items()))

# %%
# The training-size view
# ----------------------
fig, ax = plt.subplots(figsize=(7, 4))
for (name, values), marker in zip(results.items(), "osD^", strict=True):
    ax.plot(SIZES, 1 - np.array(values), marker=marker, label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("training images")
ax.set_ylabel("test error")
ax.set_title("Hand-crafted, learned and combined features on MNIST")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Confusions of the CNN on the largest training set
# -------------------------------------------------
predicted = predict(cnn, test_x).argmax(1).numpy()
confusion = np.zeros((10, 10), int)
np.add.at(confusion, (test_y, predicted), 1)
np.fill_diagonal(confusion, 0)
pair = np.unravel_index(confusion.argmax(), confusion.shape)
print(f"the CNN's most frequent mistake: {pair[0]} read as {pair[1]} ({confusion.max()} times)")

# %%
# Headline
# --------
svm, tree, cnn_acc, hybrid_acc = (np.array(v) for v in results.values())
print(f"headline: at {SIZES[0]} images HoG+SVM {svm[0]:.3f} vs CNN {cnn_acc[0]:.3f}; at {SIZES[-1]} images "
      f"HoG+SVM {svm[-1]:.3f}, CNN {cnn_acc[-1]:.3f}, hybrid {hybrid_acc[-1]:.3f}, decision tree {tree[-1]:.3f} "
      f"({time.perf_counter() - started:.0f} s)")
assert svm[0] > cnn_acc[0], "hand-crafted features should win on the smallest training set"
assert (tree < svm).all() and (tree < cnn_acc).all(), "a single decision tree is the weakest classifier"
assert cnn_acc[-1] > cnn_acc[0] + 0.05, "the CNN gains the most from more data"
assert svm[-1] >= (0.9 if FAST else 0.95) and cnn_acc[-1] >= (0.85 if FAST else 0.92)

# %%
# Exercises
# ---------
# 1. Replace the HoG features of the SVM by the raw 784 pixels (``pixels(ds.train, ds).reshape(size,
#    -1)``). At 100 images the SVM loses much of its lead: the expert's features carry it.
# 2. Use one cell size only (``for c in (7,)``): 324 features. Accuracy drops a little at every size,
#    and the decision tree improves slightly (fewer irrelevant splits to choose from).
# 3. Give the CNN shift-and-rotate augmentation (``augment="shift_rotate"`` in ``TrainConfig``).
#    Its small-data accuracy rises: augmentation is a way to teach invariances without an expert.
# 4. In a terminal: ``synbiolab compare --data mnist --train-size 100,1000 --pipelines
#    hog+pca120+rbf_svm,hog+decision_tree,cnn,hog+cnn+logistic_regression``, and open its report.
plt.show()
