"""One name means one thing in every model, and what older versions saved under the old names still loads.

tests/fixtures/old_runs/ holds run folders written before the renames (tests/fixtures/make_old_runs.py):
a cnn with ``hidden_units=16``, a cnn_rnn with ``channels=8, hidden_units=4, head_units=8`` and an rnn with
``hidden_units=4``. tests/fixtures/old_state_keys.json holds the state-dict keys and shapes that models built
with the old arguments had (tests/fixtures/make_old_state_keys.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synbiolab import SynbiolabError, build_model, load_run
from synbiolab.api import evaluate_run
from synbiolab.config import (
    RENAMED_MODEL_KEYS,
    Config,
    apply_overrides,
    default_config,
    load_config,
    model_parameters,
)
from synbiolab.models import CNN, CNNRNN, MODELS

FIXTURES = Path(__file__).parent / "fixtures"
OLD_CASES = json.loads((FIXTURES / "old_state_keys.json").read_text())


@pytest.fixture
def old_runs(tmp_path, monkeypatch) -> Path:
    """A copy of the old runs (diagnose writes into a run), the working folder there: the runs name seqs.csv."""
    folder = tmp_path / "old_runs"
    shutil.copytree(FIXTURES / "old_runs", folder)
    monkeypatch.chdir(folder)
    return folder


def saved_probabilities(run) -> tuple[np.ndarray, int]:
    """The class probabilities predictions.csv holds, (n, classes), and n."""
    table = pd.read_csv(run.path / "predictions.csv")
    columns = [c for c in table.columns if c.startswith("p_")]
    return table[columns].to_numpy(), len(table)


# --- old run folders


@pytest.mark.parametrize("name, params", [
    ("cnn", {"head_units": [16], "channels": [4, 8]}),
    ("cnn_rnn", {"channels": [8], "hidden_size": 4, "head_units": [8]}),
    ("rnn", {"hidden_size": 4}),
])
def test_an_old_run_loads_under_the_new_names_and_predicts_what_it_saved(old_runs, name, params, request):
    if name == "cnn":
        request.getfixturevalue("mnist_dir")
    run = load_run(old_runs / name)
    assert run.config.model.params == params  # config.json, read through Config.from_dict
    spec_params = run.model_spec["params"]  # model.json, every argument of then
    assert not {"hidden_units"} & set(spec_params) and {k: spec_params[k] for k in params} == params
    model = run.load_model()  # load_state_dict with strict=True: every old weight has its place
    dataset = run.load_dataset()
    saved, n = saved_probabilities(run)
    with torch.no_grad():
        logits = model(dataset.test.x[:n])
    probabilities = (torch.softmax(logits, 1) if logits.shape[1] > 1 else
                     torch.cat([1 - torch.sigmoid(logits), torch.sigmoid(logits)], 1)).numpy()
    assert probabilities.shape == saved.shape
    np.testing.assert_allclose(probabilities, saved, atol=2e-6)  # predictions.csv keeps 6 digits
    assert evaluate_run(old_runs / name)["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"], abs=1e-6)


def test_the_old_cnn_rnn_convolution_loads_into_the_first_layer(old_runs):
    from safetensors.torch import load_file

    state = load_file(str(old_runs / "cnn_rnn" / "model.safetensors"))
    assert "conv.weight" in state and "conv.0.weight" not in state  # saved when the one convolution was `conv`
    model = load_run(old_runs / "cnn_rnn").load_model()
    torch.testing.assert_close(model.first_conv.weight, state["conv.weight"])
    assert model.first_conv is model.conv[0]
    # weights saved now (conv.0.*) load into a fresh model as they are
    fresh = CNNRNN((4, 30), 1, channels=[8], hidden_size=4, head_units=[8])
    fresh.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(fresh.first_conv.weight, state["conv.weight"])


def test_diagnose_and_fix_read_an_old_cnn_run_under_the_new_names(old_runs, cli, mnist_dir):
    code, out, err = cli("diagnose", old_runs / "cnn")
    assert code == 0, err
    assert "head_units [16] -> [64]" in out and "--set model.head_units=[64]" in out
    assert "hidden_units" not in out and "note:" not in err  # a run folder is read silently
    diagnosis = json.loads((old_runs / "cnn" / "diagnosis.json").read_text())
    capacity = next(f for f in diagnosis["fixes"] if f["title"].startswith("more capacity"))
    assert capacity["overrides"] == ["model.channels=[16,32]", "model.head_units=[64]"]
    # the fix's overrides apply to the old run's config
    config = apply_overrides(load_run(old_runs / "cnn").config, capacity["overrides"])
    assert config.model.params == {"head_units": [64], "channels": [16, 32]}


def test_predict_reads_pictures_with_an_old_cnn_run(old_runs, cli, tmp_path):
    from PIL import Image

    picture = tmp_path / "seven.png"
    image = Image.new("L", (40, 40), 255)
    image.paste(0, (8, 6, 32, 10))
    image.paste(0, (26, 6, 30, 34))
    image.save(picture)
    code, out, err = cli("predict", old_runs / "cnn", picture, "--top", "2")
    assert code == 0, err
    assert out.startswith(f"{picture}: ") and len(out.split()) == 5 and err == ""


@pytest.mark.parametrize("case", OLD_CASES, ids=[f"{c['model']}-{i}" for i, c in enumerate(OLD_CASES)])
def test_weights_saved_under_the_old_arguments_load_strictly(case, capsys):
    # the arguments of then, read as a config would (silently), build a model whose state dict has the same keys
    config = Config.from_dict({"model": {"name": case["model"], "params": case["params"]}})
    assert not set(config.model.params) & {old for _, old in RENAMED_MODEL_KEYS} or case["model"] == "mlp"
    sizes = {"n_classes": case["n_outputs"]} if "gan" in MODELS[case["model"]].kinds else {
        "n_outputs": case["n_outputs"]}
    if case["model"] == "wgan_seq":
        sizes = {}
    model = build_model(case["model"], input_shape=case["input_shape"], **sizes, **config.model.params)
    old_state = {key: torch.randn(shape) for key, shape in case["state"].items()}
    model.load_state_dict(old_state, strict=True)
    # every old weight is where it was, but the cnn_rnn's one convolution `conv`, which is the first layer now
    moved = {"conv.weight": "conv.0.weight", "conv.bias": "conv.0.bias"} if case["model"] == "cnn_rnn" else {}
    state = model.state_dict()
    assert set(state) == {moved.get(key, key) for key in old_state}
    for key, value in old_state.items():
        loaded = state[moved.get(key, key)]
        assert loaded.shape == value.shape
        if loaded.is_floating_point():  # (batch norm's step count is an integer)
            torch.testing.assert_close(loaded, value)
    assert capsys.readouterr().err == ""


# --- old names in --set, --param and config files


def test_an_old_rnn_key_from_set_is_read_as_hidden_size_with_a_note(capsys):
    config = apply_overrides(default_config("mnist", "rnn"), ["model.hidden_units=32"])
    assert config.model.params == {"hidden_size": 32}
    err = capsys.readouterr().err
    assert err == "note: model.hidden_units of rnn is now model.hidden_size; read as that\n"
    assert apply_overrides(default_config("mnist", "cnn_rnn"), ["model.hidden_units=8"]).model.params == {
        "hidden_size": 8}
    assert "of cnn_rnn is now model.hidden_size" in capsys.readouterr().err


def test_the_cli_prints_the_note_of_an_old_key(cli, tmp_path):
    # the note comes as the config is built, before anything trains (here a bad lr stops it there)
    code, _, err = cli("train", "--data", "digits", "--model", "rnn", "--set", "model.hidden_units=32", "--set",
                       "train.lr=-1", "--out", tmp_path / "run")
    assert code == 2
    assert err.splitlines()[0] == "note: model.hidden_units of rnn is now model.hidden_size; read as that"
    assert "train.lr=-1" in err.splitlines()[1]


@pytest.mark.parametrize("model, setting, params", [
    ("cnn", "model.head_units=0", {"head_units": []}),
    ("cnn", "model.head_units=[0]", {"head_units": []}),
    ("cnn", "model.head_units=[]", {"head_units": []}),
    ("cnn", "model.head_units=64", {"head_units": [64]}),
    ("cnn", "model.head_units=[64,32]", {"head_units": [64, 32]}),
    ("cnn", "model.hidden_units=0", {"head_units": []}),
    ("cnn", "model.hidden_units=128", {"head_units": [128]}),
    ("cnn1d", "model.hidden_units=8", {"head_units": [8]}),
    ("cnn_rnn", "model.head_units=0", {"head_units": []}),
    ("cnn_rnn", "model.channels=16", {"channels": [16]}),
    ("cnn_rnn", "model.channels=[16,32]", {"channels": [16, 32]}),
    ("mlp", "model.hidden_units=[]", {"hidden_units": []}),
])
def test_layer_lists_take_an_int_as_one_layer_and_0_as_none(model, setting, params):
    assert apply_overrides(default_config("mnist", model), [setting]).model.params == params


@pytest.mark.parametrize("model, setting, message", [
    ("cnn", "model.head_units=-1", "--set: model.head_units=[-1]: the entry -1 is out of range; valid: each entry "
                                   "1 to 16,384 ([] or 0 for none)"),
    ("cnn", "model.head_units=abc", "--set: model.head_units: expected a list of integers such as [64, 32], got "
                                    "['abc']; valid: each entry 1 to 16,384 ([] or 0 for none)"),
    ("cnn_rnn", "model.channels=0", "--set: model.channels=[0]: the entry 0 is out of range; valid: each entry 1 "
                                    "to 4,096"),
    ("cnn_rnn", "model.channels=[]", "--set: model.channels=[] needs at least 1 entry, each 1 to 4,096"),
    ("rnn", "model.hidden_size=0", "--set: model.hidden_size=0 is out of range; valid: 1 to 16,384"),
    ("rnn", "model.hidden_size=[32]", "--set: model.hidden_size: expected an integer, got [32]; valid: 1 to 16,384"),
    ("rnn", "model.head_units=[8]", "--set: unknown key 'model.head_units' for model 'rnn'; valid: model.cell, "
                                    "model.hidden_size,"),
])
def test_bad_values_of_the_new_keys_are_one_line_naming_the_key(model, setting, message):
    with pytest.raises(SynbiolabError) as info:
        apply_overrides(default_config("mnist", model), [setting])
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_a_config_file_with_the_old_names_loads_silently(tmp_path, capsys):
    path = tmp_path / "old.yaml"
    path.write_text("data: {name: uci_promoters}\n"
                    "model:\n  name: cnn_rnn\n  params: {channels: 8, hidden_units: 4, head_units: 0}\n")
    config = load_config(path)
    assert config.model.params == {"channels": [8], "hidden_size": 4, "head_units": []}
    cnn = tmp_path / "cnn.json"
    cnn.write_text(json.dumps({"model": {"name": "cnn", "params": {"hidden_units": 0, "channels": [8]}}}))
    assert load_config(cnn).model.params == {"head_units": [], "channels": [8]}
    assert capsys.readouterr().err == ""


def test_a_sweep_over_an_old_key_sweeps_the_new_one_and_says_so_once(capsys):
    from synbiolab.experiments.sweep import plan_sweep

    points = plan_sweep(default_config("mnist", "rnn"), ["model.hidden_units=4,8"])
    assert [p.overrides[0] for p in points] == ["model.hidden_size=4", "model.hidden_size=8"]
    assert capsys.readouterr().err.count("note: model.hidden_units of rnn is now model.hidden_size") == 1


def test_the_web_page_shows_an_old_run_under_the_new_names(old_runs):
    from synbiolab.web.index import flatten

    flat = flatten(json.loads((old_runs / "cnn" / "config.json").read_text()))
    assert flat["model.head_units"] == [16] and "model.hidden_units" not in flat
    assert flatten({"model": {"name": "cnn_rnn", "params": {"channels": 8, "hidden_units": 4, "head_units": 0}}}) == {
        "model.name": "cnn_rnn", "model.channels": [8], "model.hidden_size": 4, "model.head_units": []}


# --- the models under the new names


def test_head_units_gives_one_fully_connected_layer_per_entry():
    x = torch.randn(2, 1, 8, 8)
    deep = CNN((1, 8, 8), 3, channels=[4], head_units=[16, 8])
    assert [m.out_features for m in deep.fc if isinstance(m, torch.nn.Linear)] == [16, 8]
    assert deep(x).shape == (2, 3) and deep.n_features == 8
    assert CNN((1, 8, 8), 3, channels=[4], head_units=[]).head.in_features == 4 * 4 * 4
    for name in ("cnn1d", "cnn_rnn"):
        model = build_model(name, input_shape=(4, 40), n_outputs=2, head_units=[16, 8])
        assert [m.out_features for m in model.head_hidden if isinstance(m, torch.nn.Linear)] == [16, 8]
        assert model(torch.randn(3, 4, 40)).shape == (3, 2)


def test_cnn_rnn_stacks_one_convolution_per_channels_entry():
    model = CNNRNN((4, 40), 1, channels=[8, 16], kernel_size=5, pool_size=2, hidden_size=6)
    convs = [m for m in model.conv if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [8, 16] and model.first_conv is convs[0]
    assert model.rnn.input_size == 16 and model.rnn.hidden_size == 6
    assert model(torch.randn(2, 4, 40)).shape == (2, 1)


def test_every_model_uses_each_name_for_one_thing():
    lists = {"hidden_units": ("mlp",), "head_units": ("cnn", "cnn1d", "cnn_rnn"),
             "channels": ("cnn", "cnn1d", "cnn_rnn")}
    for key, models in lists.items():
        for name in models:
            default = model_parameters(name)[key]
            assert isinstance(default, list | tuple), (name, key)
    for name in ("rnn", "cnn_rnn"):
        assert isinstance(model_parameters(name)["hidden_size"], int)
        assert "hidden_units" not in model_parameters(name)
    for name in ("cnn", "cnn1d"):
        assert "hidden_units" not in model_parameters(name)
    assert {name: MODELS[name].capacity_keys for name in ("mlp", "cnn", "cnn1d", "rnn", "cnn_rnn")} == {
        "mlp": ("hidden_units",), "cnn": ("channels", "head_units"), "cnn1d": ("channels", "head_units"),
        "rnn": ("hidden_size",), "cnn_rnn": ("channels", "hidden_size")}
    for (model, old), new in RENAMED_MODEL_KEYS.items():
        assert old not in model_parameters(model) and new in model_parameters(model)


# --- GANs: n_classes


def test_the_dcgan_takes_n_classes_and_n_outputs_as_its_older_spelling():
    settings = {"input_shape": (1, 8, 8), "conditional": True, "base_channels": 4, "latent_size": 8}
    new = build_model("dcgan", n_classes=10, **settings)
    old = build_model("dcgan", n_outputs=10, **settings)
    assert new.n_classes == old.n_classes == 10
    assert {k: v.shape for k, v in new.state_dict().items()} == {k: v.shape for k, v in old.state_dict().items()}
    assert new.generator(torch.randn(3, 8), torch.tensor([0, 4, 9])).shape == (3, 1, 8, 8)
    assert build_model("dcgan", n_classes=10, **{**settings, "conditional": False}).n_classes == 0
    assert "n_classes" not in model_parameters("dcgan") and "n_outputs" not in model_parameters("dcgan")
    with pytest.raises(SynbiolabError, match="n_classes=10 and n_outputs=3 .* disagree"):
        build_model("dcgan", n_classes=10, n_outputs=3, **settings)
    with pytest.raises(SynbiolabError, match="model.conditional=true needs classes"):
        build_model("dcgan", n_classes=0, **settings)


def test_the_sequence_wgan_is_unconditional():
    settings = {"input_shape": (4, 20), "channels": 8, "n_blocks": 1}
    assert build_model("wgan_seq", **settings).n_classes == 0
    assert build_model("wgan_seq", n_classes=0, **settings).n_classes == 0
    assert build_model("wgan_seq", n_outputs=1, **settings).n_classes == 0  # the older spelling, unused then too
    with pytest.raises(SynbiolabError) as info:
        build_model("wgan_seq", n_classes=3, **settings)
    assert str(info.value) == "model 'wgan_seq' is unconditional: n_classes must be 0, got 3"
    with pytest.raises(SynbiolabError, match="'mlp' is not a GAN"):
        build_model("mlp", input_shape=(1, 8, 8), n_classes=10)


@pytest.mark.parametrize("name, params, n_outputs, n_classes", [
    ("dcgan", {"conditional": True, "base_channels": 4, "latent_size": 8}, 10, 10),
    ("dcgan", {"conditional": False, "base_channels": 4, "latent_size": 8}, 10, 0),
    ("wgan_seq", {"channels": 8, "n_blocks": 1}, 1, 0),
])
def test_a_gan_run_saved_before_n_classes_loads(tmp_path, name, params, n_outputs, n_classes):
    from synbiolab.runs import load_model_from, save_model

    shape = [1, 8, 8] if name == "dcgan" else [4, 20]
    model = build_model(name, input_shape=shape, n_outputs=n_outputs, **params)
    # model.json as GAN runs wrote it then: n_outputs (the DCGAN's classes; 1 for the WGAN), no n_classes
    save_model(tmp_path, model, name, params, {"input_shape": shape, "n_outputs": n_outputs, "kind": "gan"})
    assert "n_classes" not in json.loads((tmp_path / "model.json").read_text())
    loaded = load_model_from(tmp_path)
    assert loaded.n_classes == n_classes
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
