"""Data augmentation done on whole batches, on the training device.

``shift_rotate`` moves each image by up to 2 pixels (for a 28x28 image; the shift scales with the image,
so an 8x8 digit moves by up to 0.57 px) and rotates it by up to 10 degrees (one affine grid per batch, so it
costs one ``grid_sample``); ``revcomp`` replaces half the DNA sequences of a batch by their
reverse complement, which for one-hot (B, 4, L) in A, C, G, T order is a flip of both axes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import SynbiolabError

AUGMENTATIONS = ("none", "shift_rotate", "revcomp")


def shift_rotate(x: torch.Tensor, generator: torch.Generator, max_shift: float = 2.0, max_degrees: float = 10.0):
    """Random translation (up to `max_shift` px of a 28-px image) and rotation (up to `max_degrees`) of a batch
    (B, C, H, W)."""
    b, _, h, w = x.shape
    max_shift = max_shift * min(h, w) / 28  # the same share of the frame at any size
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_degrees)
    shift = (torch.rand(b, 2, generator=generator) * 2 - 1) * max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    theta[:, 0, 2] = shift[:, 0] * 2 / w  # pixels -> normalised [-1, 1] coordinates
    theta[:, 1, 2] = shift[:, 1] * 2 / h
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    # The background of a normalised image is its minimum value, not zero: pad with it.
    background = x.amin(dim=(1, 2, 3), keepdim=True)
    return F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background


def reverse_complement_onehot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot DNA (B, 4, L) with channels A, C, G, T: A<->T, C<->G, 5'<->3'."""
    return x.flip(1).flip(2)


def revcomp(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Replace a random half of the batch by the reverse complement."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None], reverse_complement_onehot(x), x)


def make_augmenter(name: str, kind: str, seed: int):
    """A function batch -> augmented batch, or None for ``none``; checks the augmentation fits the data."""
    if name not in AUGMENTATIONS:
        raise SynbiolabError(f"train.augment={name!r} is unknown; valid: {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return None
    needed = {"shift_rotate": "image", "revcomp": "sequence"}[name]
    if kind != needed:
        raise SynbiolabError(f"train.augment={name} works on {needed} data, not {kind} data")
    generator = torch.Generator().manual_seed(seed + 7919)
    fn = shift_rotate if name == "shift_rotate" else revcomp

    def augment(x):
        return fn(x, generator)

    augment.generator = generator
    return augment
