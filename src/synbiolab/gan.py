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
    holdout: float = 0.1  # fraction of the sequences held out for evaluation (sequence data)
    eval_samples: int = 2000  # generated samples scored after every epoch
    final_samples: int = 10000  # generated samples scored at the end
    judge: str | None = None  # classifier run that judges generated images; None trains a CNN on the spot
    judge_epochs: int = 3  # epochs of the judge trained on the spot
    tog_samples: int = 60000  # generated digits for "train on generated, test on real" (conditional, 0: skip)
    tog_epochs: int = 3  # epochs of that classifier


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
    valid = [
        k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "input_shape", "n_outputs")
    ]
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
    never saw it). Sequences of all splits are pooled and a random ``holdout`` fraction is kept for
    evaluation, so that the generated set can be compared with natural sequences the GAN never saw.

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
            raise SynbiolabError(
                f"data set '{dataset.name}' has no normalisation info; a GAN needs image pixels"
            )
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
        raise SynbiolabError(
            f"data set '{dataset.name}' is of kind {dataset.kind!r}; a GAN takes image or sequence"
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
def judge_outputs(
    judge: nn.Module, x: torch.Tensor, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
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
                "kmer_r_floor": kmer_pearson(
                    shuffle_sequences(natural, self.seed), self.heldout_codes, self.k
                ),
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
        raise SynbiolabError(
            f"gan.n_critic={gcfg.n_critic}: the discriminator needs at least 1 update per step"
        )
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

    from .data import InMemoryBatches

    batch_size = min(cfg.batch_size, len(data.train_x))
    batches = InMemoryBatches(
        data.train_x.to(device), data.train_y.to(device), batch_size, seed=cfg.seed, drop_last=True
    )
    steps_per_epoch = max(batches.steps_per_epoch // gcfg.n_critic, 1)
    n_steps = cfg.epochs * steps_per_epoch
    rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    fixed_latent, fixed_labels = _fixed_latent(model, model.n_classes, cfg.seed)

    history: list[dict] = []
    start_step, seconds = 0, 0.0
    checkpoint_path = run_dir / "checkpoint" / "state.pt" if run_dir is not None else None
    if resume:
        if checkpoint_path is None or not checkpoint_path.is_file():
            raise SynbiolabError(f"{run_dir}: no checkpoint to resume from (checkpoint/state.pt)")
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        g_opt.load_state_dict(state["generator_optimizer"])
        d_opt.load_state_dict(state["discriminator_optimizer"])
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
                "generator_optimizer": g_opt.state_dict(),
                "discriminator_optimizer": d_opt.state_dict(),
                "batches": batches.state_dict(),
                "rng": rng.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "step": step,
                "seconds": seconds,
            },
        )

    model.train()
    t_epoch = time.perf_counter()
    sums: dict[str, float] = {}
    step = start_step
    with _StopRequest() as stop:
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
                where = (
                    f" in {checkpoint_path.parent}" if checkpoint_path and checkpoint_path.is_file() else ""
                )
                raise TrainingDiverged(
                    f"GAN loss became non-finite at step {step + 1} (discriminator "
                    f"{result.discriminator_loss}, generator {result.generator_loss}); "
                    f"the last good checkpoint is kept{where}; lower train.lr"
                )
            for key, value in vars(result).items():
                sums[key] = sums.get(key, 0.0) + value
            if (step + 1) % steps_per_epoch == 0:
                epoch = (step + 1) // steps_per_epoch
                seconds += time.perf_counter() - t_epoch
                row = {"epoch": epoch, "step": step + 1, **{k: v / steps_per_epoch for k, v in sums.items()}}
                sums = {}
                if quality is not None:
                    row.update(quality(model, gcfg.eval_samples))
                row["seconds"] = round(seconds, 3)
                history.append(row)
                if run_dir is not None:
                    columns = GAN_HISTORY_START + [k for k in row if k not in GAN_HISTORY_START]
                    atomic_write_csv(run_dir / "history.csv", history, columns)
                    draw_epoch_samples(model, data, fixed_latent, fixed_labels, run_dir, epoch)
                save_checkpoint(step + 1)
                if verbose:
                    print(_epoch_line(row, cfg.epochs), flush=True)
                model.train()
                t_epoch = time.perf_counter()
            if stop.requested:
                seconds += time.perf_counter() - t_epoch
                save_checkpoint(step + 1)
                raise KeyboardInterrupt(f"stopped at step {step + 1}")
    model.eval()
    return GanFitResult(model, history, seconds, step + 1)


def _epoch_line(row: dict, epochs: int) -> str:
    text = (
        f"epoch {row['epoch']:>3}/{epochs}  D loss {row['discriminator_loss']:.4f}  "
        f"G loss {row['generator_loss']:.4f}"
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
    from pathlib import Path

    from .runs import atomic_write_text

    samples = generate(model, len(latent), labels, latent=latent)
    figures = Path(run_dir) / "figures"
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
