"""How good a GAN's samples are, measured after every epoch and at the end.

Images are judged by a classifier of the real data (a synbiolab CNN run): Frechet distance of its features,
class coverage and, for conditional GANs, whether the judge reads the asked-for class. Sequences are judged
against held-out natural ones: k-mer agreement between its ceiling and floor, sigma-70 box rates, novelty
(distance to the nearest training sequence) and diversity.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data.generative import GanData, to_data_space
from ..errors import SynbiolabError
from ..generate import balanced_labels, generate
from ..runs import open_run
from .genmetrics import (
    as_index_array,
    box_summary,
    class_coverage,
    frechet_distance,
    kmer_pearson,
    mean_pairwise_distance,
    novelty,
    shuffle_sequences,
)

# The promoter-quality numbers of a finished sequence GAN, in the order reports and benchmarks print them.
SEQUENCE_QUALITY_KEYS = (
    "kmer_r", "kmer_r_ceiling", "kmer_r_floor", "rate_10", "natural_rate_10", "rate_35", "natural_rate_35",
    "spacing_16_18", "exact_fraction", "natural_exact_fraction", "mean_nearest", "natural_mean_nearest",
    "diversity", "natural_diversity",
)


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

    Novelty compares every generated sequence with every training sequence, the one part whose cost grows
    with both sets; the per-epoch calls therefore measure it on the first ``epoch_novelty_samples`` sequences
    (drawn from the same latent vectors every epoch), and the final call (``details=True``) on all of them.
    k-mers, boxes and diversity cost little and are always measured on the whole set.

    Args:
        data: the GanData; the GAN trained on ``train_x`` and never saw ``heldout_x``.
        k: k-mer length.
        seed: seed of the latent vectors, subsamples and shuffles.
        epoch_novelty_samples: sequences checked for novelty after each epoch (0: all of them).
    """

    def __init__(self, data: GanData, k: int = 6, seed: int = 0, epoch_novelty_samples: int = 500):

        self.data, self.k, self.seed = data, k, seed
        self.epoch_novelty_samples = epoch_novelty_samples
        self.train_codes = as_index_array(data.train_x)
        self.heldout_codes = as_index_array(data.heldout_x)
        self.natural_boxes = box_summary(self.heldout_codes)
        self.natural_novelty = novelty(self.heldout_codes, self.train_codes)
        self.natural_diversity = mean_pairwise_distance(self.heldout_codes)
        self._references: dict[int, dict] = {}

    def references(self, n: int) -> dict:
        """k-mer r of n natural training sequences (ceiling) and of the same shuffled (floor) vs held-out."""
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
        """Quality numbers of sequences given as (N, L) base indices (all of them, with ``details``)."""
        boxes = box_summary(codes)
        checked = codes if details or not self.epoch_novelty_samples else codes[: self.epoch_novelty_samples]
        memory = novelty(checked, self.train_codes)
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
            scores["n_novelty_samples"] = len(checked)
            scores["boxes"] = boxes
            scores["natural_boxes"] = self.natural_boxes
            scores["nearest_counts"] = memory["nearest_counts"]
            scores["natural_nearest_counts"] = self.natural_novelty["nearest_counts"]
            scores["n_train"] = len(self.train_codes)
            scores["n_heldout"] = len(self.heldout_codes)
        return scores

    def __call__(self, model: nn.Module, n: int, details: bool = False) -> dict:

        return self.score_codes(as_index_array(generate(model, n, seed=self.seed + 1)), details)


def load_judge(path, dataset, device: str = "cpu") -> nn.Module:
    """A classifier run of the same images, checked and loaded as the judge of generated samples.

    Args:
        path: the classifier's run folder (``synbiolab train --model cnn ...``).
        dataset: the GAN's Dataset.
        device: where to load it.

    Returns:
        The classifier in evaluation mode.
    """
    run = open_run(path, expect="train", verb="the judge")
    spec = run.model_spec
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
