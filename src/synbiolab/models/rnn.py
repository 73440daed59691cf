"""A recurrent network (LSTM or GRU) that reads a sequence one position at a time.

For one-hot sequences (B, A, L) each position is a step; for images (B, 1, H, W) each row is a step
(sequential MNIST: 28 steps of 28 pixels). Padded positions of a sequence are all-zero columns; they
are left out with packed sequences, so a short promoter is not read as "promoter + 20 empty steps".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..errors import SynbiolabError
from .compat import load_old_names


def compact_padding(steps: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the valid steps of each sequence to the front, keeping their order.

    Packing needs the valid steps first; this makes left- and centre-padded batches packable too.

    Args:
        steps: (B, L, F) inputs per step.
        mask: (B, L) bool, True at valid steps.

    Returns:
        The compacted (B, L, F) steps and the (B,) number of valid steps.
    """
    # A stable sort of "is padding" puts valid steps (False) first in their original order.
    order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices  # (B, L)
    compacted = steps.gather(1, order.unsqueeze(-1).expand_as(steps))  # (B, L, F)
    return compacted, mask.sum(dim=1)


class RNN(nn.Module):
    """LSTM or GRU layers, then a linear read-out of the last step (or of a pooled summary).

    Args:
        input_shape: one example: (A, L) for sequences, (C, H, W) for images (rows are steps).
        n_outputs: number of logits.
        cell: lstm or gru.
        hidden_size: recurrent state size of each direction (as torch.nn.LSTM calls it).
        num_layers: stacked recurrent layers.
        bidirectional: also read the sequence backwards (both directions' summaries are concatenated).
        dropout: dropout between recurrent layers and before the read-out.
        pooling: last (final state of each direction), mean or max over the valid steps.
        packed: skip padded steps with packed sequences (sequences only; images have no padding).
    """

    def __init__(
        self,
        input_shape=(4, 100),
        n_outputs: int = 1,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        pooling: str = "last",
        packed: bool = True,
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise SynbiolabError(f"model.cell '{cell}' is unknown; valid: lstm, gru")
        if pooling not in ("last", "mean", "max"):
            raise SynbiolabError(f"model.pooling '{pooling}' is unknown; valid: last, mean, max")
        input_shape = tuple(int(s) for s in input_shape)
        # Images: rows are time steps, each a vector of W pixels (channels folded into the features).
        self.is_image = len(input_shape) == 3
        n_features = input_shape[0] * input_shape[2] if self.is_image else input_shape[0]
        recurrent = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = recurrent(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.pooling = pooling
        self.packed = packed and not self.is_image
        self.dropout = nn.Dropout(dropout)
        self.n_directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * self.n_directions, n_outputs)
        load_old_names(self, {"out": "head"})  # runs saved when it was called `out`

    def _steps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs as (B, T, F) steps, and the (B, T) mask of valid steps for sequences."""
        if self.is_image:
            return x.permute(0, 2, 1, 3).flatten(2), None  # (B, C, H, W) -> (B, H, C * W)
        mask = x.abs().sum(dim=1) > 0  # (B, A, L) -> (B, L): a padded position is an all-zero column
        return x.transpose(1, 2), mask  # (B, A, L) -> (B, L, A)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The summary of each sequence: (B, ...) -> (B, hidden_size * directions)."""
        steps, mask = self._steps(x)
        use_packing = self.packed and mask is not None and not bool(mask.all())
        if use_packing:
            steps, lengths = compact_padding(steps, mask)
            lengths = lengths.clamp(min=1).cpu()  # an all-padding row still needs one step to be packable
            packed = pack_padded_sequence(steps, lengths, batch_first=True, enforce_sorted=False)
            outputs, state = self.rnn(packed)
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=steps.shape[1])
            valid = torch.arange(steps.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        else:
            outputs, state = self.rnn(steps)  # (B, T, F) -> (B, T, H * directions)
            valid = torch.ones(outputs.shape[:2], dtype=torch.bool, device=x.device)
        if self.pooling == "last":
            hidden = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
            # The top layer's final state of each direction; with packing it is taken at the true end.
            summary = hidden[-self.n_directions :].transpose(0, 1).flatten(1)  # (B, H * directions)
        elif self.pooling == "mean":
            weights = valid.unsqueeze(-1).to(outputs.dtype)  # (B, T, 1)
            summary = (outputs * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, H * directions)
        else:
            summary = outputs.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)  # (B, H * directions)
        return self.dropout(summary)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, ...) -> (B, n_outputs)
