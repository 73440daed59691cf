"""A small modern convolutional network: conv-BN-ReLU-pool blocks, a flattened feature map, dropout, linear head."""

from __future__ import annotations

import torch
from torch import nn

from .compat import layer_widths


class CNN(nn.Module):
    """Convolutional network for small images such as 28x28 digits.

    Each block is conv3x3 -> batch norm -> ReLU (``convs_per_block`` times) -> 2x2 max-pool, which halves
    the image (the last ReLU runs after the pool, which gives the same numbers more cheaply); the last feature
    map is flattened (32 x 7 x 7 for a 28x28 digit and the default channels) into the fully connected hidden
    layers of the head (``head_units``), then dropout and the output layer.

    Args:
        input_shape: shape of one example, (channels, height, width).
        n_outputs: number of logits.
        channels: output channels of each block; the number of blocks is its length.
        convs_per_block: convolutions in each block before pooling.
        head_units: widths of the fully connected hidden layers between the convolutions and the output
            layer, one entry per layer; [] for none (an int n is read as [n], 0 as []).
        dropout: dropout probability before the output layer.
    """

    def __init__(
        self,
        input_shape=(1, 28, 28),
        n_outputs: int = 10,
        channels: list[int] = (16, 32),
        convs_per_block: int = 1,
        head_units: list[int] = (128,),
        dropout: float = 0.25,
    ):
        super().__init__()
        in_channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for out_channels in channels:
            for _ in range(convs_per_block):
                blocks += [
                    nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                    nn.BatchNorm2d(out_channels),
                    nn.ReLU(inplace=True),
                ]
                in_channels = out_channels
            if min(height, width) >= 2:
                # Max-pooling and ReLU commute (both keep the order of values), so the block pools first and
                # applies its last ReLU to a quarter of the values: the same numbers, and on a CPU an epoch
                # about a tenth faster. The layers with weights keep their positions (saved runs still load).
                blocks.insert(len(blocks) - 1, nn.MaxPool2d(2))  # (B, C, H, W) -> (B, C, H/2, W/2)
                height, width = height // 2, width // 2
        self.conv = nn.Sequential(*blocks)
        flat = in_channels * height * width
        head_in = flat
        fc: list[nn.Module] = [nn.Flatten()]  # (B, C, h, w) -> (B, C*h*w)
        for units in layer_widths(head_units, "head_units"):  # one layer: fc.1 (the weights of old runs)
            fc += [nn.Linear(head_in, units), nn.ReLU(inplace=True)]
            head_in = units
        self.fc = nn.Sequential(*fc)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(head_in, n_outputs)
        self.n_features = head_in

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))  # (B, C, H, W) -> (B, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # (B, n_features) -> (B, n_outputs)
