"""Convolution then a recurrent layer (the DanQ design): motifs first, then their order and spacing.

The convolutions find motifs; max pooling shortens the sequence; a bidirectional LSTM reads the
pooled motif track in both directions, so it can learn grammar such as "a -35 box, then 17 bases,
then a -10 box".
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SynbiolabError
from .compat import layer_widths, load_old_names


class CNNRNN(nn.Module):
    """(Conv1d -> ReLU) per layer -> max pool -> dropout -> (bi)LSTM/GRU -> pooled summary -> MLP head.

    Args:
        input_shape: one example, (A, L).
        n_outputs: number of logits.
        channels: filters of each convolution layer, one entry per layer (an int n is read as [n]).
        kernel_size: width of the filters of every convolution layer.
        pool_size: max-pool width after the last convolution layer.
        cell: lstm or gru.
        hidden_size: recurrent state size of each direction (as torch.nn.LSTM calls it).
        bidirectional: read the motif track in both directions.
        pooling: how the recurrent outputs are summarised: flatten (keep every step, as DanQ), mean or max.
        head_units: widths of the fully connected hidden layers of the head, one entry per layer; [] for none
            (an int n is read as [n], 0 as []).
        dropout: dropout after pooling and after each hidden layer of the head.
    """

    def __init__(
        self,
        input_shape=(4, 100),
        n_outputs: int = 1,
        channels: list[int] = (64,),
        kernel_size: int = 11,
        pool_size: int = 4,
        cell: str = "lstm",
        hidden_size: int = 32,
        bidirectional: bool = True,
        pooling: str = "max",
        head_units: list[int] = (64,),
        dropout: float = 0.2,
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise SynbiolabError(f"model.cell '{cell}' is unknown; valid: lstm, gru")
        if pooling not in ("flatten", "mean", "max"):
            raise SynbiolabError(f"model.pooling '{pooling}' is unknown; valid: flatten, mean, max")
        channels = layer_widths(channels, "channels")
        if not channels:
            raise SynbiolabError("model.channels is empty; give the filters of at least one convolution layer, "
                                 "e.g. [64]")
        in_channels, length = int(input_shape[0]), int(input_shape[-1])
        convs: list[nn.Module] = []
        for out_channels in channels:
            convs += [nn.Conv1d(in_channels, out_channels, kernel_size, padding="same"), nn.ReLU()]
            in_channels = out_channels
        self.conv = nn.Sequential(*convs)
        self.pool = nn.MaxPool1d(pool_size, ceil_mode=True) if pool_size > 1 else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        recurrent = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = recurrent(in_channels, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.pooling = pooling
        n_steps = -(-length // max(pool_size, 1))
        n_features = hidden_size * (2 if bidirectional else 1) * (n_steps if pooling == "flatten" else 1)
        head = []
        for units in layer_widths(head_units, "head_units"):  # one layer: head_hidden.0 (as old runs saved it)
            head += [nn.Linear(n_features, units), nn.ReLU(), nn.Dropout(dropout)]
            n_features = units
        self.head_hidden = nn.Sequential(*head)
        self.head = nn.Linear(n_features, n_outputs)
        # runs saved when the output layer was called `out`, and when the one convolution was `conv` itself
        load_old_names(self, {"out": "head", "conv": "conv.0"})

    @property
    def first_conv(self) -> nn.Conv1d:
        """The first convolution layer: its filters read the one-hot letters directly (motif detectors)."""
        return self.conv[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation: (B, A, L) -> (B, head_units[-1]) (the summary without one)."""
        h = self.dropout(self.pool(self.conv(x)))  # (B, A, L) -> (B, C, L / pool)
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
