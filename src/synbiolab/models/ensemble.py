"""A deep ensemble in one module: K copies of a model, trained side by side, predicting the mean of their outputs.

Networks that start from different random weights end in different minima and make partly different
mistakes, so the mean of their outputs is more accurate than a typical member and its spread says how much
they disagree (Lakshminarayanan, Pritzel and Blundell 2017, "Simple and scalable predictive uncertainty
estimation using deep ensembles"). ``--set model.members=5`` builds any classifier or regressor this way.

The members are independent: each starts from its own random weights and draws its own dropout masks, and
the training loss is the mean of the members' own losses (``Ensemble.training_loss``), never the loss of
their mean output, which would train one wide network instead of K separate ones. Each member's gradient is
then its own gradient divided by K; Adam and AdamW (every recipe's optimizer) do not change with that scale,
SGD does (raise ``train.lr`` K times to match one member trained alone). The members see the same batches
in the same order: that saves the K data pipelines and changes little, since random initialisation is the
main source of the members' diversity (Fort, Hu and Lakshminarayanan 2019).

In evaluation the prediction is the mean of the members' outputs: logits for classifiers (the normalised
geometric mean of their probabilities), values for regressors. One module means one loop, one checkpoint and
one saved model: everything that takes a model (evaluation, reports, saliency, the web page) takes an
ensemble.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class Ensemble(nn.Module):
    """K members of one architecture; training mode returns every member's output, evaluation their mean.

    Args:
        members: the K models, each built with its own random initial weights.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = torch.stack([member(x) for member in self.members])  # (K, B, n_outputs)
        return outputs if self.training else outputs.mean(0)  # evaluation: (B, n_outputs)

    def member_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's output, whatever the mode: (K, B, n_outputs); their spread is the disagreement."""
        return torch.stack([member(x) for member in self.members])

    @staticmethod
    def training_loss(loss_fn: Callable) -> Callable:
        """The loss of the stacked training outputs: the mean over members of each member's own loss."""

        def loss(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.stack([loss_fn(member, y) for member in outputs]).mean()  # outputs: (K, B, n_outputs)

        return loss

    @property
    def first_conv(self) -> nn.Module:
        """The first member's first convolution (what a filter figure shows: one member's motif detectors)."""
        member = self.members[0]
        if not hasattr(member, "first_conv"):
            raise AttributeError("first_conv")
        return member.first_conv

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The members' penultimate representations side by side: (B, K * n_features)."""
        return torch.cat([member.features(x) for member in self.members], dim=1)
