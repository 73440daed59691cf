"""One GAN step, with two banners: update the discriminator, then update the generator.

Two losses are offered:
- ``standard``: the non-saturating GAN loss of Goodfellow et al. (2014): the discriminator minimises the
  binary cross-entropy of real (1) versus generated (0); the generator maximises log D(G(z)) rather than
  minimising log(1 - D(G(z))), whose gradient vanishes exactly when the generator is still bad.
- ``wgan-gp``: the Wasserstein loss with gradient penalty of Gulrajani et al. (2017): the critic maximises
  E[D(real)] - E[D(fake)] while a penalty lambda * (||grad D(x_hat)|| - 1)^2 on random interpolates keeps it
  1-Lipschitz; the critic takes ``n_critic`` steps for each generator step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SynbiolabError

LOSSES = ("standard", "wgan-gp")


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
    for index, (real, labels) in enumerate(real_batches):
        labels = labels if conditional else None
        z = sample_latent(len(real), latent_size, real.device, rng)
        # Only the last fake batch is reused by the generator's update below; the others need no graph.
        with torch.set_grad_enabled(index == len(real_batches) - 1):
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
