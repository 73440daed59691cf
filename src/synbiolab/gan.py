"""GAN training: one visible step that updates the discriminator, then the generator.

Two losses are offered:
- ``standard``: the non-saturating GAN loss of Goodfellow et al. (2014): the discriminator minimises the
  binary cross-entropy of real (1) versus generated (0); the generator maximises log D(G(z)) rather than
  minimising log(1 - D(G(z))), whose gradient vanishes exactly when the generator is still bad.
- ``wgan-gp``: the Wasserstein loss with gradient penalty of Gulrajani et al. (2017): the critic maximises
  E[D(real)] - E[D(fake)] while a penalty lambda * (||grad D(x_hat)|| - 1)^2 on random interpolates keeps it
  1-Lipschitz; the critic takes ``n_critic`` steps for each generator step.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import SynbiolabError

LOSSES = ("standard", "wgan-gp")

# ---------------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------------


# The promoter-quality numbers of a finished sequence GAN, in the order reports and benchmarks print them.
SEQUENCE_QUALITY_KEYS = (
    "kmer_r", "kmer_r_ceiling", "kmer_r_floor", "rate_10", "natural_rate_10", "rate_35", "natural_rate_35",
    "spacing_16_18", "exact_fraction", "natural_exact_fraction", "mean_nearest", "natural_mean_nearest",
    "diversity", "natural_diversity",
)


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty: mean of (||grad_x critic(x)||_2 - 1)^2 at random points between real and fake.

    Args:
        critic: the critic (discriminator), called as ``critic(x, labels)``.
        real: (B, ...) real samples.
        fake: (B, ...) generated samples, already detached from the generator.
        labels: class labels for a conditional critic, else None.
        generator: random generator for the interpolation weights.

    Returns:
        Scalar penalty, differentiable with respect to the critic's parameters.
    """
    shape = (len(real),) + (1,) * (real.ndim - 1)
    weight = torch.rand(shape, generator=generator, device=real.device).to(real.dtype)
    interpolate = (weight * real + (1 - weight) * fake).requires_grad_(True)  # (B, ...) between the two
    scores = critic(interpolate, labels)
    # create_graph: the penalty depends on the gradient, so its own gradient must flow back to the weights
    (gradient,) = torch.autograd.grad(scores.sum(), interpolate, create_graph=True)
    gradient_norm = gradient.flatten(1).norm(2, dim=1)  # (B,)
    return ((gradient_norm - 1) ** 2).mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss the discriminator minimises (without the gradient penalty)."""
    if loss == "standard":
        return F.binary_cross_entropy_with_logits(
            real_scores, torch.ones_like(real_scores)
        ) + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
    return fake_scores.mean() - real_scores.mean()  # minus the Wasserstein estimate


def generator_loss(fake_scores: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss the generator minimises: non-saturating -log D(G(z)), or -E[critic(G(z))] for WGAN."""
    if loss == "standard":
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    return -fake_scores.mean()


# ---------------------------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """Numbers of one GAN step (floats, for the history)."""

    discriminator_loss: float
    generator_loss: float
    real_score: float  # mean discriminator output on real data
    fake_score: float  # mean discriminator output on generated data
    gradient_penalty: float = 0.0


def sample_latent(n: int, latent_size: int, device=None, generator: torch.Generator | None = None):
    """(n, latent_size) standard normal latent vectors."""
    return torch.randn(n, latent_size, generator=generator, device=device)


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    generator_optimizer: torch.optim.Optimizer,
    discriminator_optimizer: torch.optim.Optimizer,
    real_batches: list[tuple[torch.Tensor, torch.Tensor]],
    loss: str = "standard",
    gp_weight: float = 10.0,
    latent_size: int = 100,
    conditional: bool = False,
    rng: torch.Generator | None = None,
) -> StepResult:
    """One GAN step: a discriminator update per real batch (the n critic steps), then one generator update.

    Args:
        generator: maps (z, labels) to samples.
        discriminator: maps (x, labels) to one score per sample.
        generator_optimizer: optimizer over the generator's parameters only.
        discriminator_optimizer: optimizer over the discriminator's parameters only.
        real_batches: one (x, y) batch of real data per discriminator update.
        loss: ``standard`` (non-saturating) or ``wgan-gp``.
        gp_weight: lambda of the gradient penalty (``wgan-gp`` only).
        latent_size: length of z.
        conditional: pass the real labels to both networks (the generator draws the same classes).
        rng: random generator for z and the interpolation weights (on the CPU or the device).

    Returns:
        A StepResult with the losses of the last discriminator update and of the generator update.
    """
    if loss not in LOSSES:
        raise SynbiolabError(f"unknown GAN loss {loss!r}; valid: {', '.join(LOSSES)}")
    penalty = torch.zeros(())

    # ---- 1. update the discriminator -----------------------------------------------------------------
    discriminator.requires_grad_(True)
    for real, labels in real_batches:
        labels = labels if conditional else None
        z = sample_latent(len(real), latent_size, real.device, rng)
        fake = generator(z, labels)
        # detach(): this update must move the discriminator only; without it the backward pass would run
        # through the generator too (wasted work, and gradients that the generator's step would pick up)
        real_scores = discriminator(real, labels)
        fake_scores = discriminator(fake.detach(), labels)
        d_loss = discriminator_loss(real_scores, fake_scores, loss)
        if loss == "wgan-gp":
            penalty = gradient_penalty(discriminator, real, fake.detach(), labels, rng)
            d_loss = d_loss + gp_weight * penalty
        discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        discriminator_optimizer.step()

    # ---- 2. update the generator ---------------------------------------------------------------------
    # The last fake batch is reused, now not detached: its graph reaches back into the generator. The
    # discriminator is frozen so that this backward pass computes no gradients for it.
    discriminator.requires_grad_(False)
    fake_scores_for_generator = discriminator(fake, labels)
    g_loss = generator_loss(fake_scores_for_generator, loss)
    generator_optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    generator_optimizer.step()
    discriminator.requires_grad_(True)

    return StepResult(
        discriminator_loss=float(d_loss.detach()),
        generator_loss=float(g_loss.detach()),
        real_score=float(real_scores.detach().mean()),
        fake_score=float(fake_scores.detach().mean()),
        gradient_penalty=float(penalty.detach()),
    )


# ---------------------------------------------------------------------------------------------------------
# Settings and recipes
# ---------------------------------------------------------------------------------------------------------


@dataclass
class GanConfig:
    """Settings of GAN training that a classifier's TrainConfig does not have (``--set gan.KEY=VALUE``)."""

    loss: str = "standard"  # standard (non-saturating) or wgan-gp
    n_critic: int = 1  # discriminator updates per generator update
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    beta1: float = 0.5  # Adam beta1 for both networks (0.5: the DCGAN recipe)
    beta2: float = 0.999  # Adam beta2 (0.9 for WGAN-GP)
    lr_discriminator: float | None = None  # discriminator learning rate; None: the same as train.lr
    holdout: float = 0.1  # fraction held out for evaluation (sequence data not made for generative models)
    eval_samples: int = 2000  # generated samples scored after every epoch
    final_samples: int = 10000  # generated samples scored at the end
    judge: str | None = None  # classifier run that judges generated images; None trains a CNN on the spot
    judge_epochs: int = 3  # epochs of the judge trained on the spot
    tog_samples: int = 60000  # generated digits for "train on generated, test on real" (conditional, 0: skip)
    tog_epochs: int = 3  # epochs of that classifier
    ema_decay: float = 0.999  # samples come from a moving average of the generator's weights (0: the raw ones)
    time_limit: float = 0.0  # stop after the first epoch that ends past this many seconds of training (0: none)


# TrainConfig and GanConfig defaults per model: the published recipes.
GAN_RECIPES = {
    "dcgan": {
        "train": {"epochs": 5, "batch_size": 64, "lr": 2e-4, "weight_decay": 0.0},
        "gan": {"loss": "standard", "n_critic": 1, "beta1": 0.5, "beta2": 0.999},
    },
    # Gupta & Zou 2019 / Wang et al. 2020: gradient penalty 10, 5 critic steps, Adam 1e-4 (0.5, 0.9), batch 64
    "wgan_seq": {
        "train": {"epochs": 10, "batch_size": 64, "lr": 1e-4, "weight_decay": 0.0},
        "gan": {"loss": "wgan-gp", "n_critic": 5, "gp_weight": 10.0, "beta1": 0.5, "beta2": 0.9},
    },
}
GAN_KINDS = {"dcgan": "image", "wgan_seq": "sequence"}


def gan_model_class(name: str):
    """The model class of a GAN by name (``dcgan`` or ``wgan_seq``)."""
    from .models.gan import DCGAN
    from .models.wgan_seq import SequenceWGAN

    classes = {"dcgan": DCGAN, "wgan_seq": SequenceWGAN}
    if name not in classes:
        raise SynbiolabError(f"unknown GAN model '{name}'; valid: {', '.join(classes)}")
    return classes[name]


def build_gan(name: str, input_shape, n_outputs: int, **params) -> nn.Module:
    """Build a GAN pair, checking its parameters against the constructor's keyword arguments."""
    import inspect

    cls = gan_model_class(name)
    valid = [k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "input_shape", "n_outputs")]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise SynbiolabError(f"model '{name}' has no parameter '{unknown[0]}'; valid: {', '.join(valid)}")
    return cls(input_shape=tuple(input_shape), n_outputs=int(n_outputs), **params)


# ---------------------------------------------------------------------------------------------------------
# Data in the generator's range
# ---------------------------------------------------------------------------------------------------------


