"""
1. The four steps by hand
=========================

Every neural network in this course is trained by the same four steps, repeated: **sample a batch,
forward propagate, backpropagate, update the parameters**. This tutorial writes them out in plain
tensors for a two-layer multilayer perceptron on MNIST, with the gradients derived by hand from the
chain rule, checks those gradients against PyTorch's autograd, and then trains the same model with
:func:`synbiolab.fit`, whose loop is these four steps and nothing more.

Theory: :doc:`/theory/training_loop` (the chain rule through this very network) and
:doc:`/theory/mlp` (softmax and cross-entropy).

Run it yourself from the project root: ``python docs/tutorials/01_four_steps.py``.
"""

# %%
# Settings
# --------
# ``SYNBIOLAB_TUTORIAL_FAST=1`` (what the test suite sets) shrinks the data and the number of steps;
# ``SYNBIOLAB_TUTORIAL_LONG=1`` trains on the whole training set for longer.
import os
import time

import matplotlib.pyplot as plt
import torch

from synbiolab import TrainConfig, build_model, evaluate, fit, load_dataset

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
TRAIN_SIZE = 1000 if FAST else (None if LONG else 10000)  # None: all 55,000 training images
STEPS = 150 if FAST else (3000 if LONG else 800)
HIDDEN = 64  # units of the hidden layer
LR = 0.1  # plain SGD step size
started = time.perf_counter()
torch.manual_seed(0)

# %%
# The data: 28x28 images flattened to 784 inputs
# ----------------------------------------------
# :func:`synbiolab.load_dataset` returns train, validation and test splits as tensors. Images are
# ``(N, 1, 28, 28)``, normalised with MNIST's mean and standard deviation; labels are integers 0..9.
ds = load_dataset("mnist", train_size=TRAIN_SIZE, val_size=1000)
X = ds.train.x.flatten(1).double()  # (N, 1, 28, 28) -> (N, 784)
y = ds.train.y
Y = torch.nn.functional.one_hot(y, 10).double()  # (N, 10): one 1 per row
print(f"training inputs {tuple(X.shape)}, labels {tuple(y.shape)}, test images {len(ds.test)}")

# %%
# The model and its forward pass
# ------------------------------
# Two layers: :math:`z = XW_1 + b_1`, :math:`h = \max(z, 0)`, :math:`s = hW_2 + b_2` (the logits),
# :math:`p = \mathrm{softmax}(s)` and the mean cross-entropy :math:`L = -\frac{1}{N}\sum_i \log p_{i, y_i}`.
# Weights are drawn with the variance that keeps the activations' scale from layer to layer (He
# initialisation for ReLU).
W1 = (torch.randn(784, HIDDEN, dtype=torch.float64) * (2 / 784) ** 0.5)
b1 = torch.zeros(HIDDEN, dtype=torch.float64)
W2 = (torch.randn(HIDDEN, 10, dtype=torch.float64) * (1 / HIDDEN) ** 0.5)
b2 = torch.zeros(10, dtype=torch.float64)


def forward(X, W1, b1, W2, b2):
    z = X @ W1 + b1  # (B, 784) -> (B, H)
    h = z.clamp(min=0)  # ReLU
    s = h @ W2 + b2  # (B, H) -> (B, 10): logits
    p = torch.softmax(s, dim=1)
    return z, h, s, p


def loss_of(p, Y):
    return -(Y * torch.log(p)).sum(1).mean()


# %%
# Backpropagation by hand
# -----------------------
# The chain rule, from the loss back to every parameter. For softmax followed by cross-entropy the
# gradient with respect to the logits is simply :math:`(p - Y)/N`; everything else is matrix
# products and the ReLU's derivative (1 where :math:`z > 0`, else 0).


def backward(X, Y, z, h, p, W2):
    n = len(X)
    ds_ = (p - Y) / n  # dL/ds            (B, 10)
    dW2 = h.T @ ds_  # dL/dW2 = h^T ds    (H, 10)
    db2 = ds_.sum(0)
    dh = ds_ @ W2.T  # dL/dh              (B, H)
    dz = dh * (z > 0)  # through the ReLU
    dW1 = X.T @ dz  # dL/dW1 = X^T dz     (784, H)
    db1 = dz.sum(0)
    return dW1, db1, dW2, db2


# %%
# Checking the hand-written gradients against autograd
# ----------------------------------------------------
# Autograd applies the same chain rule mechanically. In double precision the two must agree to
# rounding error; a wrong sign or a missing ReLU factor shows up as a difference of order 1e-2.
batch = torch.arange(256)
z, h, s, p = forward(X[batch], W1, b1, W2, b2)
hand = backward(X[batch], Y[batch], z, h, p, W2)
params = [t.clone().requires_grad_(True) for t in (W1, b1, W2, b2)]
auto_loss = loss_of(forward(X[batch], *params)[3], Y[batch])
auto = torch.autograd.grad(auto_loss, params)
max_diff = max(float((a - b).abs().max()) for a, b in zip(hand, auto, strict=True))
for name, a, b in zip(("W1", "b1", "W2", "b2"), hand, auto, strict=True):
    print(f"d{name}: shape {tuple(a.shape)}, max |hand - autograd| = {float((a - b).abs().max()):.2e}")

