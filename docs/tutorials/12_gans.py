"""
12. GANs: digits, promoters, and designing promoters
====================================================

A generative adversarial network trains two models against each other: a **generator** that turns
random noise into samples, and a **discriminator** (a *critic* in a WGAN) that tells real from
generated. This tutorial keeps all three parts small enough for a laptop CPU:

1. a DCGAN on MNIST digits, judged by a separate CNN classifier (Frechet distance of the judge's
   features, and whether every digit class is generated);
2. a WGAN-GP on natural *E. coli* promoters, judged by 6-mer agreement with held-out promoters
   between a ceiling (real against real) and a floor (shuffled letters), sigma-70 boxes and novelty;
3. promoter design: sample the generator, score every sample with an expression predictor, keep the best.

A few epochs on a subset make a rough generator, not a good one: the point is to see every number
that judges one. ``SYNBIOLAB_TUTORIAL_LONG=1`` trains longer.

Theory: :doc:`/theory/gan`. Run it yourself: ``python docs/tutorials/12_gans.py``.
"""

# %%
# Settings
# --------
import json
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from synbiolab import apply_overrides, default_config, design, train, train_gan

FAST = os.environ.get("SYNBIOLAB_TUTORIAL_FAST") == "1"
LONG = os.environ.get("SYNBIOLAB_TUTORIAL_LONG") == "1"
DIGITS = None if LONG else 3000  # training digits (plus 500 validation digits)
DCGAN_EPOCHS = 1 if FAST else (10 if LONG else 3)
PROMOTERS = 500 if FAST else (None if LONG else 3000)  # training promoters (plus 500 validation promoters)
WGAN_EPOCHS = 1 if FAST else (20 if LONG else 3)
SAMPLES = 500 if FAST else 2000  # generated samples scored at the end
OUT = Path(tempfile.mkdtemp(prefix="synbiolab-tutorial-12-"))  # run folders go here, not into the project
started = time.perf_counter()

# %%
# A DCGAN on digits
# -----------------
# The generator turns 100 random numbers into a 28x28 image through transposed convolutions; the
# discriminator is a small CNN that outputs one logit, "real". Both are trained with the
# non-saturating loss (Adam, lr 2e-4, beta1 0.5: the DCGAN recipe). Samples come from a moving average
# of the generator's weights, which wander less than the weights themselves.
#
# The **judge** is an ordinary CNN classifier trained on the real digits: the Frechet distance
# compares the mean and covariance of its features on real and generated images (0 for identical
# distributions; the *floor* is the distance between two halves of the real data), and the class
# coverage says whether every digit is being generated (mode collapse shows as missing classes).
# (The fast mode of the test suite uses scikit-learn's 8x8 digits instead: the same code, in seconds.)
dcgan = default_config("digits" if FAST else "mnist", "dcgan")
if not FAST:
    dcgan.data.train_size, dcgan.data.val_size = DIGITS, 500  # a GAN trains on both splits
dcgan.train.epochs, dcgan.train.progress = DCGAN_EPOCHS, False
dcgan.model.params["base_channels"] = 16 if FAST else 32
apply_overrides(dcgan, ["gan.judge_epochs=1", "gan.eval_samples=500", f"gan.final_samples={SAMPLES}",
                        "gan.tog_samples=0"])
digits_run = train_gan(dcgan, out=OUT / "dcgan", verbose=False)
print(f"({time.perf_counter() - started:.0f} s so far)")
final = digits_run.metrics["final"]
print(f"DCGAN, {DCGAN_EPOCHS} epoch(s) on {digits_run.metrics['n_train']} digits: Frechet distance "
      f"{final['frechet']:.2f} (floor {final['frechet_floor']:.2f}); rarest class {final['min_class_fraction']:.1%} "
      f"of samples; judge's mean confidence {final['mean_confidence']:.2f}")

# Mode collapse is read off the class fractions: a healthy generator makes about 10 % of each digit.
fractions = np.array(final["class_fractions"])
print("judged classes of the samples: " + ", ".join(f"{k}: {f:.1%}" for k, f in enumerate(fractions)))
print(f"most generated digit: {fractions.argmax()} ({fractions.max():.0%} of samples)"
      + ("  <- mode collapse: a few epochs were not enough" if fractions.max() > 0.3 else ""))

samples = sorted(digits_run.path.glob("**/*.png"))
grid = next((p for p in samples if "sample" in p.name), None)
if grid is not None:
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(plt.imread(grid), cmap="gray")
    ax.axis("off")
    ax.set_title(f"DCGAN samples after {DCGAN_EPOCHS} epoch(s) ({grid.name})")
    fig.tight_layout()