@dataclass
class GanData:
    """Real data for a GAN: what it trains on and what its samples are compared with.

    Images are stored in [-1, 1] (the generator's tanh range); ``normalisation`` maps them back to the
    classifier's input space. Sequences stay one-hot (N, 4, L).
    """

    name: str
    kind: str  # image or sequence
    train_x: torch.Tensor
    train_y: torch.Tensor
    heldout_x: torch.Tensor
    heldout_y: torch.Tensor
    input_shape: tuple
    n_classes: int
    class_names: list | None = None
    normalisation: dict | None = None


def to_generator_range(x: torch.Tensor, normalisation: dict) -> torch.Tensor:
    """Normalised images (x - mean) / std -> pixels in [-1, 1]."""
    pixels = x * normalisation["std"] + normalisation["mean"]  # back to [0, 1]
    return pixels * 2 - 1


def to_data_space(x: torch.Tensor, normalisation: dict) -> torch.Tensor:
    """Generated images in [-1, 1] -> the normalised space a classifier of the same data reads."""
    pixels = (x + 1) / 2
    return (pixels - normalisation["mean"]) / normalisation["std"]


def prepare_gan_data(dataset, holdout: float = 0.1, seed: int = 0) -> GanData:
    """Real data for GAN training from a Dataset.

    Images train on the training and validation splits and are compared with the test split (the judge
    never saw it). Sequences of a data set made for generative models (task ``generative``) train on its
    training and validation splits and keep its test split as the held-out set; for other sequence data
    all splits are pooled and a random ``holdout`` fraction is kept. Either way the generated set is
    compared with natural sequences the GAN never saw.

    Args:
        dataset: a Dataset of kind ``image`` or ``sequence``.
        holdout: fraction of sequences held out (sequence data).
        seed: seed of that split.

    Returns:
        GanData.
    """
    if dataset.kind == "image":
        normalisation = dataset.info.get("normalisation")
        if not normalisation:
            raise SynbiolabError(f"data set '{dataset.name}' has no normalisation info; a GAN needs image pixels")
        train_x = to_generator_range(torch.cat([dataset.train.x, dataset.val.x]), normalisation)
        train_y = torch.cat([dataset.train.y, dataset.val.y])
        n_classes = len(dataset.class_names) if dataset.class_names else 0
        return GanData(
            dataset.name,
            "image",
            train_x,
            train_y,
            to_generator_range(dataset.test.x, normalisation),
            dataset.test.y,
            tuple(dataset.input_shape),
            n_classes,
            dataset.class_names,
            normalisation,
        )
    if dataset.kind != "sequence":
        raise SynbiolabError(f"data set '{dataset.name}' is of kind {dataset.kind!r}; a GAN takes image or sequence")
    no_labels = torch.zeros(len(dataset.train) + len(dataset.val), dtype=torch.long)
    if dataset.task == "generative" and len(dataset.test) >= 2:
        # a data set made for generative models carries its own held-out split: use it as it is
        train_x = torch.cat([dataset.train.x, dataset.val.x])
        return GanData(
            dataset.name,
            "sequence",
            train_x,
            no_labels,
            dataset.test.x,
            torch.zeros(len(dataset.test), dtype=torch.long),
            tuple(dataset.input_shape),
            0,
        )
    if not 0 < holdout < 1:
        raise SynbiolabError(f"gan.holdout={holdout}: the held-out fraction must lie between 0 and 1")
    x = torch.cat([dataset.train.x, dataset.val.x, dataset.test.x])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_heldout = max(int(round(holdout * len(x))), 2)
    heldout, train = order[:n_heldout], order[n_heldout:]
    no_labels = torch.zeros(len(x), dtype=torch.long)
    return GanData(
        dataset.name,
        "sequence",
        x[train],
        no_labels[train],
        x[heldout],
        no_labels[heldout],
        tuple(dataset.input_shape),
        0,
    )


# ---------------------------------------------------------------------------------------------------------
# Drawing samples
# ---------------------------------------------------------------------------------------------------------


def balanced_labels(n: int, n_classes: int) -> torch.Tensor:
    """0, 1, ..., C-1, 0, 1, ... : n labels with every class equally often (up to one)."""
    return torch.arange(n) % max(n_classes, 1)


