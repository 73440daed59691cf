"""A 1D convolutional network over one-hot sequences (the DeepBind / Basset family).

The first layer's filters scan the sequence like position weight matrices; later layers combine the
motifs they find. Global max pooling asks "is the motif anywhere?" (DeepBind), flattening keeps where
it sits (needed when position matters, e.g. a splice site in the middle of a window).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SynbiolabError
from .compat import layer_widths, load_old_names


def _per_layer(value, n_layers: int, name: str, default: tuple) -> list:
    """A per-layer setting: a short list repeats its last entry; the default is cut to the layers."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if tuple(values) == tuple(default):
        values = values[:n_layers]
    if not values or len(values) > n_layers:
        raise SynbiolabError(f"model.{name} has {len(values)} entries; give 1 to {n_layers} (one per layer)")
    return values + values[-1:] * (n_layers - len(values))


POOLS = ("max", "mean", "max+mean", "flatten")


class CNN1d(nn.Module):
    """Convolution blocks (conv -> batch norm -> ReLU -> max pool -> dropout), a pooling head, an MLP.

    Args:
        input_shape: one example, (channels, length), e.g. (4, 60) for one-hot DNA.
        n_outputs: number of logits (classes; 1 for binary; targets for regression).
        channels: filters of each convolution layer.
        kernel_sizes: width of each layer's filters (one per layer; a short list repeats its last entry).
        dilations: dilation of each layer (spreads a filter over a wider window at the same cost).
        pool_sizes: max-pool width after each layer (1 keeps the length).
        global_pool: max, mean, max+mean (both side by side: whether a motif is there and how often), or
            flatten (keep every position: the head sees where motifs are).
        head_units: widths of the fully connected hidden layers of the head, one entry per layer; [] for none
            (an int n is read as [n], 0 as []).
        dropout: dropout after each block and after each hidden layer of the head.
        batch_norm: batch normalisation after each convolution.
    """

    def __init__(
        self,
        input_shape=(4, 100),
        n_outputs: int = 1,
        channels: list[int] = (64, 64),
        kernel_sizes: list[int] = (11, 5),
        dilations: list[int] = (1, 1),
        pool_sizes: list[int] = (2, 2),
        global_pool: str = "flatten",
        head_units: list[int] = (64,),
        dropout: float = 0.2,
        batch_norm: bool = True,
    ):
        super().__init__()
        if global_pool not in POOLS:
            raise SynbiolabError(f"model.global_pool '{global_pool}' is unknown; valid: {', '.join(POOLS)}")
        in_channels, length = int(input_shape[0]), int(input_shape[-1])
        channels = list(channels)
        kernel_sizes = _per_layer(kernel_sizes, len(channels), "kernel_sizes", (11, 5))
        dilations = _per_layer(dilations, len(channels), "dilations", (1, 1))
        pool_sizes = _per_layer(pool_sizes, len(channels), "pool_sizes", (2, 2))
        blocks = []
        layers = zip(channels, kernel_sizes, dilations, pool_sizes, strict=True)
        for index, (out_channels, width, dilation, pool) in enumerate(layers):
            last = index == len(channels) - 1
            blocks += [
                # "same" padding keeps positions aligned with the input, so ISM and filter maps line up.
                nn.Conv1d(in_channels, out_channels, width, dilation=dilation, padding="same"),
                nn.BatchNorm1d(out_channels) if batch_norm else nn.Identity(),
                nn.ReLU(),
                nn.MaxPool1d(pool, ceil_mode=True) if pool > 1 else nn.Identity(),
                # The last block's dropout comes after the global pooling: dropout's 1/(1-p) scaling before a
                # max would make training maxima larger than evaluation maxima (a shift of every output).
                nn.Identity() if last else nn.Dropout(dropout),
            ]
            in_channels = out_channels
            length = -(-length // pool)
        self.conv = nn.Sequential(*blocks)
        self.global_pool = global_pool
        self.pooled_dropout = nn.Dropout(dropout)
        n_features = {"flatten": in_channels * length, "max+mean": 2 * in_channels}.get(global_pool, in_channels)
        head = []
        for units in layer_widths(head_units, "head_units"):  # one layer: head_hidden.0 (as old runs saved it)
            head += [nn.Linear(n_features, units), nn.ReLU(), nn.Dropout(dropout)]
            n_features = units
        self.head_hidden = nn.Sequential(*head)
        self.head = nn.Linear(n_features, n_outputs)
        load_old_names(self, {"out": "head"})  # runs saved when it was called `out`

    @property
    def first_conv(self) -> nn.Conv1d:
        """The first convolution layer: its filters read the one-hot letters directly (motif detectors)."""
        return self.conv[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation: (B, A, L) -> (B, head_units[-1]) (the pooled features without one)."""
        h = self.conv(x)  # (B, A, L) -> (B, C, L')
        if self.global_pool == "max":
            h = h.amax(dim=-1)  # (B, C, L') -> (B, C)
        elif self.global_pool == "mean":
            h = h.mean(dim=-1)  # (B, C, L') -> (B, C)
        elif self.global_pool == "max+mean":
            h = torch.cat([h.amax(dim=-1), h.mean(dim=-1)], dim=1)  # (B, C, L') -> (B, 2C)
        else:
            h = h.flatten(1)  # (B, C, L') -> (B, C * L')
        return self.head_hidden(self.pooled_dropout(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, A, L) -> (B, n_outputs)