# %%
# A WGAN-GP on promoters
# ----------------------
# Sequences are one-hot columns; the generator ends in a softmax over the four letters at every
# position, and the critic (no sigmoid: a Wasserstein critic outputs a score) is trained five times
# per generator step with a gradient penalty that keeps it 1-Lipschitz.
#
# The quality numbers: **6-mer r** is the Pearson correlation between the 6-mer frequencies of the
# generated and of held-out natural promoters. Its **ceiling** is the same number for natural promoters
# against the held-out ones, its **floor** that of natural promoters with their letters shuffled
# (right letter frequencies, no motifs). The **-10 and -35 box rates** count sequences with a
# TATAAT-like and a TTGACA-like box; **exact copies** count samples identical to a training promoter.
wgan = default_config("ecoli_promoters_natural", "wgan_seq")
wgan.data.train_size, wgan.data.val_size = PROMOTERS, 500
wgan.train.epochs, wgan.train.progress = WGAN_EPOCHS, False
wgan.model.params.update({"channels": 64, "n_blocks": 2})
apply_overrides(wgan, ["gan.eval_samples=500", f"gan.final_samples={SAMPLES}"])
promoter_run = train_gan(wgan, out=OUT / "wgan", verbose=False)
print(f"({time.perf_counter() - started:.0f} s so far)")
q = promoter_run.metrics["final"]
print(f"WGAN-GP, {WGAN_EPOCHS} epoch(s) on {promoter_run.metrics['n_train']} promoters: 6-mer r {q['kmer_r']:.3f} "
      f"(ceiling {q['kmer_r_ceiling']:.3f}, floor {q['kmer_r_floor']:.3f}); -10 box {q['rate_10']:.0%} "
      f"(natural {q['natural_rate_10']:.0%}), -35 box {q['rate_35']:.0%} (natural {q['natural_rate_35']:.0%}); "
      f"exact copies of training promoters {q['exact_fraction']:.1%}; diversity {q['diversity']:.1f} "
      f"(natural {q['natural_diversity']:.1f})")

fig, ax = plt.subplots(figsize=(7, 2.6))
ax.barh(["floor (shuffled)", "generated", "ceiling (natural)"], [q["kmer_r_floor"], q["kmer_r"], q["kmer_r_ceiling"]],
        color=["grey", "C0", "C2"])
ax.set_xlabel("6-mer Pearson r with held-out natural promoters")
ax.set_xlim(0, 1)
ax.set_title("Where the generator stands between floor and ceiling")
fig.tight_layout()

# %%
# Designing promoters with a trained predictor
# --------------------------------------------
# An expression predictor (the 1-D CNN of tutorial 10, trained briefly here) scores every generated
# sequence; :func:`synbiolab.design` keeps the distinct ones it predicts strongest and reports how
# they compare with all samples and with held-out natural promoters, how far each is from its nearest
# training promoter, and whether they carry the boxes. A design is a hypothesis for the lab: the
# predictor is only as good as its Pearson r (about 0.27 on this data).
predictor = default_config("ecoli_promoters", "cnn1d")
predictor.model.params = {}  # the default cnn1d: the data set's recipe (3 x 128 dilated channels) is slower
predictor.data.train_size = 1000 if FAST else 5000
predictor.train.epochs, predictor.train.progress = 1 if FAST else 4, False
predictor_run = train(predictor, out=OUT / "predictor", verbose=False)
design_folder = design(promoter_run.path, predictor_run.path, n=500 if FAST else 5000, top=50, target="high",
                       out=OUT / "design", verbose=False)
summary = json.loads((Path(design_folder) / "design.json").read_text())
d = summary["designs"]
print(f"{summary['top']} designs of {summary['n_sampled']} sampled: predicted log10 expression mean "
      f"{d['predicted_mean']:.3f} "
      f"(all samples {summary['all_sampled']['predicted_mean']:.3f}, held-out natural "
      f"{summary['natural_heldout']['predicted_mean']:.3f}); mean distance to the nearest training promoter "
      f"{d['mean_nearest_train']:.1f} nt; -10 box {d['rate_10']:.0%}, -35 box {d['rate_35']:.0%}")
print(f"designs: {Path(design_folder) / 'designs.fasta'}")
print("".join((Path(design_folder) / "designs.fasta").read_text().splitlines(True)[:6]))

# %%
# Headline
# --------
gain = d["predicted_mean"] - summary["all_sampled"]["predicted_mean"]
print(f"headline: DCGAN Frechet {final['frechet']:.2f} (floor {final['frechet_floor']:.2f}), most generated digit "
      f"{fractions.max():.0%} of samples; WGAN 6-mer r {q['kmer_r']:.3f} between floor {q['kmer_r_floor']:.3f} and "
      f"ceiling {q['kmer_r_ceiling']:.3f}; designs predicted {gain:+.3f} log10 above the average sample "
      f"({time.perf_counter() - started:.0f} s)")
assert final["frechet"] > final["frechet_floor"] >= 0, final
assert np.isfinite(final["frechet"]) and abs(sum(final["class_fractions"]) - 1) < 1e-6, final
assert q["kmer_r_floor"] < q["kmer_r_ceiling"], q
if not FAST:
    assert q["kmer_r"] > q["kmer_r_floor"], "after a few epochs the generator should beat shuffled letters"
assert gain > 0, "the kept designs must be predicted stronger than the average sample"
assert d["identical_to_training"] <= 0.5, d

# %%
# Exercises
# ---------
# 1. Train the DCGAN for longer (``SYNBIOLAB_TUTORIAL_LONG=1``: ten epochs on all digits). Watch the
#    Frechet distance fall towards its floor and the class fractions even out towards 10 % each; after
#    three epochs on 3,500 digits the generator above may still make mostly one digit (mode collapse).
# 2. Set ``gan.loss=standard`` and ``gan.n_critic=1`` for the promoter GAN (the plain GAN loss). Does
#    the 6-mer r still move off the floor? The gradient penalty is what keeps a critic useful.
# 3. Ask ``design`` for ``target="low"`` instead: the designs now lack their boxes.
# 4. In a terminal, the whole chain: ``synbiolab gan --data ecoli_promoters_natural --model wgan_seq
#    --epochs 30 --set train.schedule=cosine --out runs/gan``, a predictor with ``synbiolab train``,
#    then ``synbiolab design --generator runs/gan --predictor runs/expr``.
plt.show()
