"""synbiolab tune: Optuna on validation data, best.yaml that train --config takes, a study shared by processes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")

SMALL = ["--data", "digits", "--model", "mlp", "--epochs", "3", "--set", "model.hidden_units=[32]"]


def test_tune_writes_the_best_config_a_report_and_retrains_it(cli, tmp_path):
    out = tmp_path / "tune"
    code, stdout, err = cli("tune", *SMALL, "--trials", "4", "--out", out)
    assert code == 0, err
    summary = json.loads((out / "tune.json").read_text())
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 4 == summary["n_trials"]
    finished = [float(r["val_error"]) for r in rows if r["state"] == "complete"]
    assert summary["best_value"] == pytest.approx(min(finished))
    assert "test split is not looked at" in summary["chosen_on"]
    assert any(s.startswith("train.lr=") for s in summary["best_overrides"])
    # the best settings, trained again as an ordinary run, diagnosed, and its report linked
    best = json.loads((out / "best" / "metrics.json").read_text())
    assert best["status"] == "finished" and best["test"]["accuracy"] > 0.5
    assert json.loads((out / "best" / "diagnosis.json").read_text())["verdict"]
    report = (out / "report.html").read_text()
    assert "optimisation history" in report or "optimisation_history" in report
    assert "best/report.html" in report
    # best.yaml is a config file that `train --config` takes, and it holds the chosen learning rate
    code, _, err = cli("train", "--config", out / "best.yaml", "--out", tmp_path / "again", "--quiet")
    assert code == 0, err
    lr = float(next(s for s in summary["best_overrides"] if s.startswith("train.lr=")).split("=")[1])
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["train"]["lr"] == pytest.approx(lr) and again["model"]["params"]["hidden_units"]
    assert json.loads((out / "kind.json").read_text())["kind"] == "tune"


def test_two_processes_share_one_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "synbiolab", "tune", *SMALL, "--epochs", "2", "--trials", "2",
               "--storage", storage, "--study", "shared"]
    processes = [subprocess.Popen([*command, "--out", str(tmp_path / name)], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for p in processes:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4
    assert len({t.number for t in study.trials}) == 4


def test_bad_tune_input_gives_one_line(cli, tmp_path):
    code, _, err = cli("tune", *SMALL, "--trials", "0", "--out", tmp_path / "t")
    assert code == 2 and err.startswith("error: ") and "--trials 0" in err and err.count("\n") == 1
    code, _, err = cli("tune", "--data", "digits", "--model", "dcgan", "--out", tmp_path / "g")
    assert code == 2 and "is a GAN" in err


def test_tune_on_dna_prints_the_best_settings_beside_the_linear_baselines(cli, tmp_path):
    from conftest import require_data

    require_data("synbio/uci_promoters/promoters.data")
    out = tmp_path / "tune"
    code, stdout, err = cli("tune", "--data", "uci_promoters", "--model", "cnn1d", "--epochs", "5", "--trials", "2",
                            "--out", out)
    assert code == 0, err
    comparison = json.loads((out / "tune.json").read_text())["baseline_comparison"]
    best = json.loads((out / "best" / "metrics.json").read_text())
    assert comparison["model_score"] == pytest.approx(best["test"]["accuracy"])
    assert comparison["best_baseline"] in ("onehot_linear", "pairwise_linear", "kmer_linear")
    assert f"test split: best linear baseline on this split: {comparison['best_baseline']}" in stdout
    assert "Beside the linear baselines fitted on the same split" in (out / "report.html").read_text()
