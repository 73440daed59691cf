"""WGAN-GP generator and critic for one-hot DNA (the recipe of Gupta & Zou 2019 and Wang et al. 2020).

The generator maps a latent vector to a (4, L) grid through a linear layer and residual 1-D convolutions, and
ends in a softmax over the four bases, so that each position is a probability vector: the critic sees soft
sequences during training and the argmax gives the DNA. The critic mirrors it and returns one unbounded
score per sequence (no sigmoid, no batch norm: the Wasserstein critic is regularised by the gradient
penalty, which is defined per sample).
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock1d(nn.Module):
    """Two 1-D convolutions on a residual branch, scaled down so that deep stacks start near identity.

    Args:
        channels: channels in and out.
        kernel_size: width of both convolutions (odd, so the length is kept).
        residual_scale: weight of the branch added to the input.
    """

    def __init__(self, channels: int = 128, kernel_size: int = 5, residual_scale: float = 0.3):
        super().__init__()
        self.residual_scale = residual_scale
        self.branch = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual_scale * self.branch(x)  # (B, C, L) -> (B, C, L)


class SequenceGenerator(nn.Module):
    """Latent vector -> (B, 4, L) base probabilities (softmax over the 4 channels).

    Args:
        sequence_length: L, length of the generated sequences.
        latent_size: length of the latent vector z.
        channels: width of the residual convolutions.
        n_blocks: number of residual blocks.
        kernel_size: width of the convolutions.
        alphabet_size: number of letters (4 for DNA).
    """

    def __init__(
        self,
        sequence_length: int = 50,
        latent_size: int = 100,
        channels: int = 32,
        n_blocks: int = 5,
        kernel_size: int = 5,
        alphabet_size: int = 4,
    ):
        super().__init__()
        self.sequence_length = sequence_length
        self.latent_size = latent_size
        self.channels = channels
        self.alphabet_size = alphabet_size
        self.n_classes = 0
        self.project = nn.Linear(latent_size, channels * sequence_length)
        self.blocks = nn.Sequential(*[ResidualBlock1d(channels, kernel_size) for _ in range(n_blocks)])
        self.to_letters = nn.Conv1d(channels, alphabet_size, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.project(z).view(-1, self.channels, self.sequence_length)  # (B, Z) -> (B, C, L)
        h = self.blocks(h)  # (B, C, L) -> (B, C, L)
        return torch.softmax(self.to_letters(h), dim=1)  # (B, C, L) -> (B, 4, L), columns sum to 1


class SequenceCritic(nn.Module):
    """(B, 4, L) one-hot or soft sequences -> one Wasserstein score per sequence.

    Args:
        sequence_length: L, length of the sequences.
        channels: width of the residual convolutions.
        n_blocks: number of residual blocks.
        kernel_size: width of the convolutions.
        alphabet_size: number of letters (4 for DNA).
    """

    def __init__(
        self,
        sequence_length: int = 50,
        channels: int = 32,
        n_blocks: int = 5,
        kernel_size: int = 5,
        alphabet_size: int = 4,
    ):
        super().__init__()
        self.sequence_length = sequence_length
        self.n_classes = 0
        self.from_letters = nn.Conv1d(alphabet_size, channels, 1)
        self.blocks = nn.Sequential(*[ResidualBlock1d(channels, kernel_size) for _ in range(n_blocks)])
        self.score = nn.Linear(channels * sequence_length, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(self.from_letters(x))  # (B, 4, L) -> (B, C, L)
        return self.score(h.flatten(1)).squeeze(1)  # (B, C * L) -> (B,)


class SequenceWGAN(nn.Module):
    """A sequence generator and critic pair for WGAN-GP, built and saved as one model.

    ``forward(z)`` draws (B, 4, L) base probabilities with the generator; ``synbiolab gan`` trains the pair.
    It is unconditional: it takes no number of classes, and the data's targets play no part.

    Args:
        input_shape: (4, L) of one one-hot sequence.
        latent_size: length of the latent vector z.
        channels: width of the residual convolutions of both networks. 32 by default: on CPUs the 6-mer
            agreement per minute of training was higher than with 64 or 128 (models/registry.py has the
            numbers); runs saved with another width keep it, as model.json stores every argument.
        n_blocks: residual blocks in each network.
        kernel_size: width of the convolutions.
    """

    def __init__(
        self,
        input_shape=(4, 50),
        latent_size: int = 100,
        channels: int = 32,
        n_blocks: int = 5,
        kernel_size: int = 5,
    ):
        super().__init__()
        alphabet_size, sequence_length = (int(s) for s in input_shape)
        self.latent_size = latent_size
        self.n_classes = 0
        self.generator = SequenceGenerator(
            sequence_length, latent_size, channels, n_blocks, kernel_size, alphabet_size
        )
        self.discriminator = SequenceCritic(sequence_length, channels, n_blocks, kernel_size, alphabet_size)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z)  # (B, Z) -> (B, 4, L)
