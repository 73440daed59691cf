"""Reports and diagnoses read the files training wrote: predictions.csv, metrics.json's facts, figures/.

A finished run's report is built with the data loaders and the model builder made to fail, an old-style run
folder (without the new files) still gets its report and diagnosis the old way, and a run that stopped early
is diagnosed on the epochs it recorded.
"""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from synbiolab import apply_overrides, default_config, diagnose, load_run, register_section, train, write_report
from synbiolab.errors import SynbiolabError

TINY = ["model.hidden_units=[32]", "train.epochs=4", "train.progress=false", "data.train_size=300"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    config = apply_overrides(default_config("digits", "mlp"), TINY)
    return train(config, out=tmp_path_factory.mktemp("report") / "tiny", verbose=False)


@pytest.fixture
def no_reloading(monkeypatch):
    """Loading a data set or rebuilding a model from now on fails the test."""
    import synbiolab.data
    import synbiolab.data.registry
    import synbiolab.models
    import synbiolab.models.registry
    from synbiolab.runs import Run

    def refuse(*args, **kwargs):
        raise AssertionError("the data set or the model was loaded again")

    for module in (synbiolab.data, synbiolab.data.registry):
        monkeypatch.setattr(module, "load_dataset", refuse)
    for module in (synbiolab.models, synbiolab.models.registry):
        monkeypatch.setattr(module, "build_model", refuse)
    monkeypatch.setattr(Run, "load_dataset", refuse)
    monkeypatch.setattr(Run, "load_model", refuse)


def copy_run(run, target):
    shutil.copytree(run.path, target)
    return load_run(target)


def make_old_style(run):
    """Strip what training writes since predictions.csv existed, as a run folder from before looks."""
    (run.path / "predictions.csv").unlink()
    (run.path / "figures" / "misclassified.png").unlink()
    metrics = json.loads((run.path / "metrics.json").read_text())
    for key in ("n_train_available", "baseline_loss", "n_classes", "label_noise", "layers", "model_text"):
        metrics.pop(key)
    for split in ("train", "val", "test"):
        metrics[split] = {k: v for k, v in metrics[split].items() if k not in ("auroc", "auprc")}
    (run.path / "metrics.json").write_text(json.dumps(metrics))


def test_report_is_built_from_files_alone(tiny_run, tmp_path, no_reloading):
    run = copy_run(tiny_run, tmp_path / "copy")
    for figure in (run.path / "figures").glob("*.png"):
        if figure.name != "misclassified.png":  # drawn by training: the report only shows it
            figure.unlink()
    page = write_report(run).read_text()
    m = run.metrics
    assert "could not be drawn" not in page
    assert '<img alt="learning_curves"' in page and (run.path / "figures" / "learning_curves.png").is_file()
    assert '<img alt="confusion_matrix"' in page and (run.path / "figures" / "confusion_matrix.png").is_file()
    assert "Misclassified test images" in page and "From predictions.csv" in page
    assert f"Test accuracy <b>{m['test']['accuracy']:.4f}</b>" in page
    assert f"AUROC <b>{m['test']['auroc']:.4f}</b>" in page
    assert f"weights of the best epoch ({m['best_epoch']} of 4" in page
    # the model section comes from metrics.json's layers: 64 inputs -> 32 -> 10 outputs
    assert [row["parameters"] for row in m["layers"]] == [64 * 32 + 32, 32 * 10 + 10]
    assert f"{m['n_parameters']:,} trainable parameters" in page and "Linear" in page
    # the model section points to the course's page on its architecture
    assert "The course's theory of this architecture: Multilayer perceptrons (docs/theory/mlp.md)" in page


def test_predictions_csv_holds_the_test_outputs_that_metrics_json_summarises(tiny_run):
    from sklearn.metrics import roc_auc_score

    m = tiny_run.metrics
    table = pd.read_csv(tiny_run.path / "predictions.csv", dtype={"target": str, "prediction": str})
    classes = [str(c) for c in range(10)]
    assert list(table.columns) == ["id", "target", "prediction", *[f"p_{c}" for c in classes]]
    assert len(table) == m["test"]["n"] == 359 and table["id"].tolist() == list(range(359))
    assert (table["target"] == table["prediction"]).mean() == pytest.approx(m["test"]["accuracy"], abs=1e-9)
    probabilities = table[[f"p_{c}" for c in classes]].to_numpy()
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4)
    assert ([classes[k] for k in probabilities.argmax(1)] == table["prediction"]).all()
    auroc = np.mean([roc_auc_score(table["target"] == c, probabilities[:, k]) for k, c in enumerate(classes)])
    assert auroc == pytest.approx(m["test"]["auroc"], abs=1e-4)


