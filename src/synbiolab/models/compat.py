"""Weights saved under an older layer name still load.

The sequence models (cnn1d, rnn, cnn_rnn) called their output layer ``out`` where the others say ``head``;
runs and checkpoints written then hold ``out.weight`` and ``out.bias``, which load into ``head`` now.
"""

from __future__ import annotations

from torch import nn


def load_old_names(module: nn.Module, renames: dict[str, str]) -> None:
    """Rename a state dict's keys ``{prefix}{old}.*`` to ``{prefix}{new}.*`` whenever `module` loads one."""

    def hook(_module, state_dict, prefix, *_):
        for old, new in renames.items():
            for key in [k for k in state_dict if k.startswith(f"{prefix}{old}.")]:
                state_dict[f"{prefix}{new}{key[len(prefix) + len(old):]}"] = state_dict.pop(key)

    module.register_load_state_dict_pre_hook(hook)
