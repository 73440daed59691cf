"""Sweeps: parsing of swept values, planning, a real 3-point sweep on the 8x8 digits, its folder, and bad input."""

import json

import pandas as pd
import pytest

from synbiolab import SynbiolabError, apply_overrides, default_config, sweep
from synbiolab.experiments.sweep import parse_param, parse_sizes, plan_sweep, split_values


def digits_config(*extra):
    settings = ["train.epochs=6", "train.progress=false", *extra]
    return apply_overrides(default_config("digits", "mlp"), settings)


def test_values_split_at_commas_outside_brackets():
    assert split_values("[8],[32,32],[]") == ["[8]", "[32,32]", "[]"]
    assert parse_param("train.weight_decay=0,1e-4,1e-3") == ("train.weight_decay", ["0", "1e-4", "1e-3"])
    assert parse_sizes("250,500") == [250, 500]
    for bad in ("model.hidden_units=[8", "model.hidden_units=8]", "train.lr", "lr=0.1", "train.lr=0.1,,0.2"):
        with pytest.raises(SynbiolabError, match="--param"):
            parse_param(bad)
    with pytest.raises(SynbiolabError, match="--train-size"):
        parse_sizes("250,lots")


def test_plan_checks_every_value_and_expands_seeds():
    config = digits_config()
    points = plan_sweep(config, ["model.hidden_units=[8],[32]"], train_sizes="100,200", seeds=2)
    assert len(points) == 8
    assert points[0].overrides == ["model.hidden_units=[8]", "data.train_size=100", "train.seed=0"]
    assert points[-1].name == "hidden_units=32_train_size=200_seed1"
    with pytest.raises(SynbiolabError, match="unknown key 'model.width'.*model.hidden_units"):
        plan_sweep(config, ["model.width=8,16"])
    with pytest.raises(SynbiolabError, match="train.lr: expected a number"):
        plan_sweep(config, ["train.lr=0.1,fast"])
    with pytest.raises(SynbiolabError, match="nothing to sweep"):
        plan_sweep(config, [])


def test_three_point_capacity_sweep_writes_csv_page_and_figures(tmp_path):
    out = tmp_path / "capacity"
    result = sweep(digits_config("model.dropout=0.0"), params=["model.hidden_units=[2],[16],[256]"], out=out,
                   verbose=False)
    table = pd.read_csv(out / "sweep.csv")
    assert list(table["model.hidden_units"]) == ["[2]", "[16]", "[256]"]
    columns = {"seed", "n_parameters", "train_error", "val_error", "test_error", "gap", "verdict", "run"}
    assert columns <= set(table)
    # 64 inputs, 10 classes: 64*2+2 + 2*10+10 = 160 parameters for the narrowest model.
    assert list(table["n_parameters"]) == [160, 64 * 16 + 16 + 16 * 10 + 10, 64 * 256 + 256 + 256 * 10 + 10]
    assert table["train_error"].iloc[0] > 0.3 > table["train_error"].iloc[2]
    assert table["verdict"].iloc[0] == "underfitting"
    assert result.best["label"] != "model.hidden_units=[2]"
    figure = out / "figures" / "capacity_model.hidden-units.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert (out / "figures" / "epochs_curve.png").is_file()
    page = (out / "sweep.html").read_text()
    assert "data:image/png;base64" in page and "Best by validation error" in page
    assert list(result.summary["n_parameters"]) == list(table["n_parameters"]) and "<td>160</td>" in page
    assert f"<title>synbiolab sweep {out.name}</title>" in page and page.count("<img ") == len(result.figures)
    assert page.count('/report.html">hidden_units=') == 3  # a link to each run's report
    assert json.loads((out / "kind.json").read_text())["kind"] == "sweep"
    assert json.loads((out / "runs" / "hidden_units=2_seed0" / "kind.json").read_text())["kind"] == "train"


def test_a_sweep_refuses_a_folder_another_process_is_writing(tmp_path):
    from synbiolab.io import FolderLock

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "kind.json").write_text(json.dumps({"kind": "sweep"}))
    with FolderLock(busy), pytest.raises(SynbiolabError, match="another synbiolab process is writing"):
        sweep(digits_config(), params=["model.hidden_units=[2],[4]"], out=busy, overwrite=True, verbose=False)
    assert (busy / "kind.json").is_file()


def test_cli_sweep_rejects_unknown_and_unparsable_parameters(tmp_path, cli):
    code, out, err = cli("sweep", "--data", "digits", "--param", "model.width=8,16", "--out", tmp_path / "a")
    assert code == 2 and "unknown key 'model.width'" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("sweep", "--data", "digits", "--param", "model.hidden_units=[8],[16", "--out",
                         tmp_path / "b")
    assert code == 2 and "unbalanced brackets" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("sweep", "--data", "digits", "--train-size", "10,x", "--out", tmp_path / "c")
    assert code == 2 and "--train-size" in err
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_learning_curve_with_seeds_in_parallel_processes(tmp_path):
    result = sweep(digits_config("model.dropout=0.0"), train_sizes=[100, 400], seeds=2, jobs=2,
                   out=tmp_path / "learning", verbose=False)
    assert len(result.table) == 4 and set(result.table["seed"]) == {0, 1}
    small, large = result.summary["val_error"]
    assert large < small
    assert (tmp_path / "learning" / "figures" / "learning_curve.png").is_file()