def test_metrics_json_holds_the_facts_diagnose_needs(tiny_run):
    m = tiny_run.metrics
    assert m["n_train"] == 300 and m["n_train_available"] == 1222  # digits: 1,222 training examples in all
    counts = np.bincount(tiny_run.load_dataset().train.y.numpy(), minlength=10) / 300
    entropy = -(counts[counts > 0] * np.log(counts[counts > 0])).sum()
    assert m["baseline_loss"] == pytest.approx(entropy) and m["n_classes"] == 10
    assert 0 <= m["label_noise"] < 0.05  # the digits' labels are clean
    assert sum(row["parameters"] for row in m["layers"]) == m["n_parameters"]
    for split in ("train", "val", "test"):
        assert {"accuracy", "auroc", "auprc", "error", "loss", "n"} <= set(m[split])


def test_diagnose_reads_the_saved_facts(tiny_run, tmp_path, no_reloading, capsys):
    run = copy_run(tiny_run, tmp_path / "copy")
    diagnosis = diagnose(run)
    printed = capsys.readouterr().out
    ev, m = diagnosis.evidence, run.metrics
    assert ev["label_noise_estimate"] == m["label_noise"] and ev["n_train"] == 300
    assert ev["kept_epoch"] == m["best_epoch"] and ev["kept_val_error"] == m["val"]["error"]
    # the same word never names two numbers: the last epoch's errors and the kept weights' are told apart
    history = run.history
    line = next(line for line in printed.splitlines() if "train error: epoch 4 (last) / lowest of any epoch" in line)
    assert line.endswith(f"{history['train_error'].iloc[-1]:.3f} / {history['train_error'].min():.3f}")
    kept = " / ".join(f"{m[s]['error']:.3f}" for s in ("train", "val", "test"))
    assert f"kept weights (epoch {m['best_epoch']}, metrics.json): train / validation / test error  {kept}" in printed
    assert "<h2>Diagnosis</h2>" in (run.path / "report.html").read_text()


def test_old_style_run_folder_gets_its_report_and_diagnosis(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "old")
    make_old_style(run)
    page = write_report(run).read_text()
    assert "could not be drawn" not in page
    assert "recomputed: this run has no predictions.csv" in page
    assert '<img alt="confusion_matrix"' in page and '<img alt="misclassified"' in page
    assert "trainable parameters" in page  # counted from the rebuilt model
    diagnosis = diagnose(run, verbose=False)
    assert diagnosis.evidence["n_parameters"] == tiny_run.metrics["n_parameters"]
    assert diagnosis.evidence["label_noise_estimate"] == pytest.approx(tiny_run.metrics["label_noise"])


def test_diagnose_on_a_run_that_stopped_early_says_so(tiny_run, tmp_path, cli, monkeypatch):
    run = tmp_path / "killed"
    run.mkdir()
    for name in ("kind.json", "config.json"):
        shutil.copy(tiny_run.path / name, run / name)
    history = tiny_run.history.iloc[:2]
    history.to_csv(run / "history.csv", index=False)
    code, out, err = cli("diagnose", run)
    assert code == 0, err
    assert "note: training stopped early: 2 of 4 planned epoch(s) were recorded and no metrics.json" in out
    assert "kept weights (epoch" not in out  # there are none to show
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["evidence"]["status"] == "stopped" and saved["evidence"]["kept_epoch"] is None
    assert "Training has not finished (2 of 4 epochs recorded)" in (run / "report.html").read_text()

    # With its data set gone too, the run is still judged, on the chance error, and says what it lacks.
    import synbiolab.data

    def gone(*args, **kwargs):
        raise SynbiolabError("digits: data set not found")

    monkeypatch.setattr(synbiolab.data, "load_dataset", gone)
    diagnosis = diagnose(run, verbose=False)
    assert diagnosis.notes[0].startswith("training stopped early")
    assert any(n.startswith("the data set could not be loaded (digits: data set not found)") for n in diagnosis.notes)
    assert diagnosis.evidence["reference_error"] == pytest.approx(0.5)


def test_reports_escape_html(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path / "run<img src=x onerror=alert(1)>")
    page = write_report(run).read_text()
    assert "<img src=x onerror" not in page
    assert "Run run&lt;img src=x onerror=alert(1)&gt;" in page


def test_user_sections_are_added_and_project_sections_are_listed(tiny_run, tmp_path):
    import synbiolab.interpret  # noqa: F401 - importing a module registers nothing
    from synbiolab.report.run import RUN_SECTIONS, RUN_TAIL_SECTIONS, USER_SECTIONS

    assert USER_SECTIONS == []
    assert [name for name, _ in RUN_SECTIONS + RUN_TAIL_SECTIONS] == [
        "summary", "curves", "test", "sequence_results", "interpretation", "diagnosis", "model", "config"]
    run = copy_run(tiny_run, tmp_path / "copy")
    register_section(lambda r: f"<h2>Notes</h2><p>{r.metrics['epochs_run']} epochs</p>", name="notes")
    try:
        page = write_report(run).read_text()
    finally:
        USER_SECTIONS.clear()
    assert '<section id="notes">\n<h2>Notes</h2><p>4 epochs</p>' in page
    assert page.index('id="notes"') < page.index('id="model"')


