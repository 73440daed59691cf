"""Multilayer perceptron: flatten the input, then Linear -> activation -> dropout blocks, then a linear head."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}


def activation_layer(name: str) -> nn.Module:
    from ..errors import SynbiolabError

    if name not in ACTIVATIONS:
        raise SynbiolabError(f"activation '{name}' is unknown; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """A multilayer perceptron over the flattened input (784 values for a 28x28 digit).

    Args:
        input_shape: shape of one example, e.g. (1, 28, 28).
        n_outputs: number of logits (classes, 1 for a binary task, targets for regression).
        hidden_units: width of each hidden layer; an empty list gives logistic/linear regression.
        activation: relu, gelu, tanh, sigmoid or silu.
        dropout: dropout probability after each hidden layer.
        input_dropout: dropout probability on the inputs.
    """

    def __init__(
        self,
        input_shape=(1, 28, 28),
        n_outputs: int = 10,
        hidden_units: list[int] = (1024, 1024),
        activation: str = "relu",
        dropout: float = 0.2,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        n_inputs = math.prod(input_shape)
        layers: list[nn.Module] = [nn.Flatten()]  # (B, *input_shape) -> (B, n_inputs): 784 for a 28x28 digit
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        width = n_inputs
        for units in hidden_units:
            layers += [nn.Linear(width, units), activation_layer(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)
        self.n_features = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, *input_shape) -> (B, hidden_units[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, n_features) -> (B, n_outputs)
