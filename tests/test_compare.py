"""compare: pipeline names, a quick comparison on the 8x8 digits checked against scikit-learn, the folder and its
pages, the data-size view, --cnn checks."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from synbiolab import SynbiolabError, load_dataset, open_run
from synbiolab.experiments.compare import compare_pipelines, parse_train_sizes
from synbiolab.experiments.pipelines import DEFAULT_PIPELINES, parse_pipeline


def test_pipeline_names_parse_into_features_pca_and_classifier():
    spec = parse_pipeline("hog+cnn+pca50+logistic_regression")
    assert (spec.features, spec.pca_components, spec.classifier) == (("hog", "cnn"), 50, "logistic_regression")
    assert spec.standardize and spec.uses_cnn
    assert parse_pipeline("raw+knn").standardize is False
    assert parse_pipeline("cnn").classifier == "softmax"
    for bad in ("hog", "hog+boosting", "sift+knn", "pca10+knn", "hog+hog+knn", "cnn+"):
        with pytest.raises(SynbiolabError, match="unknown pipeline .*valid: FEATURES\\+CLASSIFIER"):
            parse_pipeline(bad)
    assert parse_train_sizes("1000,100, 10000") == [100, 1000, 10000]
    assert parse_train_sizes(None) == [None]
    with pytest.raises(SynbiolabError, match="--train-size"):
        parse_train_sizes("100,0")


@pytest.fixture(scope="module")
def digits_comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "digits"
    cache = tmp_path_factory.mktemp("features")
    return compare_pipelines("digits", out=out, cache=cache, verbose=False)


def test_quick_compare_on_digits_has_every_pipeline_above_chance(digits_comparison):
    rows = digits_comparison.rows
    assert [r["pipeline"] for r in rows] == list(DEFAULT_PIPELINES)
    # Ten classes: chance is 10 %; every pipeline must do far better, the good ones above 90 %.
    accuracies = {r["pipeline"]: r["test_accuracy"] for r in rows}
    assert min(accuracies.values()) > 0.5, accuracies
    for name in ("raw+pca50+knn", "hog+pca120+rbf_svm", "cnn", "hog+cnn+logistic_regression"):
        assert accuracies[name] > 0.9, (name, accuracies[name])
    by_name = {r["pipeline"]: r for r in rows}
    assert by_name["raw+logistic_regression"]["feature_dim"] == 64
    assert by_name["hog+linear_svm"]["feature_dim"] == 324  # 3x3 blocks x 2x2 cells x 9 orientations
    assert by_name["hog+cnn+logistic_regression"]["feature_dim"] == 324 + 128  # HoG + the CNN's 128 units
    assert by_name["hog+pca120+rbf_svm"]["chosen"].endswith("approximation=exact")
    for r in rows:
        assert r["train_size"] == 1222 and r["confusion"].sum() == 359


def test_raw_logistic_regression_equals_scikit_learn_fitted_here(digits_comparison):
    """The same split, C chosen on validation and the test split scored once, all done here with scikit-learn."""
    dataset = load_dataset("digits")
    norm = dataset.info["normalisation"]

    def pixels(split):  # (N, 1, 8, 8) normalised -> (N, 64) pixel values in 0..1
        x = split.x.numpy().astype(np.float64)[:, 0] * norm["std"] + norm["mean"]
        return np.clip(x, 0.0, 1.0).reshape(len(x), -1).astype(np.float32)

    x_train, x_val, x_test = pixels(dataset.train), pixels(dataset.val), pixels(dataset.test)
    y_train, y_val, y_test = dataset.train.y.numpy(), dataset.val.y.numpy(), dataset.test.y.numpy()
    fitted = {C: LogisticRegression(C=C, max_iter=300, random_state=0).fit(x_train, y_train) for C in (0.1, 1.0)}
    best_C = max(fitted, key=lambda C: (fitted[C].predict(x_val) == y_val).mean())
    accuracy = float((fitted[best_C].predict(x_test) == y_test).mean())
    row = next(r for r in digits_comparison.rows if r["pipeline"] == "raw+logistic_regression")
    assert row["chosen"] == f"C={best_C}"
    assert row["test_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert row["test_error"] == pytest.approx(1 - accuracy, abs=1e-12)
    assert np.trace(row["confusion"]) == round(accuracy * len(y_test))


def test_comparison_folder_holds_table_figures_and_report(digits_comparison):
    folder = digits_comparison.path
    with open(folder / "table.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["pipeline"] for row in table] == list(DEFAULT_PIPELINES)
    assert {"features", "classifier", "feature_dim", "test_accuracy", "train_seconds",
            "predict_seconds_per_1000"} <= set(table[0])
    for name in ("test_error", "accuracy_vs_time", "confusion_matrices", "hog_vs_cnn_filters"):
        png = folder / "figures" / f"{name}.png"
        assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG", name
    report = (folder / "report.html").read_text()
    assert "<title>synbiolab compare: digits</title>" in report and "<h1>Pipelines compared on digits</h1>" in report
    assert "hog+pca120+rbf_svm" in report and report.count("data:image/png;base64") == 4
    assert "the CNN alone" in report  # the plain statement about combined vs CNN
    results = json.loads((folder / "results.json").read_text())
    assert len(results["rows"][0]["confusion"]) == 10
    page = (folder / "table.html").read_text()
    assert "<table>" in page and page.count("<tr>") == 1 + len(DEFAULT_PIPELINES)
    # The folder says what it is; its settings are compare.json (config.json is a training run's).
    assert json.loads((folder / "kind.json").read_text())["kind"] == "compare"
    assert json.loads((folder / "compare.json").read_text())["pipelines"] == list(DEFAULT_PIPELINES)
    assert not (folder / "config.json").exists()
    assert open_run(folder, expect="compare").kind == "compare"
    cnn_run = folder / "cnn" / "train1222"
    assert json.loads((cnn_run / "kind.json").read_text())["kind"] == "train"  # the recipe CNN's own run


def test_a_compare_folder_written_before_kind_json_still_reads_as_one(tmp_path, digits_comparison):
    old = tmp_path / "old-compare"
    old.mkdir()
    settings = json.loads((digits_comparison.path / "compare.json").read_text())
    (old / "config.json").write_text(json.dumps({"compare": settings}))
    (old / "table.csv").write_text((digits_comparison.path / "table.csv").read_text())
    assert open_run(old, expect="compare").kind == "compare"
    with pytest.raises(SynbiolabError, match="is a compare folder .*compare --cnn takes a train folder"):
        open_run(old, expect="train", verb="compare --cnn")


def test_data_size_view_on_digits(tmp_path):
    # 100 training images are fewer than the 120 principal components asked for: PCA keeps 100.
    comparison = compare_pipelines("digits", pipelines="hog+pca120+rbf_svm,raw+logistic_regression",
                                   train_size="100,800", out=tmp_path / "sizes", cache=False, verbose=False)
    assert [(r["train_size"], r["pipeline"]) for r in comparison.rows] == [
        (100, "hog+pca120+rbf_svm"), (100, "raw+logistic_regression"), (800, "hog+pca120+rbf_svm"),
        (800, "raw+logistic_regression")]
    assert comparison.rows[0]["classifier"] == "rbf_svm (PCA 100)"
    assert comparison.rows[2]["classifier"] == "rbf_svm (PCA 120)"
    assert all(r["test_accuracy"] > 0.5 for r in comparison.rows)
    assert (tmp_path / "sizes" / "figures" / "data_size.png").is_file()
    assert set(comparison.table["train_size"]) == {100, 800}


def test_a_comparison_refuses_a_folder_another_process_is_writing(tmp_path, digits_comparison):
    from synbiolab.io import FolderLock

    busy = tmp_path / "busy"
    shutil.copytree(digits_comparison.path, busy)
    with FolderLock(busy):  # a second open file description: flock refuses it as it would another process
        with pytest.raises(SynbiolabError, match="another synbiolab process is writing this folder"):
            compare_pipelines("digits", pipelines="raw+knn", out=busy, overwrite=True, cache=False, verbose=False)
    assert (busy / "report.html").is_file()  # nothing was deleted


def test_overwrite_replaces_a_comparison_and_only_with_the_flag(tmp_path):
    out = tmp_path / "again"
    first = compare_pipelines("digits", pipelines="raw+knn", out=out, cache=False, verbose=False)
    with pytest.raises(SynbiolabError, match="folder already exists; choose another --out or pass --overwrite"):
        compare_pipelines("digits", pipelines="raw+knn", out=out, cache=False, verbose=False)
    second = compare_pipelines("digits", pipelines="raw+logistic_regression", out=out, overwrite=True, cache=False,
                               verbose=False)
    assert first.rows[0]["pipeline"] == "raw+knn" and second.rows[0]["pipeline"] == "raw+logistic_regression"
    assert json.loads((out / "compare.json").read_text())["pipelines"] == ["raw+logistic_regression"]


def test_cli_unknown_pipeline_is_one_line_listing_valid_names(cli, tmp_path):
    code, out, err = cli("compare", "--data", "digits", "--pipelines", "hog+rbf_svm,hog+boosting",
                         "--out", tmp_path / "c")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: unknown pipeline 'hog+boosting'")
    assert "rbf_svm" in err and "knn" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()  # nothing is written before the input is checked


def test_cli_train_size_larger_than_the_data(cli, tmp_path):
    code, _, err = cli("compare", "--data", "digits", "--train-size", "5000", "--out", tmp_path / "c")
    assert code == 2 and err.count("\n") == 1
    assert "--train-size 5000" in err and "valid: 1..1222" in err


@pytest.fixture(scope="module")
def digits_cnn_run(tmp_path_factory):
    """A small CNN trained on the 8x8 digits through the CLI."""
    from synbiolab.cli import main

    folder = tmp_path_factory.mktemp("runs") / "digits-cnn"
    try:
        main(["train", "--data", "digits", "--model", "cnn", "--epochs", "8", "--out", str(folder), "--quiet",
              "--set", "train.progress=false"])
    except SystemExit as exc:  # only an error exits; success returns
        pytest.fail(f"training the digits CNN failed with exit code {exc.code}")
    return folder


def test_cli_cnn_run_with_another_input_shape_is_refused(cli, tmp_path, digits_cnn_run):
    other = tmp_path / "other-shape"
    shutil.copytree(digits_cnn_run, other)
    spec = json.loads((other / "model.json").read_text())
    spec["input_shape"] = [1, 28, 28]
    (other / "model.json").write_text(json.dumps(spec))
    code, _, err = cli("compare", "--data", "digits", "--cnn", other, "--pipelines", "cnn",
                       "--out", tmp_path / "c")
    assert code == 2 and err.count("\n") == 1
    assert "input shape (1, 28, 28)" in err and "uses 'digits' with input shape (1, 8, 8)" in err


def test_cli_cnn_run_of_another_data_set_is_refused(cli, tmp_path, digits_cnn_run, mnist_dir):
    code, _, err = cli("compare", "--data", "mnist", "--data-dir", mnist_dir, "--cnn", digits_cnn_run,
                       "--pipelines", "hog+cnn+logistic_regression", "--out", tmp_path / "c")
    assert code == 2 and err.count("\n") == 1
    assert "trained on 'digits'" in err and "uses 'mnist'" in err and "Traceback" not in err


def test_cli_compare_with_a_cnn_run(cli, tmp_path, digits_cnn_run):
    code, out, err = cli("compare", "--data", "digits", "--cnn", digits_cnn_run, "--pipelines",
                         "cnn,hog+cnn+logistic_regression", "--out", tmp_path / "c")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "c" / "table.csv")))
    assert [r["pipeline"] for r in rows] == ["cnn", "hog+cnn+logistic_regression"]
    assert all(float(r["test_accuracy"]) > 0.8 for r in rows)
    assert f"CNN features from {digits_cnn_run}" in out
    assert not (tmp_path / "c" / "cnn").exists()  # no CNN trained on the spot


def test_accuracy_time_labels_never_overlap_even_when_points_coincide():
    from matplotlib.text import Text

    from synbiolab.report.sections.compare import accuracy_time_figure

    def row(pipeline, features, classifier, seconds, accuracy):
        return {"pipeline": pipeline, "features": features, "classifier": classifier, "train_seconds": seconds,
                "test_accuracy": accuracy}

    # The CNN and four pipelines on its features share the CNN's training time and nearly its accuracy.
    rows = [row("cnn", "cnn", "softmax head (end-to-end CNN)", 30.0, 0.990),
            row("cnn+logistic_regression", "cnn", "logistic_regression", 30.2, 0.991),
            row("hog+cnn+logistic_regression", "hog+cnn", "logistic_regression", 30.3, 0.991),
            row("hog+cnn+pca120+rbf_svm", "hog+cnn", "rbf_svm (PCA 120)", 30.1, 0.990),
            row("cnn+knn", "cnn", "knn", 30.0, 0.989),
            row("raw+logistic_regression", "raw", "logistic_regression", 2.0, 0.92),
            row("hog+pca120+rbf_svm", "hog", "rbf_svm (PCA 120)", 25.0, 0.985)]
    fig = accuracy_time_figure(rows, 55000)
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [text for text in ax.texts if text.get_text() in {r["pipeline"] for r in rows}]
    assert sorted(text.get_text() for text in labels) == sorted(r["pipeline"] for r in rows)
    boxes = [Text.get_window_extent(text, renderer) for text in labels]  # the text alone, not its leader line
    for i, a in enumerate(boxes):
        assert ax.get_window_extent(renderer).contains(a.x0, a.y0), labels[i].get_text()
        for j in range(i):
            assert not a.overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    # A label set away from its point is joined to it by a leader line.
    assert sum(text.arrow_patch is not None for text in labels) >= 3