def test_regression_run_saves_its_four_numbers_sequences_and_the_baseline(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["name,seq,strength"]
    for i in range(240):
        seq = "".join(rng.choice(list("ACGT"), 24))
        lines.append(f"p{i},{seq},{seq.count('G') + seq.count('C') + rng.normal(scale=0.5):.3f}")
    path = tmp_path / "library.csv"
    path.write_text("\n".join(lines) + "\n")
    config = apply_overrides(default_config(str(path), "cnn1d"),
                             ["data.seq_col=seq", "data.target=strength", "data.id_col=name", "train.epochs=3",
                              "train.progress=false", "model.channels=[8]", "model.head_units=[8]"])
    run = train(config, out=tmp_path / "run", verbose=False)
    m = run.metrics
    assert {"pearson_r", "spearman_rho", "r2", "mse"} <= set(m["test"])
    assert {"pearson_r", "spearman_rho", "r2", "mse"} <= set(m["baseline"])
    table = pd.read_csv(run.path / "predictions.csv")
    assert list(table.columns) == ["id", "sequence", "target", "prediction", "baseline"]
    assert len(table) == m["test"]["n"] and table["id"].str.startswith("p").all()
    assert ((table["prediction"] - table["target"]) ** 2).mean() == pytest.approx(m["test"]["mse"], rel=1e-4)
    assert np.corrcoef(table["target"], table["prediction"])[0, 1] == pytest.approx(m["test"]["pearson_r"], abs=1e-4)
    # each sequence is the one the model saw: its GC count explains most of the target
    gc = table["sequence"].str.count("[GC]")
    assert np.corrcoef(gc, table["target"])[0, 1] > 0.9
    # the three linear baselines on the same split, the best one named, the margin with its bootstrap interval
    assert set(m["baselines"]) == {"onehot_linear", "pairwise_linear", "kmer_linear"}
    c = m["baseline_comparison"]
    best = max(m["baselines"], key=lambda name: m["baselines"][name]["pearson_r"])
    assert c["best_baseline"] == best and c["baseline_score"] == pytest.approx(m["baselines"][best]["pearson_r"])
    assert c["margin"] == pytest.approx(m["test"]["pearson_r"] - c["baseline_score"])
    assert c["margin_low"] < c["margin_high"] and c["n_test"] == m["test"]["n"]
    assert m["baselines"]["kmer_linear"]["pearson_r"] > 0.9  # 1-mer counts hold the GC count: the answer
    # the same run with its outputs rescaled on the validation split: correlations kept, validation MSE lower
    config.train.calibrate = True
    rescaled = train(config, out=tmp_path / "rescaled", verbose=False)
    r = rescaled.metrics
    assert r["calibration"]["scale"][0] > 0 and r["calibration"]["kept"] == []
    assert r["test"]["pearson_r"] == pytest.approx(m["test"]["pearson_r"], abs=1e-5)
    assert r["val"]["mse"] <= m["val"]["mse"] + 1e-9
    assert "Outputs rescaled on the validation split" in (rescaled.path / "report.html").read_text()
    page = (run.path / "report.html").read_text()
    assert "Sequence model vs linear baselines" in page and "could not be drawn" not in page
    assert f"best linear baseline on this split: {best}" in page
    assert (run.path / "figures" / "predicted_vs_measured.png").is_file()
    assert math.isfinite(m["test"]["spearman_rho"]) and m["label_noise"] is None


def test_an_ecoli_promoter_report_searches_bacterial_motifs_and_a_splice_report_vertebrate_ones(tmp_path, cli):
    from conftest import require_data

    require_data("synbio/uci_promoters/promoters.data", "synbio/uci_splice/splice.csv",
                 "synbio/ecoli_promoters_wang2020/sequence_data.txt")
    code, stdout, err = cli("train", "--data", "uci_promoters", "--out", tmp_path / "promoters")
    assert code == 0, err
    # train prints the linear baselines beside its test number, and which is best
    assert "linear baselines on the same split: onehot_linear" in stdout
    assert "best linear baseline on this split:" in stdout and "95 % interval" in stdout
    promoters = load_run(tmp_path / "promoters")
    assert promoters.metrics["dataset"]["organism_group"] == "bacteria"
    page = (promoters.path / "report.html").read_text()
    assert "Motifs searched: bacteria: JASPAR has no bacterial collection" in page
    assert "JASPAR2" not in page  # no eukaryotic factor names an E. coli promoter model's filters
    assert "(sigma70-10, E. coli promoters)" in page or "(sigma70-35, E. coli promoters)" in page
    # one model of 9-nt filters, wide enough to hold the 5' splice site's consensus (MAGGTRAGT)
    splice = train(apply_overrides(default_config("uci_splice"), ["train.epochs=3", "train.progress=false",
                                                                  "model.kernel_sizes=[9]", "model.members=1"]),
                   out=tmp_path / "splice", verbose=False)
    page = (splice.path / "report.html").read_text()
    assert re.search(r"Motifs searched: vertebrates: the [\d,]+ JASPAR CORE matrices of vertebrates", page)
    assert "(splice-donor, consensus)" in page  # a filter of a splice model reads the 5' splice site
