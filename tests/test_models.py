"""Model shapes, the loss that follows the task, the model registry and config overrides."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synbiolab import Config, SynbiolabError, apply_overrides, build_model, count_parameters, default_config
from synbiolab.evaluate import loss_for_task, task_metrics
from synbiolab.models import Ensemble


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8)])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_model_shapes(name, shape):
    model = build_model(name, input_shape=shape, n_outputs=10)
    x = torch.randn(5, *shape)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, model.n_features)


def test_mlp_is_784_wide_and_configurable():
    model = build_model("mlp", input_shape=(1, 28, 28), n_outputs=10, hidden_units=[32, 16])
    assert count_parameters(model) == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    logistic = build_model("mlp", input_shape=(1, 28, 28), n_outputs=10, hidden_units=[])
    assert count_parameters(logistic) == 7850


def test_loss_follows_task():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    y = torch.tensor([0, 2])
    assert torch.isclose(loss_for_task("multiclass")(logits, y), F.cross_entropy(logits, y))
    # softmax cross-entropy by hand: -log(e^2 / (e^2 + e^0.5 + e^-1)), ...
    by_hand = -(logits.softmax(1)[[0, 1], [0, 2]].log()).mean()
    assert torch.isclose(loss_for_task("multiclass")(logits, y), by_hand)
    z = torch.tensor([[1.5], [-0.5]])
    yb = torch.tensor([1, 0])
    expected = -(torch.log(torch.sigmoid(torch.tensor(1.5))) + torch.log(1 - torch.sigmoid(torch.tensor(-0.5)))) / 2
    assert torch.isclose(loss_for_task("binary")(z, yb), expected)
    assert torch.isclose(loss_for_task("regression")(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])),
                         torch.tensor(2.5))


def test_regression_metrics_against_closed_form():
    y = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    m = task_metrics("regression", y * 2, y)
    assert m["pearson_r"] == pytest.approx(1.0)
    assert m["mse"] == pytest.approx(7.5)
    assert m["r2"] == pytest.approx(1 - 7.5 / 1.25)


def test_unknown_model_lists_valid():
    with pytest.raises(SynbiolabError, match=r"unknown model 'resnet'; valid: mlp, cnn"):
        build_model("resnet", input_shape=(1, 8, 8), n_outputs=10)


def test_overrides_check_keys_and_types():
    cfg = default_config("mnist", "mlp")
    apply_overrides(cfg, ["train.lr=0.01", "model.hidden_units=[64,32]", "train.epochs=3", "data.classes=3,7"])
    assert cfg.train.lr == 0.01 and cfg.model.params["hidden_units"] == [64, 32] and cfg.train.epochs == 3
    assert cfg.data.classes == [3, 7]
    apply_overrides(cfg, ["train.schedule=none", "train.augment=None", "data.train_size=none"])
    assert (cfg.train.schedule, cfg.train.augment, cfg.data.train_size) == ("none", "none", None)
    with pytest.raises(SynbiolabError, match=r"unknown key 'train.lrate'; valid keys: .*train.lr"):
        apply_overrides(cfg, ["train.lrate=0.1"])
    with pytest.raises(SynbiolabError, match=r"train.epochs: expected an integer, got 'ten'"):
        apply_overrides(cfg, ["train.epochs=ten"])
    with pytest.raises(SynbiolabError, match=r"unknown key 'model.channels' for model 'mlp'; valid: model.hidden"):
        apply_overrides(cfg, ["model.channels=[8]"])
    with pytest.raises(SynbiolabError, match=r"expected key=value"):
        apply_overrides(cfg, ["train.lr"])


def test_config_round_trip():
    cfg = default_config("digits", "cnn")
    apply_overrides(cfg, ["model.channels=[8,16]"])
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg


@pytest.mark.parametrize("convs_per_block", [1, 2])
def test_the_cnn_pooling_before_its_last_relu_gives_the_numbers_of_conv_bn_relu_pool(convs_per_block):
    torch.manual_seed(0)
    model = build_model("cnn", input_shape=(1, 28, 28), n_outputs=10, convs_per_block=convs_per_block)
    layers = list(model.conv)
    textbook = []  # the usual order: ... batch norm -> ReLU -> max-pool
    for layer in layers:
        if isinstance(layer, torch.nn.ReLU) and textbook and isinstance(textbook[-1], torch.nn.MaxPool2d):
            textbook.insert(len(textbook) - 1, layer)
        else:
            textbook.append(layer)
    assert [type(m).__name__ for m in textbook[: 3 * convs_per_block + 1]] == (
        ["Conv2d", "BatchNorm2d", "ReLU"] * convs_per_block + ["MaxPool2d"])
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    ours = model.conv(x)
    (grad_ours,) = torch.autograd.grad(ours.square().sum(), x)
    theirs = torch.nn.Sequential(*textbook)(x)
    (grad_theirs,) = torch.autograd.grad(theirs.square().sum(), x)
    assert ours.shape == (8, 32, 7, 7)
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.allclose(grad_ours, grad_theirs, atol=1e-5)


def test_ensemble_members_learn_as_if_alone():
    """The training loss is the mean of the members' own losses: each member's gradient is its own, over K."""
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=(1, 8, 8), n_outputs=10, hidden_units=[16], dropout=0.0, members=2)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    loss_fn = loss_for_task("multiclass")
    model.train()
    assert model(x).shape == (2, 32, 10)  # training mode: every member's output
    Ensemble.training_loss(loss_fn)(model(x), y).backward()
    member = model.members[1]
    together = [p.grad.clone() for p in member.parameters()]
    member.zero_grad()
    loss_fn(member(x), y).backward()
    for joint, own in zip(together, (p.grad for p in member.parameters()), strict=True):
        assert torch.allclose(joint, own / 2, atol=1e-7)
    model.eval()
    assert model(x).shape == (32, 10)
    assert count_parameters(model) == 2 * count_parameters(member)
    with pytest.raises(SynbiolabError, match="model.members must be a whole number >= 1"):
        build_model("mlp", input_shape=(1, 8, 8), n_outputs=10, members=0)


def test_calibration_fits_a_line_on_validation_and_folds_it_into_the_head():
    from synbiolab.data.registry import Split
    from synbiolab.train.support import calibrate_outputs

    torch.manual_seed(0)
    x = torch.randn(200, 1, 4, 4)
    for members in (1, 2):
        model = build_model("mlp", input_shape=(1, 4, 4), n_outputs=1, hidden_units=[8], members=members).eval()
        with torch.no_grad():
            raw = model(x)
        found = calibrate_outputs(model, Split(x, (3 * raw + 1).reshape(-1)))  # outputs a third of the truth, minus 1
        assert found["scale"] == pytest.approx([3.0], rel=1e-4) and found["shift"] == pytest.approx([1.0], abs=1e-4)
        with torch.no_grad():
            assert torch.allclose(model(x), 3 * raw + 1, atol=1e-4)  # folded into the saved weights
    # a slope that is not positive would reverse the ranking: that target is left as it is
    model = build_model("mlp", input_shape=(1, 4, 4), n_outputs=1, hidden_units=[8]).eval()
    with torch.no_grad():
        raw = model(x)
    found = calibrate_outputs(model, Split(x, (-raw).reshape(-1)))
    assert found["kept"] == [0]
    with torch.no_grad():
        assert torch.equal(model(x), raw)
