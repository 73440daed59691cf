"""
2. MNIST with a multilayer perceptron
=====================================

A multilayer perceptron (MLP) reads a 28x28 digit as a vector of 784 numbers. Its last layer gives
one number per class, the *logits*; softmax turns them into probabilities that sum to 1, and the
model is trained with cross-entropy. With two classes, one logit and a sigmoid are enough: that is
the binary 3-versus-7 task at the end.

Theory: :doc:`/theory/mlp`. Run it yourself: ``python docs/tutorials/02_mnist_mlp.py``.
"""

# %%
# Settings
# --------
import os
import time

import matplotlib.pyplot as plt
import torch

from synbiolab import TrainConfig, build_model, count_parameters, evaluate, fit, load_dataset, predict

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
TRAIN_SIZE = 2000 if FAST else (None if LONG else 20000)  # None: all 55,000 training images
EPOCHS = 3 if FAST else (20 if LONG else 6)
started = time.perf_counter()
torch.manual_seed(0)

# %%
# Flattening: 28x28 pixels become 784 inputs
# ------------------------------------------
ds = load_dataset("mnist", train_size=TRAIN_SIZE, val_size=2000)
image = ds.train.x[0]
print(f"one image: {tuple(image.shape)} -> flattened: {tuple(image.flatten().shape)}; label {int(ds.train.y[0])}")
print(f"task: {ds.task}, {ds.n_outputs} outputs; train {len(ds.train)}, validation {len(ds.val)}, "
      f"test {len(ds.test)}")

fig, axes = plt.subplots(2, 1, figsize=(8, 3.2), gridspec_kw={"height_ratios": [4, 1]})
axes[0].imshow(image[0], cmap="gray_r")
axes[0].set_title(f"a training image (label {int(ds.train.y[0])}), 28x28")
axes[0].axis("off")
axes[1].imshow(image.flatten()[None, :], aspect="auto", cmap="gray_r")
axes[1].set_yticks([])
axes[1].set_xlabel("the same image as 784 inputs, row after row")
fig.tight_layout()

# %%
# The model
# ---------
# One hidden layer of 256 ReLU units, dropout 0.2, and a linear head with 10 outputs. The model
# returns logits; the softmax lives in the loss (``cross_entropy`` on logits), where it is computed
# in a numerically stable way.
model = build_model("mlp", ds, hidden_units=[256])
print(model)
print(f"{count_parameters(model):,} parameters = 784*256 + 256 + 256*10 + 10")
result = fit(model, ds, TrainConfig(epochs=EPOCHS, lr=1e-3, schedule="onecycle", progress=False), verbose=False)
for row in result.history:
    print(f"epoch {row['epoch']}: train error {row['train_error']:.4f}, validation error {row['val_error']:.4f}")

# %%
# Softmax: every row of probabilities sums to 1
# ---------------------------------------------
logits = predict(result.model, ds.test.x[:1000])
probabilities = torch.softmax(logits, dim=1)
row_sums = probabilities.sum(1)
worst_sum = float((row_sums - 1).abs().max())
print(f"logits {tuple(logits.shape)}; softmax rows sum to 1 within {worst_sum:.1e}")
test = evaluate(result.model, ds.test, ds.task)
print(f"test accuracy {test['accuracy']:.4f} (error {test['error']:.4f}) on {test['n']} images")

fig, axes = plt.subplots(2, 6, figsize=(10, 3.6))
for i in range(6):
    axes[0, i].imshow(ds.test.x[i, 0], cmap="gray_r")
    axes[0, i].axis("off")
    axes[0, i].set_title(f"label {int(ds.test.y[i])}")
    axes[1, i].bar(range(10), probabilities[i].numpy(), color="C0")
    axes[1, i].set_xticks(range(10))
    axes[1, i].tick_params(labelsize=7)
    axes[1, i].set_ylim(0, 1)
fig.suptitle("Test digits and the softmax probabilities of the 10 classes")
fig.tight_layout()

# %%
# Two classes: 3 versus 7 with one sigmoid output
# -----------------------------------------------
# ``classes=[3, 7]`` keeps two digits and relabels them 0 and 1: the task becomes ``binary``, the
# model gets a single output, and the loss is binary cross-entropy on that logit. The probability
# of "7" is the sigmoid of the logit.
binary = load_dataset("mnist", classes=[3, 7], train_size=1000 if FAST else 4000, val_size=1000)
print(f"task: {binary.task}, classes {binary.class_names}, {binary.n_outputs} output")
binary_model = build_model("mlp", binary, hidden_units=[64])
binary_result = fit(binary_model, binary, TrainConfig(epochs=EPOCHS, progress=False), verbose=False)
binary_logits = predict(binary_result.model, binary.test.x)
p_seven = torch.sigmoid(binary_logits.reshape(-1))
binary_test = evaluate(binary_result.model, binary.test, binary.task)
print(f"3 vs 7: logits {tuple(binary_logits.shape)}, P(7) of the first five test digits "
      f"{[round(float(p), 3) for p in p_seven[:5]]}, labels {binary.test.y[:5].tolist()}")
print(f"3 vs 7 test accuracy {binary_test['accuracy']:.4f} on {binary_test['n']} images")

# %%
# Headline
# --------
print(f"headline: 10-class test accuracy {test['accuracy']:.4f}; softmax rows sum to 1 within {worst_sum:.0e}; "
      f"3-vs-7 test accuracy {binary_test['accuracy']:.4f} ({time.perf_counter() - started:.0f} s)")
assert worst_sum < 1e-5
assert test["accuracy"] >= (0.85 if FAST else 0.95), test
assert binary_test["accuracy"] >= (0.95 if FAST else 0.98), binary_test

# %%
# Exercises
# ---------
# 1. Remove the hidden layer (``hidden_units=[]``): the model is multinomial logistic regression, and
#    test accuracy falls to about 0.92. The hidden layer is what lets the model combine pixels.
# 2. Use ``hidden_units=[1024, 1024]`` (the default): about 1.9 million parameters. Accuracy rises by
#    a few tenths of a point and the gap between training and validation error grows.
# 3. Pick two digits that look alike, ``classes=[4, 9]``: the binary accuracy drops below that of
#    3 versus 7. Which pairs are hardest?
# 4. Shuffle the pixels of every image with one fixed permutation before training. The MLP's accuracy
#    does not change at all: it does not know which pixels are neighbours. (A CNN does, see
#    tutorial 5.)
plt.show()
