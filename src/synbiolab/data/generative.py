"""A Dataset prepared for a generative model: training and held-out examples in the generator's range.

Images are scaled to [-1, 1] (the generator ends in tanh); one-hot sequences stay one-hot. Sequence sets made
for prediction have no test split meant for generators, so a share of the training examples is held out to
judge novelty and k-mer agreement against sequences the GAN never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import SynbiolabError


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
