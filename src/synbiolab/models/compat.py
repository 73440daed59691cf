"""Weights saved under an older layer name still load.

The sequence models (cnn1d, rnn, cnn_rnn) called their output layer ``out`` where the others say ``head``;
runs and checkpoints written then hold ``out.weight`` and ``out.bias``, which load into ``head`` now. The
cnn_rnn had one convolution, ``conv``, before ``channels`` became a list of layers; its ``conv.weight`` and
``conv.bias`` load into the first layer, ``conv.0``.
"""

from __future__ import annotations

from torch import nn

from ..errors import SynbiolabError


def load_old_names(module: nn.Module, renames: dict[str, str]) -> None:
    """Rename a state dict's keys ``{prefix}{old}.*`` to ``{prefix}{new}.*`` whenever `module` loads one.

    A key that `module` has itself is left as it is, so an old name may be the start of a new one (``conv``
    becoming ``conv.0``: a new ``conv.0.weight`` is not renamed again).
    """

    def hook(module_, state_dict, prefix, *_):
        own = set(module_.state_dict(keep_vars=True))
        for old, new in renames.items():
            for key in [k for k in state_dict if k.startswith(f"{prefix}{old}.")]:
                if key[len(prefix):] in own:
                    continue
                state_dict[f"{prefix}{new}{key[len(prefix) + len(old):]}"] = state_dict.pop(key)

    module.register_load_state_dict_pre_hook(hook)


def layer_widths(value, name: str) -> list[int]:
    """A list-of-layers argument (``head_units``, ``channels``) as a list: an int n, its older spelling, is one
    layer ``[n]`` and 0 is none ``[]``."""
    if isinstance(value, bool) or not isinstance(value, int | list | tuple):
        raise SynbiolabError(f"model.{name}={value!r}: expected a list of layer widths such as [64]")
    widths = ([value] if value else []) if isinstance(value, int) else list(value)
    if widths == [0]:
        return []
    if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise SynbiolabError(f"model.{name}={widths!r}: each entry is a layer width >= 1")
    return widths