@torch.no_grad()
def generate(
    model: nn.Module,
    n: int,
    labels: torch.Tensor | None = None,
    seed: int | None = 0,
    batch_size: int = 1000,
    latent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw n samples from a GAN's generator in evaluation mode (batch norm uses its running statistics).

    Args:
        model: a DCGAN or SequenceWGAN pair.
        n: number of samples.
        labels: (n,) classes for a conditional generator (default: balanced over the classes).
        seed: seed of the latent vectors (None: the global generator).
        batch_size: samples generated at once.
        latent: (n, latent_size) latent vectors to use instead of random ones.

    Returns:
        (n, ...) samples on the CPU: images in [-1, 1], or base probabilities (n, 4, L).
    """
    device = next(model.parameters()).device
    if latent is None:
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        latent = torch.randn(n, model.latent_size, generator=rng)
    if model.n_classes and labels is None:
        labels = balanced_labels(n, model.n_classes)
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, n, batch_size):
        z = latent[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device) if model.n_classes else None
        chunks.append(model.generator(z, y).float().cpu())
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.zeros(0)


def hard_one_hot(soft: torch.Tensor) -> torch.Tensor:
    """(N, 4, L) base probabilities -> one-hot of the most probable base."""
    return F.one_hot(soft.argmax(1), soft.shape[1]).permute(0, 2, 1).float()  # (N, L, 4) -> (N, 4, L)


# ---------------------------------------------------------------------------------------------------------
# Quality of the generated data, measured after every epoch
# ---------------------------------------------------------------------------------------------------------


@torch.no_grad()
def judge_outputs(judge: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, logits) of a classifier on x, batch by batch, on the judge's device."""
    device = next(judge.parameters()).device
    judge.eval()
    features, logits = [], []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(device)
        features.append(judge.features(batch).float().cpu())
        logits.append(judge(batch).float().cpu())
    return torch.cat(features), torch.cat(logits)


class ImageQuality:
    """Scores generated images with a judge classifier, next to the same scores of real test images.

    Args:
        judge: a classifier of the same data with ``features(x)`` (its penultimate layer).
        data: the GanData; its held-out (test) images are the reference.
        conditional: also measure whether the judge recognises the requested class.
        seed: seed of the real halves and of the latent vectors.
    """

    def __init__(self, judge: nn.Module, data: GanData, conditional: bool = False, seed: int = 0):
        from .genmetrics import frechet_distance

        self.judge, self.data, self.conditional, self.seed = judge, data, conditional, seed
        features, logits = judge_outputs(judge, to_data_space(data.heldout_x, data.normalisation))
        order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
        half = len(features) // 2
        self.real_a, self.real_b = features[order[:half]], features[order[half : 2 * half]]
        self.real_accuracy = float((logits.argmax(1) == data.heldout_y).float().mean())
        self._frechet = frechet_distance
        self._floors: dict[int, float] = {}

    def floor(self, n: int) -> float:
        """Frechet distance between n real test images and the other half of the test set."""
        n = min(n, len(self.real_a))
        if n not in self._floors:
            self._floors[n] = self._frechet(self.real_a[:n], self.real_b)
        return self._floors[n]

    def __call__(self, model: nn.Module, n: int, details: bool = False) -> dict:
        """Quality numbers of n generated images (flat dict for history.csv; more with ``details``)."""
        from .genmetrics import class_coverage

        labels = balanced_labels(n, self.data.n_classes) if self.conditional else None
        images = to_data_space(generate(model, n, labels, seed=self.seed + 1), self.data.normalisation)
        features, logits = judge_outputs(self.judge, images)
        n_compared = min(n, len(self.real_a))
        coverage = class_coverage(logits, self.data.n_classes)
        scores = {
            "frechet": self._frechet(features[:n_compared], self.real_b),
            "frechet_floor": self.floor(n_compared),
            "min_class_fraction": coverage["min_fraction"],
            "mean_confidence": coverage["mean_confidence"],
        }
        if self.conditional:
            correct = (logits.argmax(1) == labels).float()
            scores["judge_accuracy"] = float(correct.mean())
        if details:
            scores["class_fractions"] = coverage["fractions"]
            scores["n_samples"] = n
            scores["n_compared"] = n_compared
            scores["judge_test_accuracy"] = self.real_accuracy
            if self.conditional:
                scores["judge_accuracy_per_class"] = [
                    float(correct[labels == c].mean()) for c in range(self.data.n_classes)
                ]
        return scores


class SequenceQuality:
    """Scores generated DNA against natural sequences: k-mers, sigma-70 boxes, novelty and diversity.

    The reference numbers (ceiling, floor, natural rates) are measured on the same number of sequences as
    the generated set, because k-mer agreement rises with the sample size.

    Args:
        data: the GanData; the GAN trained on ``train_x`` and never saw ``heldout_x``.
        k: k-mer length.
        seed: seed of the latent vectors, subsamples and shuffles.
    """

    def __init__(self, data: GanData, k: int = 6, seed: int = 0):
        from .genmetrics import as_index_array, box_summary, mean_pairwise_distance, novelty

        self.data, self.k, self.seed = data, k, seed
        self.train_codes = as_index_array(data.train_x)
        self.heldout_codes = as_index_array(data.heldout_x)
        self.natural_boxes = box_summary(self.heldout_codes)
        self.natural_novelty = novelty(self.heldout_codes, self.train_codes)
        self.natural_diversity = mean_pairwise_distance(self.heldout_codes)
        self._references: dict[int, dict] = {}

    def references(self, n: int) -> dict:
        """k-mer r of n natural training sequences (ceiling) and of the same shuffled (floor) vs held-out."""
        from .genmetrics import kmer_pearson, shuffle_sequences

        n = min(n, len(self.train_codes))
        if n not in self._references:
            pick = np.random.default_rng(self.seed).permutation(len(self.train_codes))[:n]
            natural = self.train_codes[pick]
            self._references[n] = {
                "kmer_r_ceiling": kmer_pearson(natural, self.heldout_codes, self.k),
                "kmer_r_floor": kmer_pearson(shuffle_sequences(natural, self.seed), self.heldout_codes, self.k),
            }
        return self._references[n]

    def score_codes(self, codes: np.ndarray, details: bool = False) -> dict:
        """Quality numbers of sequences given as (N, L) base indices."""
        from .genmetrics import box_summary, kmer_pearson, mean_pairwise_distance, novelty

        boxes = box_summary(codes)
        memory = novelty(codes, self.train_codes)
        scores = {
            "kmer_r": kmer_pearson(codes, self.heldout_codes, self.k),
            **self.references(len(codes)),
            "rate_10": boxes["rate_10"],
            "rate_35": boxes["rate_35"],
            "natural_rate_10": self.natural_boxes["rate_10"],
            "natural_rate_35": self.natural_boxes["rate_35"],
            "spacing_16_18": boxes["spacing_16_18"],
            "exact_fraction": memory["exact_fraction"],
            "natural_exact_fraction": self.natural_novelty["exact_fraction"],
            "mean_nearest": memory["mean_nearest"],
            "natural_mean_nearest": self.natural_novelty["mean_nearest"],
            "diversity": mean_pairwise_distance(codes),
            "natural_diversity": self.natural_diversity,
        }
        if details:
            scores["n_samples"] = len(codes)
            scores["boxes"] = boxes
            scores["natural_boxes"] = self.natural_boxes
            scores["nearest_counts"] = memory["nearest_counts"]
            scores["natural_nearest_counts"] = self.natural_novelty["nearest_counts"]
            scores["n_train"] = len(self.train_codes)
            scores["n_heldout"] = len(self.heldout_codes)
        return scores

    def __call__(self, model: nn.Module, n: int, details: bool = False) -> dict:
        from .genmetrics import as_index_array

        return self.score_codes(as_index_array(generate(model, n, seed=self.seed + 1)), details)


# ---------------------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------------------

GAN_HISTORY_START = [
    "epoch",
    "step",
    "discriminator_loss",
    "generator_loss",
    "real_score",
    "fake_score",
    "gradient_penalty",
]


@dataclass
class GanFitResult:
    """What ``fit_gan`` returns: the trained pair, one history row per epoch, the time spent."""

    model: nn.Module
    history: list
    train_seconds: float
    steps: int


def _fixed_latent(model: nn.Module, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latent vectors (and classes) drawn after every epoch: the report shows the same samples improve."""
    columns = n_classes if n_classes else 8
    n = columns * 8
    latent = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed + 12345))
    labels = balanced_labels(n, n_classes) if n_classes else None
    return latent, labels


def fit_gan(
    model: nn.Module,
    data: GanData,
    train_config=None,
    gan_config: GanConfig | None = None,
    run_dir=None,
    quality=None,
    resume: bool = False,
    verbose: bool = True,
) -> GanFitResult:
    """Train a GAN pair, scoring its samples after every epoch.

    An epoch is one pass of the discriminator over the training data, so a WGAN with 5 critic steps makes a
    fifth as many generator updates per epoch as a standard GAN.

    Args:
        model: a DCGAN or SequenceWGAN pair (``model.generator``, ``model.discriminator``).
        data: the GanData.
        train_config: the TrainConfig (epochs, batch_size, lr, seed, device, progress).
        gan_config: the GanConfig (loss, n critic steps, gradient penalty, Adam betas, evaluation sizes).
        run_dir: where history.csv, checkpoint/ and figures/ go (None: nothing is written).
        quality: a callable ``quality(model, n) -> dict`` (ImageQuality or SequenceQuality), or None.
        resume: continue from ``run_dir/checkpoint/state.pt``.
        verbose: print one line per epoch.

    Returns:
        GanFitResult.
    """
    import math
    import time
    from pathlib import Path

    from .config import TrainConfig
    from .errors import TrainingDiverged
    from .runs import atomic_torch_save, atomic_write_csv
    from .train import _StopRequest, select_device

    cfg = train_config or TrainConfig()
    gcfg = gan_config or GanConfig()
    if gcfg.n_critic < 1:
        raise SynbiolabError(f"gan.n_critic={gcfg.n_critic}: the discriminator needs at least 1 update per step")
    if gcfg.loss not in LOSSES:
        raise SynbiolabError(f"gan.loss={gcfg.loss!r} is unknown; valid: {', '.join(LOSSES)}")
    device = select_device(cfg.device)
    run_dir = Path(run_dir) if run_dir is not None else None
    model.to(device)
    torch.manual_seed(cfg.seed)
    conditional = bool(model.n_classes)
    generator, discriminator = model.generator, model.discriminator
    betas = (gcfg.beta1, gcfg.beta2)
    g_opt = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=gcfg.lr_discriminator or cfg.lr, betas=betas)
    if cfg.schedule not in ("none", "cosine"):
        raise SynbiolabError(
            f"train.schedule={cfg.schedule!r} does not apply to a GAN; valid: none (constant learning rates) or "
            "cosine (both decay to 0 over train.epochs)"
        )

    from .data import InMemoryBatches

    batch_size = min(cfg.batch_size, len(data.train_x))
    batches = InMemoryBatches(
        data.train_x.to(device), data.train_y.to(device), batch_size, seed=cfg.seed, drop_last=True
    )
    steps_per_epoch = max(batches.steps_per_epoch // gcfg.n_critic, 1)
    n_steps = cfg.epochs * steps_per_epoch
    # A decaying learning rate lets the generator settle at the end instead of orbiting (the WGAN-GP authors
    # decayed theirs to 0); the schedule spans train.epochs, so a run cut short by time_limit stops mid-way.
    schedules = (
        [torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps) for opt in (g_opt, d_opt)]
        if cfg.schedule == "cosine"
        else []
    )
    rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    fixed_latent, fixed_labels = _fixed_latent(model, model.n_classes, cfg.seed)
    # A slow moving average of the generator's weights draws the samples that are scored and kept: GAN
    # weights orbit around a good solution rather than settle in it, and their average sits closer to it.
    ema = copy.deepcopy(generator).requires_grad_(False) if gcfg.ema_decay > 0 else None

    history: list[dict] = []
    start_step, seconds = 0, 0.0
    from .runs import subfolder

    checkpoint_path = subfolder(run_dir, "checkpoint") / "state.pt" if run_dir is not None else None
    if resume:
        if checkpoint_path is None or not checkpoint_path.is_file():
            raise SynbiolabError(f"{run_dir}: no checkpoint to resume from (checkpoint/state.pt)")
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        if ema is not None and state.get("generator_ema") is not None:
            ema.load_state_dict(state["generator_ema"])
        g_opt.load_state_dict(state["generator_optimizer"])
        d_opt.load_state_dict(state["discriminator_optimizer"])
        for schedule, saved in zip(schedules, state.get("schedules") or [], strict=False):
            schedule.load_state_dict(saved)
        batches.load_state_dict(state["batches"])
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        history, start_step, seconds = state["history"], state["step"], state["seconds"]

    def save_checkpoint(step: int) -> None:
        if checkpoint_path is None:
            return
        atomic_torch_save(
            checkpoint_path,
            {
                "model": model.state_dict(),
                "generator_ema": ema.state_dict() if ema is not None else None,
                "generator_optimizer": g_opt.state_dict(),
                "discriminator_optimizer": d_opt.state_dict(),
                "schedules": [schedule.state_dict() for schedule in schedules],
                "batches": batches.state_dict(),
                "rng": rng.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "step": step,
                "seconds": seconds,
            },
        )

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .train import console

    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        TextColumn("step {task.completed:>6.0f}/{task.total:.0f}  D {task.fields[d]:.3f}  G {task.fields[g]:.3f}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (verbose and cfg.progress and console.is_terminal),
    )
    bar = progress.add_task("gan", total=n_steps, completed=start_step, epoch=start_step // steps_per_epoch + 1,
                            epochs=cfg.epochs, d=float("nan"), g=float("nan"))
    model.train()
    t_epoch = time.perf_counter()
    sums: dict[str, float] = {}
    step = start_step
    with _StopRequest() as stop, progress:
        for step in range(start_step, n_steps):
            real_batches = [batches.next() for _ in range(gcfg.n_critic)]
            result = gan_step(
                generator,
                discriminator,
                g_opt,
                d_opt,
                real_batches,
                loss=gcfg.loss,
                gp_weight=gcfg.gp_weight,
                latent_size=model.latent_size,
                conditional=conditional,
                rng=rng,
            )

            # --- around the step: divergence check, end of epoch, Ctrl-C
            if not (math.isfinite(result.discriminator_loss) and math.isfinite(result.generator_loss)):
                where = f" in {checkpoint_path.parent}" if checkpoint_path and checkpoint_path.is_file() else ""
                raise TrainingDiverged(
                    f"GAN loss became non-finite at step {step + 1} (discriminator "
                    f"{result.discriminator_loss}, generator {result.generator_loss}); "
                    f"the last good checkpoint is kept{where}; lower train.lr"
                )
            for schedule in schedules:
                schedule.step()
            if ema is not None:
                # the average forgets its start quickly at first, so short runs are not judged on early weights
                update_average(ema, generator, min(gcfg.ema_decay, (1 + step) / (10 + step)))
            for key, value in vars(result).items():
                sums[key] = sums.get(key, 0.0) + value
            if step % 10 == 0:
                progress.update(bar, completed=step + 1, d=result.discriminator_loss, g=result.generator_loss)
            if (step + 1) % steps_per_epoch == 0:
                epoch = (step + 1) // steps_per_epoch
                seconds += time.perf_counter() - t_epoch
                row = {"epoch": epoch, "step": step + 1, **{k: v / steps_per_epoch for k, v in sums.items()}}
                sums = {}
                with averaged_generator(model, ema):
                    if quality is not None:
                        row.update(quality(model, gcfg.eval_samples))
                    if run_dir is not None:
                        draw_epoch_samples(model, data, fixed_latent, fixed_labels, run_dir, epoch)
                row["seconds"] = round(seconds, 3)
                history.append(row)
                if run_dir is not None:
                    columns = GAN_HISTORY_START + [k for k in row if k not in GAN_HISTORY_START]
                    atomic_write_csv(run_dir / "history.csv", history, columns)
                save_checkpoint(step + 1)
                if verbose:
                    print(_epoch_line(row, cfg.epochs), flush=True)
                progress.update(bar, completed=step + 1, epoch=min(epoch + 1, cfg.epochs))
                model.train()
                t_epoch = time.perf_counter()
                if gcfg.time_limit and seconds >= gcfg.time_limit and step + 1 < n_steps:
                    if verbose:
                        print(f"time limit: stopped after epoch {epoch} ({seconds:.0f} s of training)")
                    break
            if stop.requested:
                seconds += time.perf_counter() - t_epoch
                save_checkpoint(step + 1)
                raise KeyboardInterrupt(f"stopped at step {step + 1}")
    if ema is not None:
        model.generator = ema  # the averaged weights are evaluated and saved (the raw ones stay in checkpoint/)
    model.eval()
    return GanFitResult(model, history, seconds, history[-1]["step"] if history else step + 1)


@torch.no_grad()
def update_average(average: nn.Module, current: nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current for weights; buffers (batch-norm statistics) copied."""
    for averaged, live in zip(average.parameters(), current.parameters(), strict=True):
        averaged.lerp_(live, 1 - decay)
    for averaged, live in zip(average.buffers(), current.buffers(), strict=True):
        averaged.copy_(live)


class averaged_generator:  # noqa: N801 - a context manager, read like a function
    """Within ``with averaged_generator(model, ema):`` the model draws with the averaged generator."""

    def __init__(self, model: nn.Module, ema: nn.Module | None):
        self.model, self.ema = model, ema

    def __enter__(self):
        if self.ema is not None:
            self.live, self.model.generator = self.model.generator, self.ema
        return self.model

    def __exit__(self, *exc):
        if self.ema is not None:
            self.model.generator = self.live
        return False


def _epoch_line(row: dict, epochs: int) -> str:
    text = (
        f"epoch {row['epoch']:>3}/{epochs}  D loss {row['discriminator_loss']:.4f}  G loss {row['generator_loss']:.4f}"
    )
    if "frechet" in row:
        text += f"  Frechet {row['frechet']:.2f} (floor {row['frechet_floor']:.2f})"
        text += f"  min class {row['min_class_fraction']:.3f}"
        if "judge_accuracy" in row:
            text += f"  judge acc {row['judge_accuracy']:.3f}"
    if "kmer_r" in row:
        text += (
            f"  6-mer r {row['kmer_r']:.3f} (ceiling {row['kmer_r_ceiling']:.3f})"
            f"  -10 {row['rate_10']:.2f}/{row['natural_rate_10']:.2f}"
            f"  -35 {row['rate_35']:.2f}/{row['natural_rate_35']:.2f}  copies {row['exact_fraction']:.3f}"
        )
    return text + f"  {row['seconds']:.1f}s"


# ---------------------------------------------------------------------------------------------------------
# Pictures: sample grids, samples over epochs, latent interpolation
# ---------------------------------------------------------------------------------------------------------


def image_grid(images: torch.Tensor, columns: int = 8, pixel_size: int | None = None, gap: int = 2):
    """A PIL image of a grid of generated images.

    Args:
        images: (N, 1, H, W) images in [-1, 1].
        columns: images per row.
        pixel_size: screen pixels per image pixel (default: enough for about 56 pixels per image).
        gap: pixels between images.

    Returns:
        A grey-scale PIL.Image.
    """
    from PIL import Image

    n, _, height, width = images.shape
    pixel_size = pixel_size or max(1, 56 // height)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height * pixel_size + gap, width * pixel_size + gap
    canvas = np.full((rows * cell_h + gap, columns * cell_w + gap), 255, dtype=np.uint8)
    pixels = ((images[:, 0].clamp(-1, 1) + 1) / 2 * 255).round().byte().numpy()
    pixels = 255 - pixels  # dark strokes on white paper
    for index in range(n):
        row, column = divmod(index, columns)
        big = np.kron(pixels[index], np.ones((pixel_size, pixel_size), dtype=np.uint8))
        top, left = gap + row * cell_h, gap + column * cell_w
        canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return Image.fromarray(canvas, mode="L")


def _save_png(image, path) -> None:
    import io

    from .runs import atomic_write_bytes

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def draw_epoch_samples(model, data: GanData, latent, labels, run_dir, epoch: int) -> None:
    """Draw the fixed latent vectors after an epoch: figures/samples_epoch_NNN.png, or sequences as text."""

    from .runs import atomic_write_text

    samples = generate(model, len(latent), labels, latent=latent)
    from .runs import subfolder

    figures = subfolder(run_dir, "figures")
    if data.kind == "image":
        columns = model.n_classes or 8
        _save_png(image_grid(samples, columns), figures / f"samples_epoch_{epoch:03d}.png")
        return
    from .genmetrics import as_index_array, index_to_strings

    path = figures / "samples_over_epochs.txt"
    previous = path.read_text() if path.is_file() and epoch > 1 else ""
    lines = index_to_strings(as_index_array(samples[:8]))
    atomic_write_text(path, previous + f"# epoch {epoch}\n" + "\n".join(lines) + "\n")


def interpolate_latent(model, steps: int = 10, pairs: int = 6, seed: int = 0, labels=None) -> torch.Tensor:
    """Samples along straight lines between pairs of latent vectors: (pairs * steps, ...) in row order.

    Args:
        model: a GAN pair.
        steps: points on each line, both ends included.
        pairs: number of lines.
        seed: seed of the end points.
        labels: for a conditional generator, the class of each line (default 0, 1, 2, ...).

    Returns:
        The generated samples, one line after the other.
    """
    rng = torch.Generator().manual_seed(seed)
    start, end = (
        torch.randn(pairs, model.latent_size, generator=rng),
        torch.randn(pairs, model.latent_size, generator=rng),
    )
    weight = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    latent = (start[:, None] * (1 - weight) + end[:, None] * weight).reshape(pairs * steps, -1)
    line_labels = None
    if model.n_classes:
        labels = balanced_labels(pairs, model.n_classes) if labels is None else torch.as_tensor(labels)
        line_labels = labels.repeat_interleave(steps)
    return generate(model, len(latent), line_labels, latent=latent)


# ---------------------------------------------------------------------------------------------------------
# The judge of generated images, and "train on generated, test on real"
# ---------------------------------------------------------------------------------------------------------


def load_judge(path, dataset, device: str = "cpu") -> nn.Module:
    """A classifier run of the same images, checked and loaded as the judge of generated samples.

    Args:
        path: the classifier's run folder (``synbiolab train --model cnn ...``).
        dataset: the GAN's Dataset.
        device: where to load it.

    Returns:
        The classifier in evaluation mode.
    """
    from .runs import Run

    run = Run(path)
    spec = run.model_spec
    if spec.get("kind") == "gan":
        raise SynbiolabError(f"judge {path}: is a GAN run; the judge must be a classifier run (synbiolab train)")
    if spec.get("task") != "multiclass" or list(spec.get("input_shape", [])) != list(dataset.input_shape):
        raise SynbiolabError(
            f"judge {path}: needs a multi-class classifier of {tuple(dataset.input_shape)} images, but it "
            f"is a {spec.get('task')} model of input shape {tuple(spec.get('input_shape', []))}"
        )
    def pixel_scale(normalisation):
        return {k: (normalisation or {}).get(k) for k in ("mean", "std")}

    if pixel_scale(spec.get("normalisation")) != pixel_scale(dataset.info.get("normalisation")):
        raise SynbiolabError(
            f"judge {path}: was trained on '{spec.get('data')}' with another pixel normalisation than "
            f"'{dataset.name}'; train the judge on the same data set"
        )
    model = run.load_model(device)
    if not hasattr(model, "features"):
        raise SynbiolabError(f"judge {path}: model '{spec['name']}' has no features(x) for the Frechet distance")
    return model


def train_judge(dataset, data_config, out, epochs: int = 3, seed: int = 0, device: str = "auto") -> nn.Module:
    """Train a CNN classifier of the GAN's data with the usual training job; its run goes to ``out``."""
    from .config import set_value
    from .train import default_config, select_device
    from .train import train as train_classifier

    config = default_config(data_config.name, "cnn")
    config.data = data_config
    set_value(config, "train.epochs", epochs)
    set_value(config, "train.seed", seed)
    set_value(config, "train.device", device)
    set_value(config, "train.progress", False)
    run = train_classifier(config, out=out, overwrite=True, verbose=False, dataset=dataset)
    return run.load_model(str(select_device(device)))


def train_on_generated(model, dataset, n_samples: int = 60000, epochs: int = 3, seed: int = 0) -> dict:
    """Train a CNN only on digits drawn from a conditional generator, then test it on the real test split.

    The validation split used to pick the best epoch is generated too, so no real image guides training.

    Args:
        model: a conditional DCGAN pair.
        dataset: the real Dataset (its test split is the judge).
        n_samples: generated training images (balanced over the classes); a sixth more for validation.
        epochs: epochs of the classifier.
        seed: seed of the latent vectors and of training.

    Returns:
        dict with ``test_accuracy`` on real images and the sizes used.
    """
    from .config import TrainConfig
    from .data import Dataset, Split
    from .evaluate import evaluate
    from .models import MODELS, build_model
    from .train import fit

    n_val = max(n_samples // 6, model.n_classes)
    total = n_samples + n_val
    labels = balanced_labels(total, model.n_classes)[
        torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    ]
    images = to_data_space(generate(model, total, labels, seed=seed + 7), dataset.info["normalisation"])
    generated = Dataset(
        name=f"{dataset.name} (generated)",
        task="multiclass",
        kind="image",
        train=Split(images[:n_samples], labels[:n_samples]),
        val=Split(images[n_samples:], labels[n_samples:]),
        test=dataset.test,
        class_names=dataset.class_names,
        input_shape=dataset.input_shape,
        info=dataset.info,
    )
    config = TrainConfig(**{**MODELS["cnn"].recipe, "epochs": epochs, "seed": seed, "progress": False})
    torch.manual_seed(seed)
    classifier = build_model("cnn", generated)
    result = fit(classifier, generated, config, verbose=False)
    real = evaluate(result.model, dataset.test, "multiclass")
    return {
        "test_accuracy": real["accuracy"],
        "n_generated": n_samples,
        "n_generated_val": n_val,
        "epochs": epochs,
    }


# ---------------------------------------------------------------------------------------------------------
# The whole job: data -> GAN -> run folder
# ---------------------------------------------------------------------------------------------------------


def is_gan_run(run) -> bool:
    """Whether a run folder was written by ``train_gan``."""
    return "gan" in run.raw_config


def open_gan_run(path):
    """The Run of a GAN, or one clear error naming what the folder is instead."""
    from .runs import open_run

    return open_run(path, expect="gan")


def load_gan(run, device: str = "cpu") -> nn.Module:
    """Rebuild a GAN pair from its run folder (model.json + model.safetensors)."""
    import json

    from safetensors.torch import load_file

    spec_path, weights = run.path / "model.json", run.path / "model.safetensors"
    if not spec_path.is_file() or not weights.is_file():
        raise SynbiolabError(f"{run.path}: the GAN has no saved weights yet (did `synbiolab gan` finish?)")
    spec = json.loads(spec_path.read_text())
    model = build_gan(spec["name"], spec["input_shape"], spec["n_outputs"], **spec["params"])
    model.load_state_dict(load_file(str(weights), device="cpu"))
    model.spec = spec
    return model.to(device).eval()


def gan_config_from_dict(values: dict, source: str = "gan") -> GanConfig:
    """GanConfig from a dict, naming an unknown key and the valid ones."""
    from dataclasses import fields

    from .config import _coerce

    valid = {f.name: f for f in fields(GanConfig)}
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise SynbiolabError(f"{source}: unknown key 'gan.{unknown[0]}'; valid: {', '.join(valid)}")
    # the same type check as every other config field: the value must match the field's default
    checked = {k: _coerce(v, valid[k].default, valid[k].type, f"gan.{k}") for k, v in values.items()}
    return GanConfig(**checked)


def default_gan_config(data: str, model: str):
    """(Config, GanConfig) for a data set and a GAN model, with the model's published recipe applied."""
    from .config import Config, set_value

    if model not in GAN_RECIPES:
        raise SynbiolabError(f"unknown GAN model '{model}'; valid: {', '.join(GAN_RECIPES)}")
    config = Config()
    config.data.name = data
    config.model.name = model
    for key, value in GAN_RECIPES[model]["train"].items():
        set_value(config, f"train.{key}", value, source=f"recipe of {model}")
    return config, GanConfig(**GAN_RECIPES[model]["gan"])


def train_gan(
    config,
    gan_config: GanConfig | None = None,
    out=None,
    overwrite: bool = False,
    resume=None,
    verbose: bool = True,
    dataset=None,
):
    """Train a GAN and write its run folder: config, history (losses and quality per epoch), metrics,
    weights, samples over epochs, checkpoint and report.

    Args:
        config: a Config whose ``model.name`` is ``dcgan`` or ``wgan_seq``.
        gan_config: GAN settings (defaults: the model's recipe).
        out: the run folder (default ``runs/<data>-<model>-<time>``).
        overwrite: replace an existing run folder.
        resume: a GAN run folder to continue from its checkpoint (its config is used).
        verbose: print one line per epoch.
        dataset: an already loaded Dataset for ``config.data``.

    Returns:
        The Run.
    """
    import sys
    import time
    from dataclasses import asdict
    from pathlib import Path

    from .runs import atomic_write_json, default_run_name, reopen_folder, start_folder, versions

    if resume is not None:
        run = open_gan_run(resume)
        config = run.config
        gcfg = gan_config_from_dict(run.raw_config["gan"], str(run.path / "config.json"))
        run_dir, lock = reopen_folder(run.path, "gan")
    else:
        name = config.model.name
        gan_model_class(name)
        gcfg = gan_config or GanConfig(**GAN_RECIPES.get(name, {}).get("gan", {}))
        run_dir, lock = start_folder(out or Path("runs") / default_run_name(config.data.name, name), "gan", overwrite)
        meta = {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "kind": "gan",
            "versions": versions(),
        }
        atomic_write_json(run_dir / "config.json", {**config.to_dict(), "gan": asdict(gcfg), "meta": meta})
    try:
        return _train_gan_into(config, gcfg, run_dir, resume, verbose, dataset)
    finally:
        lock.release()


def _train_gan_into(config, gcfg: GanConfig, run_dir, resume, verbose: bool, dataset):
    from .data import load_dataset
    from .models import count_parameters
    from .runs import Run, atomic_write_json, save_model

    ds = dataset if dataset is not None else load_dataset(config.data)
    wanted = GAN_KINDS[config.model.name]
    if ds.kind != wanted:
        raise SynbiolabError(
            f"model '{config.model.name}' generates {wanted} data but '{ds.name}' holds {ds.kind} data; "
            f"use {'dcgan' if ds.kind == 'image' else 'wgan_seq'}"
        )
    data = prepare_gan_data(ds, gcfg.holdout, config.data.seed)
    torch.manual_seed(config.train.seed)
    model = build_gan(config.model.name, data.input_shape, max(data.n_classes, 1), **config.model.params)
    from .train import select_device

    device = str(select_device(config.train.device))
    if data.kind == "image":
        if gcfg.judge:
            judge = load_judge(gcfg.judge, ds, device)
        elif resume is not None and (run_dir / "judge" / "model.safetensors").is_file():
            judge = load_judge(run_dir / "judge", ds, device)
        else:
            if verbose:
                print(
                    f"training the judge: a CNN classifier of {ds.name} ({gcfg.judge_epochs} epochs)",
                    flush=True,
                )
            judge = train_judge(
                ds, config.data, run_dir / "judge", gcfg.judge_epochs, config.train.seed, config.train.device
            )
        quality = ImageQuality(judge, data, conditional=bool(model.n_classes), seed=config.train.seed)
    else:
        quality = SequenceQuality(data, seed=config.train.seed)
    if verbose:
        print(
            f"run folder: {run_dir}\ndata: {ds.name}, {len(data.train_x):,} training and "
            f"{len(data.heldout_x):,} held-out examples; model: {config.model.name}, generator "
            f"{count_parameters(model.generator):,} and discriminator "
            f"{count_parameters(model.discriminator):,} "
            f"parameters; loss {gcfg.loss}, {gcfg.n_critic} critic step(s) per generator step",
            flush=True,
        )

    result = fit_gan(model, data, config.train, gcfg, run_dir, quality, resume=resume is not None, verbose=verbose)
    final = quality(model, gcfg.final_samples, details=True)
    if data.kind == "image" and model.n_classes and gcfg.tog_samples > 0:
        final["train_on_generated"] = train_on_generated(
            model, ds, gcfg.tog_samples, gcfg.tog_epochs, config.train.seed
        )
    metrics = {
        "status": "finished",
        "kind": "gan",
        "data_kind": data.kind,
        "loss": gcfg.loss,
        "final": final,
        "epochs_run": len(result.history),
        "epochs_planned": config.train.epochs,
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 3),
        "seconds_per_epoch": round(result.train_seconds / max(len(result.history), 1), 3),
        "device": device,
        "n_parameters": {
            "generator": count_parameters(model.generator),
            "discriminator": count_parameters(model.discriminator),
        },
        "n_train": len(data.train_x),
        "n_heldout": len(data.heldout_x),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    if data.kind == "sequence":
        from .runs import atomic_write_text

        # the held-out natural sequences are kept with the run, so later verbs compare with the same set
        atomic_write_text(run_dir / "heldout.txt", "\n".join(_to_strings(data.heldout_x)) + "\n")
    save_model(
        run_dir,
        model.cpu(),
        config.model.name,
        config.model.params,
        {
            "input_shape": list(data.input_shape),
            "n_outputs": max(data.n_classes, 1),
            "kind": "gan",
            "data_kind": data.kind,
            "data": ds.name,
            "class_names": data.class_names,
            "normalisation": data.normalisation,
            "latent_size": model.latent_size,
            "conditional": bool(model.n_classes),
        },
    )
    run = Run(run_dir)
    write_gan_report(run)
    if verbose:
        print(summary_line(metrics), flush=True)
        print(f"report: {run_dir / 'report.html'}", flush=True)
    return run


def _to_strings(one_hot: torch.Tensor) -> list[str]:
    from .genmetrics import as_index_array, index_to_strings

    return index_to_strings(as_index_array(one_hot))


def summary_line(metrics: dict) -> str:
    """One line with the headline quality numbers of a finished GAN run."""
    f = metrics["final"]
    if metrics["data_kind"] == "image":
        text = (
            f"Frechet distance {f['frechet']:.2f} (floor, two halves of the real test set: "
            f"{f['frechet_floor']:.2f}); smallest class {f['min_class_fraction']:.1%} of {f['n_samples']:,} "
            f"samples; mean judge confidence {f['mean_confidence']:.3f}"
        )
        if "judge_accuracy" in f:
            text += f"; judge accuracy on requested digits {f['judge_accuracy']:.3f}"
        if "train_on_generated" in f:
            text += f"; train on generated, test on real: {f['train_on_generated']['test_accuracy']:.4f}"
        return text
    return (
        f"6-mer r {f['kmer_r']:.3f} (natural ceiling {f['kmer_r_ceiling']:.3f}, shuffled floor "
        f"{f['kmer_r_floor']:.3f}); -10 box {f['rate_10']:.1%} (natural {f['natural_rate_10']:.1%}), "
        f"-35 box {f['rate_35']:.1%} (natural {f['natural_rate_35']:.1%}); identical to a training "
        f"sequence {f['exact_fraction']:.2%} (held-out natural {f['natural_exact_fraction']:.2%}); nearest "
        f"training sequence {f['mean_nearest']:.1f} nt away (natural {f['natural_mean_nearest']:.1f}); "
        f"diversity {f['diversity']:.1f} nt (natural {f['natural_diversity']:.1f})"
    )


# ---------------------------------------------------------------------------------------------------------
# Sampling a trained GAN
# ---------------------------------------------------------------------------------------------------------


def sample(run_path, n: int = 64, digit: int | None = None, out=None, seed: int = 0, columns: int = 8,
           overwrite: bool = False):
    """Draw samples from a GAN run: a PNG grid of images, or a FASTA file of sequences.

    Args:
        run_path: a GAN run folder.
        n: number of samples.
        digit: for a class-conditional image GAN, the class to draw (default: all classes in turn).
        out: the output file (default ``samples.png`` / ``samples.fasta`` in the run folder).
        seed: seed of the latent vectors.
        columns: images per row of the grid.
        overwrite: replace `out` when it exists (never needed for the default file in the run folder).

    Returns:
        The path written.
    """

    from pathlib import Path

    from .runs import atomic_write_text

    run = open_gan_run(run_path)
    model = load_gan(run)
    if n < 1:
        raise SynbiolabError(f"--n {n}: draw at least one sample")
    labels = None
    if digit is not None:
        if not model.n_classes:
            raise SynbiolabError(
                f"--digit {digit}: {run.path} is an unconditional GAN; train with --conditional to pick one"
            )
        names = model.spec.get("class_names") or [str(c) for c in range(model.n_classes)]
        if str(digit) not in names:
            raise SynbiolabError(f"--digit {digit}: not a class of this GAN; valid: {', '.join(names)}")
        labels = torch.full((n,), names.index(str(digit)), dtype=torch.long)
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise SynbiolabError(f"--out {out}: is a folder; give a file name such as {out / 'samples.png'}")
        if out.exists() and not overwrite:
            raise SynbiolabError(f"--out {out}: file exists; choose another name or pass --overwrite")
        if out.is_symlink():
            raise SynbiolabError(f"--out {out}: is a symbolic link; give a real file name")
        protected = run.path.resolve() / "x"
        if out.resolve().parent == protected.parent and out.name in ("config.json", "metrics.json", "model.json",
                                                                    "model.safetensors", "kind.json", "history.csv"):
            raise SynbiolabError(f"--out {out}: is one of the run's own files; choose another name")
    samples = generate(model, n, labels, seed=seed)
    if model.spec["data_kind"] == "image":
        path = Path(out) if out else run.path / "samples.png"
        _save_png(image_grid(samples, columns), path)
        return path
    path = Path(out) if out else run.path / "samples.fasta"
    records = [f">sample_{i + 1}\n{s}" for i, s in enumerate(_to_strings(samples))]
    atomic_write_text(path, "\n".join(records) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------------
# The report of a GAN run
# ---------------------------------------------------------------------------------------------------------


def _curves_figure(history, columns: list[tuple[str, str]], title: str, references=()):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for column, label in columns:
        if column in history:
            ax.plot(history["epoch"], history[column], "o-", ms=3, label=label)
    for column, label in references:
        if column in history:
            ax.plot(history["epoch"], history[column], "--", color="grey", label=label)
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bar_figure(counts_a: dict, counts_b: dict, labels: tuple[str, str], title: str, xlabel: str):
    import matplotlib.pyplot as plt

    keys = sorted({int(k) for k in counts_a} | {int(k) for k in counts_b})
    total_a = max(sum(counts_a.values()), 1)
    total_b = max(sum(counts_b.values()), 1)
    fig, ax = plt.subplots(figsize=(5.5, 3))
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [counts_a.get(k, counts_a.get(str(k), 0)) / total_a for k in keys], 0.4, label=labels[0])
    ax.bar(x + 0.2, [counts_b.get(k, counts_b.get(str(k), 0)) / total_b for k in keys], 0.4, label=labels[1])
    step = max(1, len(keys) // 15)
    ax.set_xticks(x[::step], [str(k) for k in keys][::step])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_gan_report(run) -> None:
    """report.html of a GAN run: losses, quality per epoch, samples over epochs, final numbers, config."""
    import html
    import json

    from .report import STYLE, img_tag, save_figure, table
    from .runs import atomic_write_text

    parts = [f"<h1>GAN run {html.escape(run.name)}</h1>"]
    cfg = run.raw_config
    parts.append(
        f"<p>data <b>{html.escape(cfg['data']['name'])}</b>, model <b>{html.escape(cfg['model']['name'])}"
        f"</b>, loss <b>{html.escape(cfg['gan']['loss'])}</b> ({cfg['gan']['n_critic']} discriminator "
        f"update(s) per generator update).</p>"
    )
    metrics = json.loads((run.path / "metrics.json").read_text()) if (run.path / "metrics.json").is_file() else None
    if metrics:
        parts.append(
            f"<p><b>{html.escape(summary_line(metrics))}</b>. {metrics['epochs_run']} epochs, "
            f"{metrics['train_seconds']:.1f} s of training ({metrics['seconds_per_epoch']:.1f} s per epoch "
            f"on {html.escape(metrics['device'])}).</p>"
        )
    else:
        parts.append(
            "<p>Training has not finished: continue with <code>synbiolab gan --resume "
            f"{html.escape(str(run.path))}</code>.</p>"
        )
    history = run.history if (run.path / "history.csv").is_file() else None
    if history is not None and len(history):
        parts.append("<h2>Losses</h2>")
        parts.append(
            save_figure(
                _curves_figure(
                    history,
                    [("discriminator_loss", "discriminator"), ("generator_loss", "generator")],
                    "losses per epoch",
                ),
                run,
                "gan_losses",
            )
        )
        parts.append(
            "<p>GAN losses do not fall the way a classifier's do: the two networks play against each "
            "other, so the quality numbers below, not the losses, tell whether samples improve.</p>"
        )
        parts.append("<h2>Quality per epoch</h2>")
        if "frechet" in history:
            parts.append(
                save_figure(
                    _curves_figure(
                        history,
                        [("frechet", "generated vs real")],
                        "Frechet distance of judge features",
                        [("frechet_floor", "floor: real vs real")],
                    ),
                    run,
                    "gan_frechet",
                )
            )
        if "kmer_r" in history:
            parts.append(
                save_figure(
                    _curves_figure(
                        history,
                        [
                            ("kmer_r", "6-mer r, generated"),
                            ("rate_10", "-10 box rate"),
                            ("rate_35", "-35 box rate"),
                        ],
                        "sequence statistics",
                        [
                            ("kmer_r_ceiling", "6-mer r ceiling"),
                            ("natural_rate_10", "natural -10"),
                            ("natural_rate_35", "natural -35"),
                        ],
                    ),
                    run,
                    "gan_sequence_quality",
                )
            )
        parts.append(table(history.round(4).to_dict("records")))
    from .runs import subfolder

    figures = subfolder(run.path, "figures")
    epochs = sorted(figures.glob("samples_epoch_*.png"))
    if epochs:
        parts.append("<h2>The same latent vectors, epoch by epoch</h2>")
        shown = epochs if len(epochs) <= 6 else [epochs[int(i)] for i in np.linspace(0, len(epochs) - 1, 6)]
        for path in shown:
            parts.append(f"<p>epoch {int(path.stem.split('_')[-1])}</p>" + img_tag(path.read_bytes(), path.stem))
    text = figures / "samples_over_epochs.txt"
    if text.is_file():
        parts.append("<h2>The same latent vectors, epoch by epoch</h2><pre>" + html.escape(text.read_text()) + "</pre>")
    if metrics and (run.path / "model.safetensors").is_file():
        model = load_gan(run)
        if metrics["data_kind"] == "image":
            parts.append(
                "<h2>Latent interpolation</h2><p>Each row walks in a straight line between two random "
                "latent vectors: a smooth morph means the generator learned a continuous space rather "
                "than a lookup of training images.</p>"
            )
            grid = image_grid(interpolate_latent(model, steps=10, pairs=6), columns=10)
            _save_png(grid, figures / "latent_interpolation.png")
            parts.append(img_tag((figures / "latent_interpolation.png").read_bytes(), "latent interpolation"))
            final = metrics["final"]
            rows = [{"class": c, "fraction of samples": f} for c, f in enumerate(final["class_fractions"])]
            if "judge_accuracy_per_class" in final:
                for row, accuracy in zip(rows, final["judge_accuracy_per_class"], strict=True):
                    row["judge accuracy on requested class"] = accuracy
            parts.append(
                f"<h2>Class coverage</h2><p>The judge (test accuracy {final['judge_test_accuracy']:.4f} on "
                f"real digits) classified {final['n_samples']:,} generated digits:</p>" + table(rows)
            )
        else:
            final = metrics["final"]
            parts.append("<h2>Sigma-70 boxes, novelty</h2>")
            figures = [
                ("spacing_counts", "spacer between -35 and -10 boxes", "nt", "gan_spacing"),
                ("position_10_counts", "-10 box start", "position", "gan_position_10"),
            ]
            for key, title, unit, name in figures:
                figure = _bar_figure(final["boxes"][key], final["natural_boxes"][key], ("generated", "natural"),
                                     title, unit)
                parts.append(save_figure(figure, run, name))
            parts.append(save_figure(_bar_figure(final["nearest_counts"], final["natural_nearest_counts"],
                                                 ("generated", "held-out natural"),
                                                 "Hamming distance to the nearest training sequence", "nt"),
                                     run, "gan_nearest"))
            parts.append(table([{"metric": k, "value": final[k]} for k in SEQUENCE_QUALITY_KEYS]))
            parts.append(
                f"<p>{final['n_samples']:,} generated sequences against {final['n_heldout']:,} held-out "
                f"natural promoters the GAN never saw ({final['n_train']:,} in training). Natural "
                "promoters include duplicates, so even held-out ones can match a training sequence.</p>"
            )
    parts.append(f"<h2>Config</h2><pre>{html.escape(json.dumps(cfg, indent=2))}</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>synbiolab GAN {html.escape(run.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    atomic_write_text(run.path / "report.html", page)


def build_gan_config(
    data: str | None = None,
    model: str | None = None,
    conditional: bool = False,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    loss: str | None = None,
    n_critic: int | None = None,
    judge: str | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    sets: list[str] | None = None,
):
    """(Config, GanConfig) from the model's recipe, named options and ``--set`` overrides (``gan.KEY=VALUE``
    for the GAN settings, ``train.``, ``data.`` and ``model.`` keys as for ``synbiolab train``).

    Returns:
        (Config, GanConfig).
    """
    from dataclasses import asdict

    from .config import apply_overrides, parse_value, set_value

    config, gcfg = default_gan_config(data or "mnist", model or "dcgan")
    options = {
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.seed": seed,
        "data.data_dir": data_dir,
        "train.device": device,
    }
    for key, value in options.items():
        if value is not None:
            set_value(config, key, value, source=f"--{key.split('.')[1].replace('_', '-')}")
    if conditional:
        set_value(config, "model.conditional", True, source="--conditional")
    gan_values = asdict(gcfg)
    for key, value in {"loss": loss, "n_critic": n_critic, "judge": judge}.items():
        if value is not None:
            gan_values[key] = value
    other_sets = []
    for item in sets or []:
        key, equals, value = item.partition("=")
        if not equals:
            raise SynbiolabError(f"--set {item}: expected KEY=VALUE, e.g. gan.n_critic=5")
        if key.startswith("gan."):
            gan_values[key[4:]] = parse_value(value)
        else:
            other_sets.append(item)
    gcfg = gan_config_from_dict(gan_values, "--set")
    if gcfg.loss not in LOSSES:
        raise SynbiolabError(f"gan.loss={gcfg.loss!r} is unknown; valid: {', '.join(LOSSES)}")
    return apply_overrides(config, other_sets), gcfg


# ---------------------------------------------------------------------------------------------------------
# Design: sample a sequence GAN, score with an expression predictor, keep the best
# ---------------------------------------------------------------------------------------------------------

MEASURED_PROMOTERS = "ecoli_promoters_wang2020/seq_exp_94.txt"  # under synbio/ in the data folder
MEASURED_PROMOTERS_SHA256 = "e81b9316059886846c4e367dd6ae1a0bb196953fcd1a1bc6ac634ed4a1394976"
CLONING_PREFIX = "AATTC"  # the EcoRI overhang that every measured construct starts with


def load_predictor(path, sequence_shape) -> tuple:
    """An expression predictor run, checked against the generator's sequences.

    Args:
        path: a run folder of a sequence regression model (``synbiolab train --data ecoli_promoters``).
        sequence_shape: (4, L) of the generated sequences.

    Returns:
        (Run, model) with the model in evaluation mode on the CPU.
    """
    from .runs import Run

    run = Run(path)
    if is_gan_run(run):
        raise SynbiolabError(f"--predictor {path}: is a GAN run; give an expression predictor (synbiolab train)")
    spec = run.model_spec
    alphabet = run.raw_config.get("data", {}).get("alphabet", "dna")
    shape = tuple(spec.get("input_shape", ()))
    if spec.get("kind") != "sequence" or alphabet != "dna" or (shape and shape[0] != 4):
        raise SynbiolabError(
            f"--predictor {path}: reads {spec.get('kind')} data (alphabet {alphabet}, input shape {shape}); "
            f"the generator writes DNA of shape {tuple(sequence_shape)}"
        )
    if shape != tuple(sequence_shape):
        raise SynbiolabError(
            f"--predictor {path}: was trained on {shape[1]}-nt sequences but the generator writes "
            f"{sequence_shape[1]}-nt sequences; train the predictor on {sequence_shape[1]}-nt DNA"
        )
    if spec.get("task") != "regression" or int(spec.get("n_outputs", 0)) != 1:
        raise SynbiolabError(
            f"--predictor {path}: is a {spec.get('task')} model with {spec.get('n_outputs')} output(s); "
            "design needs a regression model of one expression value (e.g. trained on ecoli_promoters)"
        )
    return run, run.load_model("cpu")


@torch.no_grad()
def predict_sequences(predictor: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """(N,) predictions of a one-output predictor for (N, 4, L) sequences."""
    predictor.eval()
    out = [predictor(x[start : start + batch_size]).float().reshape(-1) for start in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0)


def parse_target(target: str, low: float, high: float) -> tuple[str, float | None]:
    """``high``, ``low`` or a number inside [low, high] (the predictor's training range)."""
    text = str(target).strip().lower()
    if text in ("high", "low"):
        return text, None
    try:
        value = float(text)
    except ValueError:
        raise SynbiolabError(f"--target {target}: expected high, low or a number") from None
    if not low <= value <= high:
        raise SynbiolabError(
            f"--target {target}: outside the range the predictor was trained on ({low:.3g} to {high:.3g}); "
            "a prediction there is an extrapolation: choose a value inside it, or high / low"
        )
    return "value", value


def _objective(predicted: torch.Tensor, mode: str, value: float | None) -> torch.Tensor:
    """Score to maximise: the prediction (high), its negative (low) or minus the distance to a value."""
    if mode == "high":
        return predicted
    if mode == "low":
        return -predicted
    return -(predicted - value).abs()


def refine_latent(
    generator: nn.Module,
    predictor: nn.Module,
    latent: torch.Tensor,
    mode: str,
    value,
    steps: int,
    lr: float = 0.05,
) -> torch.Tensor:
    """Gradient ascent in latent space: move each z so that the predictor scores G(z) closer to the target.

    The generator's softmax output is differentiable, so the predictor's gradient flows back to z; the
    latent vectors stay near the prior because each step is small and the number of steps is limited.

    Returns:
        The refined latent vectors.
    """
    z = latent.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    generator.eval()
    predictor.eval()
    for _ in range(steps):
        score = _objective(predictor(generator(z)).reshape(-1), mode, value)
        optimizer.zero_grad(set_to_none=True)
        (-score.sum()).backward()
        optimizer.step()
    return z.detach()


def read_measured_promoters(data_dir=None) -> list[tuple[str, float, str]]:
    """The 94 promoters with measured activity of Wang et al. (2020): (sequence, activity, name)."""
    from .data.images import data_roots, file_digest

    for root in data_roots(data_dir):
        path = root / "synbio" / MEASURED_PROMOTERS
        if path.is_file():
            if file_digest(path, "sha256") != MEASURED_PROMOTERS_SHA256:
                raise SynbiolabError(f"{path}: checksum mismatch; replace it with the published file")
            rows = []
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if line.strip():
                    fields = line.split("\t")
                    if len(fields) < 3:
                        raise SynbiolabError(f"{path}, line {number}: expected sequence, activity and name")
                    rows.append((fields[0].strip().upper(), float(fields[1]), fields[2].strip()))
            return rows
    return []


def _encode_measured(sequences: list[str], length: int, pad: str) -> torch.Tensor:
    """One-hot of measured constructs without their cloning overhang, fitted to the predictor's length."""
    from .data.sequences import one_hot

    stripped = [s[len(CLONING_PREFIX) :] if s.startswith(CLONING_PREFIX) else s for s in sequences]
    x, _ = one_hot(stripped, "dna", False, length, pad)
    return torch.as_tensor(x)


def design(
    generator_run,
    predictor_run,
    n: int = 10000,
    top: int = 100,
    target: str = "high",
    refine_steps: int = 0,
    out=None,
    overwrite: bool = False,
    seed: int = 0,
    verbose: bool = True,
):
    """Design promoters: sample a sequence GAN, score every sequence with an expression predictor, keep the
    ``top`` best for the target, and write designs.fasta and a design report.

    Args:
        generator_run: a ``wgan_seq`` GAN run.
        predictor_run: a regression run on DNA of the same length (e.g. cnn1d on ecoli_promoters).
        n: sequences sampled.
        top: designs kept.
        target: ``high``, ``low`` or a value of the predictor's target (e.g. a log10 expression).
        refine_steps: gradient-ascent steps in latent space before scoring (0: plain sampling).
        out: output folder (default ``<generator run>/design``).
        overwrite: replace an existing output folder.
        seed: seed of the latent vectors.
        verbose: print a summary.

    Returns:
        The output folder.
    """
    from pathlib import Path

    from .data import load_dataset
    from .genmetrics import (
        as_index_array,
        box_calls,
        index_to_strings,
        mean_pairwise_distance,
        nearest_hamming,
    )
    from .runs import atomic_write_json, atomic_write_text

    gan_run = open_gan_run(generator_run)
    model = load_gan(gan_run)
    if model.spec["data_kind"] != "sequence":
        raise SynbiolabError(f"--generator {generator_run}: generates images; design needs a sequence GAN (wgan_seq)")
    if n < 1 or top < 1:
        raise SynbiolabError(f"--n {n} --top {top}: both must be at least 1")
    shape = tuple(model.spec["input_shape"])
    predictor_run_obj, predictor = load_predictor(predictor_run, shape)
    predictor_data = predictor_run_obj.load_dataset()
    train_targets = predictor_data.train.y.reshape(-1).double()
    low, high = float(train_targets.min()), float(train_targets.max())
    mode, value = parse_target(target, low, high)

    from .runs import prepare_run_dir

    out = prepare_run_dir(Path(out) if out else gan_run.path / "design", overwrite, kind="design")

    latent = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed))
    if refine_steps > 0:
        latent = refine_latent(model.generator, predictor, latent, mode, value, refine_steps)
    candidates = hard_one_hot(generate(model, n, latent=latent))
    predicted = predict_sequences(predictor, candidates)
    score = _objective(torch.as_tensor(predicted), mode, value).numpy()
    codes = as_index_array(candidates)
    strings = index_to_strings(codes)
    # keep the best-scoring copy of each distinct sequence
    order = np.argsort(-score, kind="stable")
    seen, chosen = set(), []
    for index in order:
        if strings[index] not in seen:
            seen.add(strings[index])
            chosen.append(int(index))
        if len(chosen) == top:
            break
    chosen = np.asarray(chosen)

    gan_config = gan_run.config
    gan_data = prepare_gan_data(
        load_dataset(gan_config.data), gan_run.raw_config["gan"]["holdout"], gan_config.data.seed
    )
    train_codes = as_index_array(gan_data.train_x)
    heldout_codes = as_index_array(gan_data.heldout_x)
    nearest = nearest_hamming(codes[chosen], train_codes)
    calls = box_calls(codes[chosen])
    records = []
    for rank, index in enumerate(chosen):
        i = rank
        seq = strings[index]
        p10, p35 = int(calls["position_10"][i]), int(calls["position_35"][i])
        box10 = f"{seq[p10 : p10 + 6]}@{p10 + 1}" if calls["has_10"][i] else "none"
        box35 = f"{seq[p35 : p35 + 6]}@{p35 + 1}" if calls["has_35"][i] else "none"
        spacing = int(calls["spacing"][i]) if calls["has_10"][i] and calls["has_35"][i] else "none"
        records.append(
            {
                "name": f"design_{rank + 1:04d}",
                "sequence": seq,
                "predicted": float(predicted[index]),
                "nearest_train": int(nearest[i]),
                "box_10": box10,
                "box_35": box35,
                "spacing": spacing,
            }
        )
    fasta = "".join(
        f">{r['name']} predicted={r['predicted']:.4f} nearest_train={r['nearest_train']} box10={r['box_10']} "
        f"box35={r['box_35']} spacing={r['spacing']}\n{r['sequence']}\n"
        for r in records
    )
    atomic_write_text(out / "designs.fasta", fasta)

    natural_predicted = predict_sequences(predictor, gan_data.heldout_x)
    pad = predictor_run_obj.raw_config.get("data", {}).get("pad", "right")
    measured = read_measured_promoters(gan_config.data.data_dir)
    measured_summary = None
    if measured:
        measured_x = _encode_measured([m[0] for m in measured], shape[1], pad)
        measured_predicted = predict_sequences(predictor, measured_x)
        measured_log = np.log10([m[1] for m in measured])
        measured_summary = {
            "n": len(measured),
            "pearson_r": float(np.corrcoef(measured_predicted, measured_log)[0, 1]),
            "spearman_rho": float(_spearman(measured_predicted, measured_log)),
            "predicted": measured_predicted.tolist(),
            "measured_log10": measured_log.tolist(),
            "names": [m[2] for m in measured],
        }
    summary = {
        "generator": str(gan_run.path),
        "predictor": str(predictor_run_obj.path),
        "n_sampled": n,
        "n_distinct": len(set(strings)),
        "top": len(records),
        "target": target,
        "refine_steps": refine_steps,
        "predictor_training_range": [low, high],
        "designs": {
            "predicted_mean": float(np.mean([r["predicted"] for r in records])),
            "predicted_max": float(np.max([r["predicted"] for r in records])),
            "predicted_min": float(np.min([r["predicted"] for r in records])),
            "identical_to_training": float(np.mean(nearest == 0)),
            "mean_nearest_train": float(nearest.mean()),
            "rate_10": float(calls["has_10"].mean()),
            "rate_35": float(calls["has_35"].mean()),
            "diversity": mean_pairwise_distance(codes[chosen]) if len(chosen) > 1 else 0.0,
        },
        "all_sampled": {"predicted_mean": float(predicted.mean()), "predicted_std": float(predicted.std())},
        "natural_heldout": {
            "n": len(heldout_codes),
            "predicted_mean": float(natural_predicted.mean()),
            "predicted_max": float(natural_predicted.max()),
            "rate_10": float(box_calls(heldout_codes)["has_10"].mean()),
            "rate_35": float(box_calls(heldout_codes)["has_35"].mean()),
        },
        "measured_94": measured_summary,
    }
    atomic_write_json(out / "design.json", summary)
    _write_design_report(out, summary, records, predicted, natural_predicted)
    if verbose:
        d = summary["designs"]
        print(
            f"{len(records)} designs of {n:,} sampled ({summary['n_distinct']:,} distinct), target {target}: "
            f"predicted {d['predicted_min']:.3f} to {d['predicted_max']:.3f} "
            f"(mean {d['predicted_mean']:.3f}; "
            f"all sampled {predicted.mean():.3f}, held-out natural {natural_predicted.mean():.3f}); "
            f"identical to a training promoter {d['identical_to_training']:.1%}; -10 box {d['rate_10']:.0%}, "
            f"-35 box {d['rate_35']:.0%}",
            flush=True,
        )
        if measured_summary:
            print(
                f"predictor on the {measured_summary['n']} measured promoters: Pearson r "
                f"{measured_summary['pearson_r']:.3f}, Spearman rho {measured_summary['spearman_rho']:.3f}",
                flush=True,
            )
        print(f"designs: {out / 'designs.fasta'}", flush=True)
    return out


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def _write_design_report(out, summary: dict, records: list, predicted, natural_predicted) -> None:
    import html
    import json

    import matplotlib.pyplot as plt

    from .report import STYLE, save_figure, table
    from .runs import atomic_write_text

    refined = f", {summary['refine_steps']} gradient steps in latent space" if summary["refine_steps"] else ""
    parts = [
        "<h1>Promoter designs</h1>",
        f"<p>{summary['top']} designs chosen from {summary['n_sampled']:,} sequences sampled from "
        f"<code>{html.escape(summary['generator'])}</code> and scored by <code>"
        f"{html.escape(summary['predictor'])}</code>; target <b>{html.escape(str(summary['target']))}</b>"
        f"{refined}"
        ".</p>",
    ]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(min(predicted.min(), natural_predicted.min()), max(predicted.max(), natural_predicted.max()), 40)
    ax.hist(natural_predicted, bins, density=True, alpha=0.5, label="held-out natural promoters")
    ax.hist(predicted, bins, density=True, alpha=0.5, label="all generated")
    ax.hist([r["predicted"] for r in records], bins, density=True, alpha=0.7, label="designs")
    ax.set_xlabel("predicted expression (predictor's units)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    parts.append(save_figure(fig, out, "design_predictions"))
    rows = [
        {"set": "designs", **summary["designs"]},
        {"set": "held-out natural", **summary["natural_heldout"]},
    ]
    parts.append(table(rows))
    measured = summary["measured_94"]
    if measured:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(measured["measured_log10"], measured["predicted"], s=12)
        ax.set_xlabel("measured activity (log10)")
        ax.set_ylabel("predicted")
        ax.set_title(f"{measured['n']} measured promoters: r = {measured['pearson_r']:.2f}", fontsize=10)
        fig.tight_layout()
        parts.append("<h2>How far can the predictor be trusted?</h2>" + save_figure(fig, out, "design_measured"))
        parts.append(
            f"<p>On the {measured['n']} promoters measured in vivo by Wang et al. (2020), the "
            f"predictor's scores correlate with the measured activity at Pearson r = "
            f"{measured['pearson_r']:.3f} (Spearman rho = {measured['spearman_rho']:.3f}). The "
            "constructs carry a 5-nt cloning overhang (AATTC), removed before scoring, and are fitted "
            "to the predictor's length as its training data were. A weak correlation here means the "
            "ranking of designs is a hypothesis to test, not a result.</p>"
        )
    parts.append("<h2>Designs</h2>" + table(records[:100]))
    parts.append(f"<h2>Settings</h2><pre>{html.escape(json.dumps(summary, indent=2)[:4000])}</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>synbiolab designs</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    atomic_write_text(out / "design.html", page)