# %%
# The loop: sample, forward, backward, update
# -------------------------------------------
generator = torch.Generator().manual_seed(0)
losses = []
for _ in range(STEPS):
    idx = torch.randint(0, len(X), (64,), generator=generator)  # 1. sample a batch
    z, h, s, p = forward(X[idx], W1, b1, W2, b2)  # 2. forward propagate
    losses.append(float(loss_of(p, Y[idx])))
    dW1, db1, dW2, db2 = backward(X[idx], Y[idx], z, h, p, W2)  # 3. backpropagate
    W1 -= LR * dW1  # 4. update the parameters
    b1 -= LR * db1
    W2 -= LR * dW2
    b2 -= LR * db2

test_p = forward(ds.test.x.flatten(1).double(), W1, b1, W2, b2)[3]
hand_accuracy = float((test_p.argmax(1) == ds.test.y).double().mean())
first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
print(f"hand-written loop: loss {first:.3f} (first 20 steps) -> {last:.3f} (last 20); "
      f"test accuracy {hand_accuracy:.4f}")

# %%
# The same model through ``synbiolab.fit``
# ----------------------------------------
# ``build_model("mlp", ds, hidden_units=[64], dropout=0)`` is the network above (Flatten, Linear,
# ReLU, Linear); ``fit`` runs the same four steps with ``optimizer="sgd"`` and no momentum, and
# measures the training and validation error after every epoch. It returns the weights of the epoch
# with the lowest validation loss.
steps_per_epoch = -(-len(X) // 64)
epochs = max(1, round(STEPS / steps_per_epoch))
model = build_model("mlp", ds, hidden_units=[HIDDEN], dropout=0.0)
result = fit(model, ds, TrainConfig(epochs=epochs, batch_size=64, optimizer="sgd", lr=LR, momentum=0.0,
                                    progress=False), verbose=False)
fit_accuracy = evaluate(result.model, ds.test, ds.task)["accuracy"]
print(f"synbiolab.fit, {epochs} epochs: test accuracy {fit_accuracy:.4f} (best epoch {result.best_epoch})")

# %%
# The loss falling
# ----------------
# Each hand-written step's batch loss (noisy: 64 examples) and ``fit``'s training loss per epoch,
# measured on the training split with the epoch's final weights.
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(losses, lw=0.6, alpha=0.6, label="by hand: batch loss per step")
history_steps = [row["step"] for row in result.history]
ax.plot(history_steps, [row["train_loss"] for row in result.history], "o-", label="synbiolab.fit: train loss per epoch")
ax.set_xlabel("step")
ax.set_ylabel("cross-entropy")
ax.set_ylim(0, max(losses[:5]) * 1.1)
ax.legend()
ax.set_title("The four steps, by hand and through fit")
fig.tight_layout()

# %%
# Headline
# --------
print(f"headline: max |hand - autograd| = {max_diff:.1e}; loss {first:.2f} -> {last:.2f}; test accuracy "
      f"by hand {hand_accuracy:.3f}, with fit {fit_accuracy:.3f} ({time.perf_counter() - started:.0f} s)")
assert max_diff <= 1e-6, f"hand-written gradients differ from autograd by {max_diff:.2e}"
assert last < 0.5 * first, f"the loss did not fall enough: {first:.3f} -> {last:.3f}"
assert hand_accuracy >= (0.70 if FAST else 0.90), f"hand-trained test accuracy {hand_accuracy:.3f}"
assert fit_accuracy >= (0.70 if FAST else 0.90), f"fit test accuracy {fit_accuracy:.3f}"

# %%
# Exercises
# ---------
# 1. Delete the ReLU factor ``* (z > 0)`` in ``backward``. The gradient check now reports a difference
#    of order 1e-2 instead of 1e-16: autograd catches a wrong derivative at once.
# 2. Set ``LR = 1.0``. The loss first jumps, then falls slowly or not at all: steps that are too large
#    overshoot the valley. With ``LR = 0.001`` it barely moves in 800 steps.
# 3. Set ``HIDDEN = 8``. Test accuracy drops by a few points: eight units cannot represent ten digits
#    well (underfitting, see :doc:`/theory/generalisation`).
# 4. Replace plain SGD in the ``fit`` call with ``optimizer="adam", lr=1e-3``. It reaches the same
#    accuracy in fewer epochs (:doc:`/theory/training_loop` explains why).
plt.show()
