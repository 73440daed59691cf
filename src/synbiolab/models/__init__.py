"""Models: one ``nn.Module`` per file, and the registry that builds them by name (GANs included)."""

from .cnn import CNN
from .cnn1d import CNN1d
from .cnn_rnn import CNNRNN
from .ensemble import Ensemble
from .mlp import MLP
from .registry import (
    MODELS,
    ModelEntry,
    build_model,
    count_parameters,
    get_model_class,
    is_gan,
    model_parameters,
    register_model,
)
from .rnn import RNN

__all__ = ["CNN", "CNN1d", "CNNRNN", "MLP", "MODELS", "RNN", "Ensemble", "ModelEntry", "build_model",
           "count_parameters", "get_model_class", "is_gan", "model_parameters", "register_model"]
