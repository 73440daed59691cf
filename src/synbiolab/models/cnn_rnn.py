"""Convolution then a recurrent layer (the DanQ design): motifs first, then their order and spacing.

The convolution finds motifs; max pooling shortens the sequence; a bidirectional LSTM reads the
pooled motif track in both directions, so it can learn grammar such as "a -35 box, then 17 bases,
then a -10 box".
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SynbiolabError
from .compat import load_old_names


class CNNRNN(nn.Module):
    """Conv1d -> ReLU -> max pool -> dropout -> (bi)LSTM/GRU -> pooled summary -> MLP head.

    Args:
        input_shape: one example, (A, L).
        n_outputs: number of logits.
        channels: filters of the convolution.
        kernel_size: width of the filters.
        pool_size: max-pool width after the convolution.
        cell: lstm or gru.
        hidden_units: recurrent state size of each direction.
        bidirectional: read the motif track in both directions.
        pooling: how the recurrent outputs are summarised: flatten (keep every step, as DanQ), mean or max.
        head_units: hidden layer of the head (0 for none).
        dropout: dropout after pooling and in the head.
    """

    def __init__(
        self,
        input_shape=(4, 100),
        n_outputs: int = 1,
        channels: int = 64,
        kernel_size: int = 11,
        pool_size: int = 4,
        cell: str = "lstm",
        hidden_units: int = 32,
        bidirectional: bool = True,
        pooling: str = "max",
        head_units: int = 64,
        dropout: float = 0.2,
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise SynbiolabError(f"model.cell '{cell}' is unknown; valid: lstm, gru")
        if pooling not in ("flatten", "mean", "max"):
            raise SynbiolabError(f"model.pooling '{pooling}' is unknown; valid: flatten, mean, max")
        in_channels, length = int(input_shape[0]), int(input_shape[-1])
        self.conv = nn.Conv1d(in_channels, channels, kernel_size, padding="same")
        self.pool = nn.MaxPool1d(pool_size, ceil_mode=True) if pool_size > 1 else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        recurrent = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = recurrent(channels, hidden_units, batch_first=True, bidirectional=bidirectional)
        self.pooling = pooling
        n_steps = -(-length // max(pool_size, 1))
        n_features = hidden_units * (2 if bidirectional else 1) * (n_steps if pooling == "flatten" else 1)
        head = []
        if head_units:
            head += [nn.Linear(n_features, head_units), nn.ReLU(), nn.Dropout(dropout)]
            n_features = head_units
        self.head_hidden = nn.Sequential(*head)
        self.head = nn.Linear(n_features, n_outputs)
        load_old_names(self, {"out": "head"})  # runs saved when it was called `out`

    @property
    def first_conv(self) -> nn.Conv1d:
        """The convolution whose filters read the one-hot letters (motif detectors)."""
        return self.conv

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation: (B, A, L) -> (B, head_units)."""
        h = self.dropout(self.pool(torch.relu(self.conv(x))))  # (B, A, L) -> (B, C, L / pool)
        outputs, _ = self.rnn(h.transpose(1, 2))  # (B, C, T) -> (B, T, H * directions)
        if self.pooling == "flatten":
            summary = outputs.flatten(1)  # (B, T * H * directions)
        elif self.pooling == "mean":
            summary = outputs.mean(1)  # (B, H * directions)
        else:
            summary = outputs.amax(1)  # (B, H * directions)
        return self.head_hidden(self.dropout(summary))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, A, L) -> (B, n_outputs)
