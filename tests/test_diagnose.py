"""Verdict rules on hand-written histories whose answers are known, plus the label-noise estimate."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from synbiolab.diagnose import (
    OVERFIT_GAP_FRACTION,
    UNDERFIT_TRAIN_FRACTION,
    RunFacts,
    diagnose_history,
    estimate_label_noise,
    format_diagnosis,
    scale_capacity,
)
from synbiolab.errors import SynbiolabError

MNIST_LIKE = dict(task="multiclass", data_kind="image", majority_error=0.887, baseline_loss=2.30,
                  n_classes=10)


def history(train_loss, val_loss, train_error, val_error):
    """A history table with the columns of history.csv (epochs numbered from 1)."""
    n = len(train_loss)
    return pd.DataFrame({
        "epoch": np.arange(1, n + 1), "step": np.arange(1, n + 1) * 100,
        "train_loss": train_loss, "train_metric": 1 - np.asarray(train_error, float),
        "train_error": train_error, "val_loss": val_loss, "val_metric": 1 - np.asarray(val_error, float),
        "val_error": val_error, "lr": [1e-3] * n, "seconds": np.arange(1, n + 1) * 2.0,
    })


def facts(**changes):
    base = dict(MNIST_LIKE, n_parameters=5_000_000, n_train=500, n_train_available=55_000, model_name="mlp",
                model_params={"hidden_units": [2048, 2048], "dropout": 0.0},
                train={"lr": 1e-3, "epochs": 20, "weight_decay": 0.0, "patience": 0, "augment": "none",
                       "grad_clip": 0.0})
    base.update(changes)
    return RunFacts(**base)


# --- the five verdicts on typical curves


def overfit_history():
    # Training error goes to 0 while the validation loss bottoms out at epoch 4 and then climbs.
    train_loss = [1.2, 0.5, 0.2, 0.08, 0.03, 0.01, 0.005, 0.002, 0.001, 0.0005]
    val_loss = [1.0, 0.6, 0.45, 0.42, 0.45, 0.50, 0.56, 0.62, 0.68, 0.74]
    train_error = [0.30, 0.12, 0.05, 0.02, 0.005, 0.0, 0.0, 0.0, 0.0, 0.0]
    val_error = [0.30, 0.17, 0.14, 0.12, 0.125, 0.13, 0.135, 0.14, 0.14, 0.145]
    return history(train_loss, val_loss, train_error, val_error)


def test_overfitting_with_evidence_and_ranked_fixes():
    diagnosis = diagnose_history(overfit_history(), facts())
    assert diagnosis.verdict == "overfitting"
    ev = diagnosis.evidence
    assert ev["best_epoch"] == 4 and ev["epochs_since_best"] == 6
    assert ev["gap"] == pytest.approx(0.145)
    assert ev["gap_relative"] == pytest.approx(1.0)
    assert ev["gap_vs_reference"] == pytest.approx(0.145 / 0.887)
    assert ev["val_loss_rise_from_best"] == pytest.approx(0.74 / 0.42 - 1)
    titles = [fix.title for fix in diagnosis.fixes]
    # 500 of 55,000 examples used: more data first (4x), then early stopping (gain 0.025 >= 0.01 * 0.887).
    assert diagnosis.fixes[0].overrides == ["data.train_size=2000"]
    assert diagnosis.fixes[1].overrides == ["train.epochs=4", "train.patience=3"]
    assert "data augmentation (random shifts and small rotations)" in titles
    overrides = [o for fix in diagnosis.fixes for o in fix.overrides]
    assert "train.augment=shift_rotate" in overrides
    assert "train.weight_decay=0.05" in overrides and "model.dropout=0.3" in overrides  # AdamW's scale
    assert "model.hidden_units=[512,512]" in overrides


def test_overfitting_without_spare_data_or_images():
    sgd = {"lr": 0.1, "epochs": 10, "weight_decay": 0.0, "optimizer": "sgd"}
    diagnosis = diagnose_history(overfit_history(), facts(n_train_available=500, data_kind="sequence", train=sgd))
    overrides = [o for fix in diagnosis.fixes for o in fix.overrides]
    assert "train.weight_decay=0.0005" in overrides  # an L2 penalty for SGD
    assert diagnosis.fixes[0].title == "early stopping at the best epoch"
    assert not any(o.startswith("data.train_size") for o in overrides)
    assert "train.augment=shift_rotate" not in overrides


def test_early_stopping_not_ranked_first_when_it_would_not_lower_the_error():
    table = overfit_history()
    table["val_error"] = [0.30, 0.17, 0.14, 0.13, 0.13, 0.13, 0.13, 0.13, 0.13, 0.13]
    diagnosis = diagnose_history(table, facts(n_train_available=None))
    assert diagnosis.verdict == "overfitting"
    assert diagnosis.fixes[0].overrides == ["train.augment=shift_rotate"]
    assert diagnosis.fixes[-1].title == "early stopping at the best epoch"


def test_underfitting_small_model_gets_more_capacity_first():
    train_loss = [1.6, 1.2, 1.05, 1.0, 0.98, 0.97, 0.965, 0.962]
    val_loss = [1.5, 1.15, 1.04, 1.0, 0.985, 0.978, 0.975, 0.974]
    train_error = [0.55, 0.42, 0.38, 0.36, 0.355, 0.35, 0.35, 0.35]
    val_error = [0.54, 0.41, 0.38, 0.36, 0.36, 0.355, 0.355, 0.355]
    small = facts(model_params={"hidden_units": [2], "dropout": 0.0}, n_parameters=1600, n_train=55_000)
    diagnosis = diagnose_history(history(train_loss, val_loss, train_error, val_error), small)
    assert diagnosis.verdict == "underfitting"
    assert diagnosis.evidence["train_error_vs_reference"] == pytest.approx(0.35 / 0.887)
    assert diagnosis.fixes[0].overrides == ["model.hidden_units=[8]"]
    overrides = [o for fix in diagnosis.fixes for o in fix.overrides]
    assert "train.epochs=60" in overrides and "model.name=cnn" in overrides
    # High training error without a measured noise rate: the bound on label noise is stated.
    assert any("never went below 0.350" in note for note in diagnosis.notes)


def test_good_fit():
    train_loss = [0.3, 0.1, 0.06, 0.045, 0.04, 0.038]
    val_loss = [0.12, 0.07, 0.055, 0.05, 0.049, 0.049]
    train_error = [0.08, 0.03, 0.018, 0.012, 0.011, 0.010]
    val_error = [0.035, 0.022, 0.018, 0.016, 0.0155, 0.015]
    diagnosis = diagnose_history(history(train_loss, val_loss, train_error, val_error),
                                 facts(n_train=55_000, model_name="cnn", model_params={"channels": [32, 64]}))
    assert diagnosis.verdict == "good fit"
    assert diagnosis.fixes == []


def test_still_improving_over_the_last_epochs():
    train_loss = [0.9, 0.6, 0.45, 0.36]
    val_loss = [0.8, 0.58, 0.44, 0.35]
    train_error = [0.20, 0.14, 0.11, 0.09]
    val_error = [0.19, 0.14, 0.11, 0.09]
    diagnosis = diagnose_history(history(train_loss, val_loss, train_error, val_error),
                                 facts(n_train=55_000, train={"lr": 1e-3, "epochs": 4}))
    assert diagnosis.verdict == "still improving"
    assert diagnosis.evidence["val_loss_trend"] < -0.2
    assert diagnosis.fixes[0].overrides == ["train.epochs=12", "train.patience=3"]


def test_unstable_nan_loss():
    table = history([2.0, 1.5, math.nan], [2.0, 1.6, math.nan], [0.5, 0.4, math.nan], [0.5, 0.4, math.nan])
    diagnosis = diagnose_history(table, facts(train={"lr": 10.0, "epochs": 3, "grad_clip": 0.0}))
    assert diagnosis.verdict == "unstable"
    assert diagnosis.evidence["first_nonfinite_epoch"] == 3
    assert diagnosis.fixes[0].overrides == ["train.lr=1"]
    assert diagnosis.fixes[1].overrides == ["train.lr=1", "train.grad_clip=1.0"]


def test_unstable_when_the_weights_blow_up_or_the_loss_oscillates():
    blown = history([40.0, 55.0, 38.0], [45.0, 60.0, 41.0], [0.8, 0.85, 0.82], [0.8, 0.86, 0.83])
    diagnosis = diagnose_history(blown, facts())
    assert diagnosis.verdict == "unstable" and "blew up" in diagnosis.summary
    wobbly = history([1.0, 0.6, 0.9, 0.5, 0.8, 0.45], [1.0, 0.7, 0.9, 0.6, 0.85, 0.55],
                     [0.2, 0.1, 0.15, 0.08, 0.14, 0.07], [0.2, 0.12, 0.16, 0.1, 0.15, 0.09])
    diagnosis = diagnose_history(wobbly, facts())
    assert diagnosis.verdict == "unstable"
    assert diagnosis.evidence["train_loss_rises"] == 2
    diverged = history([0.8, 0.4, 0.3, 0.5], [0.8, 0.45, 0.35, 0.55], [0.1, 0.05, 0.04, 0.06],
                       [0.1, 0.06, 0.05, 0.07])
    assert diagnose_history(diverged, facts(baseline_loss=None)).verdict == "unstable"


def test_nan_run_stopped_by_the_loop_is_unstable_even_without_nan_rows():
    table = history([2.0, 1.5], [2.0, 1.6], [0.5, 0.4], [0.5, 0.4])
    diagnosis = diagnose_history(table, facts(diverged_at_step=230))
    assert diagnosis.verdict == "unstable" and "step 230" in diagnosis.summary


# --- edge cases


def test_one_epoch_with_falling_loss_is_still_improving():
    table = history([0.45], [0.25], [0.07], [0.07])
    diagnosis = diagnose_history(table, facts(n_train=55_000, train={"lr": 1e-3, "epochs": 1}))
    assert diagnosis.verdict == "still improving"
    assert diagnosis.fixes[0].overrides == ["train.epochs=3", "train.patience=3"]


def test_one_epoch_tiny_learning_rate_is_underfitting_with_higher_lr_first():
    table = history([2.29], [2.27], [0.84], [0.83])
    logistic = facts(model_params={"hidden_units": []}, n_train=55_000, n_parameters=7850,
                     train={"lr": 1e-6, "epochs": 1})
    diagnosis = diagnose_history(table, logistic)
    assert diagnosis.verdict == "underfitting"
    # The loss moved 0.4 % (< STUCK_FRACTION): a 100x larger rate is offered, 10x when it moved a little.
    assert diagnosis.fixes[0].overrides == ["train.lr=0.0001"]
    slow = diagnose_history(history([2.05], [2.0], [0.6], [0.6]), logistic)
    assert slow.fixes[0].overrides == ["train.lr=1e-05"]
    assert diagnosis.fixes[1].overrides == ["train.epochs=3"]
    assert ["model.hidden_units=[128]"] in [fix.overrides for fix in diagnosis.fixes]


def test_constant_loss_is_underfitting_and_asks_for_a_higher_learning_rate():
    table = history([2.302] * 5, [2.302] * 5, [0.887] * 5, [0.887] * 5)
    diagnosis = diagnose_history(table, facts(baseline_loss=None, train={"lr": 1e-3, "epochs": 5}))
    assert diagnosis.verdict == "underfitting"
    assert diagnosis.evidence["train_loss_moved"] == pytest.approx(0.0)
    assert diagnosis.evidence["val_loss_trend"] == pytest.approx(0.0)
    assert diagnosis.fixes[0].title == "higher learning rate"


def test_regression_uses_one_as_reference_error():
    table = history([1.0, 0.5, 0.3, 0.2, 0.15], [1.0, 0.8, 0.85, 0.95, 1.05], [0.9, 0.5, 0.3, 0.2, 0.15],
                    [0.9, 0.8, 0.85, 0.95, 1.05])
    diagnosis = diagnose_history(table, RunFacts(task="regression", data_kind="sequence",
                                                 model_name="cnn", model_params={"channels": [64]}))
    assert diagnosis.evidence["reference_error"] == 1.0
    assert diagnosis.verdict == "overfitting"
    assert ["model.channels=[16]"] in [fix.overrides for fix in diagnosis.fixes]


def test_both_high_bias_and_high_variance_go_to_the_larger_excess_and_note_the_other():
    # Training error 0.2 (1.5x the underfit threshold), gap 0.3 (6.8x the overfit threshold).
    table = history([1.0, 0.8, 0.7], [1.2, 1.3, 1.4], [0.3, 0.22, 0.2], [0.5, 0.5, 0.5])
    diagnosis = diagnose_history(table, facts())
    assert diagnosis.verdict == "overfitting"
    assert any("training error is high as well" in note for note in diagnosis.notes)
    assert UNDERFIT_TRAIN_FRACTION * 0.887 < 0.2 and OVERFIT_GAP_FRACTION * 0.887 < 0.3


def test_bad_histories_raise_one_line_errors():
    with pytest.raises(SynbiolabError, match="no epochs recorded"):
        diagnose_history(history([], [], [], []), facts())
    with pytest.raises(SynbiolabError, match="missing column"):
        diagnose_history(pd.DataFrame({"epoch": [1], "train_loss": [1.0]}), facts())
    no_val = history([1.0, 0.5], [math.nan, math.nan], [0.3, 0.2], [math.nan, math.nan])
    with pytest.raises(SynbiolabError, match="no validation values"):
        diagnose_history(no_val, facts())


def test_diagnosis_serialises_to_json_and_prints_thresholds():
    table = history([2.0, 1.5, math.nan], [2.0, 1.6, math.nan], [0.5, 0.4, math.nan], [0.5, 0.4, math.nan])
    diagnosis = diagnose_history(table, facts())
    data = json.loads(json.dumps(diagnosis.to_dict(), allow_nan=False))
    assert data["verdict"] == "unstable"
    assert data["thresholds"]["UNDERFIT_TRAIN_FRACTION"] == UNDERFIT_TRAIN_FRACTION
    text = format_diagnosis(diagnosis)
    assert text.startswith("verdict: unstable")
    assert "UNDERFIT_TRAIN_FRACTION=0.15" in text and "1. lower learning rate" in text


def test_scale_capacity_scales_the_keys_each_model_declares():
    from synbiolab import MODELS
    from synbiolab.config import model_parameters

    mlp, cnn = MODELS["mlp"].capacity_keys, MODELS["cnn"].capacity_keys
    assert scale_capacity({"hidden_units": [2048, 2048]}, 0.25, mlp) == {"hidden_units": [512, 512]}
    assert scale_capacity({"hidden_units": [1]}, 0.25, mlp) == {}
    assert scale_capacity({"hidden_size": 64}, 4, MODELS["rnn"].capacity_keys) == {"hidden_size": 256}
    # Only the declared keys change: dropout and widths the model does not declare stay as they are.
    assert scale_capacity({"hidden_units": [8], "dropout": 0.25, "width": 16}, 4, mlp) == {"hidden_units": [32]}
    # A CNN widens its convolutions and its dense layers; a missing dense layer ([]) stays missing.
    params = {"channels": (16, 32), "head_units": (128,), "dropout": 0.25}
    assert scale_capacity(params, 4, cnn) == {"head_units": [512], "channels": [64, 128]}
    assert scale_capacity({"channels": (16, 32), "head_units": []}, 4, cnn) == {"channels": [64, 128]}
    # Every declared key is a constructor argument of its model, so each capacity fix is a valid --set.
    for name, entry in MODELS.items():
        assert entry.capacity_keys and set(entry.capacity_keys) <= set(model_parameters(name)), name


def test_capacity_fixes_use_the_registered_keys_of_the_run_model():
    # A 1D CNN that overfits is narrowed through its own keys (channels, head_units), found in the registry.
    cnn1d = facts(model_name="cnn1d", data_kind="sequence", n_train_available=None,
                  model_params={"channels": [64, 64], "head_units": [32], "dropout": 0.3})
    smaller = [f for f in diagnose_history(overfit_history(), cnn1d).fixes if f.title.startswith("smaller model")]
    assert smaller and smaller[0].overrides == ["model.channels=[16,16]", "model.head_units=[8]"]
    # Capacity keys a run of an older version recorded are read under today's names.
    old = facts(model_name="rnn", data_kind="sequence", n_train_available=None, capacity_keys=("hidden_units",),
                model_params={"hidden_size": 64, "dropout": 0.3})
    smaller = [f for f in diagnose_history(overfit_history(), old).fixes if f.title.startswith("smaller model")]
    assert smaller and smaller[0].overrides == ["model.hidden_size=16"]
    # Keys given in the facts win over the registry's; none given means no capacity fix.
    none = facts(model_name="cnn1d", capacity_keys=(), n_train_available=None,
                 model_params={"channels": [64, 64], "head_units": [32]})
    assert not [f for f in diagnose_history(overfit_history(), none).fixes if f.title.startswith("smaller model")]


# --- label noise


def blobs(n_per_class=200, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(n_classes, 10))
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(size=(len(y), 10))
    return x, y


def test_label_noise_estimate_finds_flipped_labels():
    x, y = blobs()
    clean = estimate_label_noise(x, y)
    rng = np.random.default_rng(1)
    noisy = y.copy()
    flip = rng.choice(len(y), size=len(y) // 5, replace=False)
    noisy[flip] = (noisy[flip] + rng.integers(1, 4, size=len(flip))) % 4  # 20 % of labels made wrong
    estimate = estimate_label_noise(x, noisy)
    assert clean < 0.02
    assert 0.14 < estimate < 0.26


def test_measured_label_noise_is_reported_in_the_notes():
    table = history([1.2, 1.0, 0.95], [1.2, 1.0, 0.96], [0.3, 0.26, 0.25], [0.3, 0.26, 0.25])
    diagnosis = diagnose_history(table, facts(label_noise=0.22))
    assert diagnosis.verdict == "underfitting"
    assert any(note.startswith("label noise: about 22%") for note in diagnosis.notes)


# --- real runs: a fast overfitting case on the 8x8 digits, diagnose, fix, and the CLI

# No regulariser at all (the MLP recipe's label smoothing is one too): 100 examples are memorised.
OVERFIT_SETTINGS = ["data.train_size=100", "model.hidden_units=[512,512]", "model.dropout=0.0",
                    "train.label_smoothing=0", "train.weight_decay=0", "train.epochs=40", "train.progress=false"]


@pytest.fixture(scope="module")
def overfit_run(tmp_path_factory):
    from synbiolab import apply_overrides, default_config, train

    config = apply_overrides(default_config("digits", "mlp"), OVERFIT_SETTINGS)
    return train(config, out=tmp_path_factory.mktemp("runs") / "overfit", verbose=False)


def test_real_overfitting_run_is_diagnosed_and_the_first_fix_lowers_validation_error(overfit_run, capsys):
    from synbiolab import diagnose, fix

    diagnosis = diagnose(overfit_run)
    printed = capsys.readouterr().out
    assert diagnosis.verdict == "overfitting"
    assert printed.startswith("verdict: overfitting")
    # 100 examples memorised: no training error, a validation error near 10 %.
    assert diagnosis.evidence["train_error"] < 0.01
    assert diagnosis.evidence["gap"] > 0.05
    assert diagnosis.evidence["label_noise_estimate"] < 0.05  # the digits' labels are clean
    saved = json.loads((overfit_run.path / "diagnosis.json").read_text())
    assert saved["verdict"] == "overfitting" and saved["fixes"][0]["overrides"] == ["data.train_size=400"]
    report = (overfit_run.path / "report.html").read_text()
    assert "<h2>Diagnosis</h2>" in report and "UNDERFIT_TRAIN_FRACTION" in report
    assert "The course explains the verdict and its fixes: Generalisation (docs/theory/generalisation.md)" in report

    result = fix(overfit_run, apply=1, verbose=False)
    assert result.after["val_error"] < result.before["val_error"] - 0.02
    assert result.after["gap"] < result.before["gap"]
    assert result.before["val_error"] == pytest.approx(overfit_run.metrics["val"]["error"])
    new_run = overfit_run.path.parent / "overfit-fix1"
    assert json.loads((new_run / "config.json").read_text())["data"]["train_size"] == 400
    assert (new_run / "figures" / "fix_comparison.png").read_bytes()[:4] == b"\x89PNG"
    fixed = json.loads((new_run / "fix.json").read_text())
    assert fixed["after"]["val_error"] == pytest.approx(result.after["val_error"])
    assert "Fix applied" in (new_run / "report.html").read_text()


def test_cli_diagnose_and_fix(overfit_run, cli):
    code, out, err = cli("diagnose", overfit_run.path, "--no-noise")
    assert code == 0 and out.startswith("verdict: overfitting")
    assert "1. more training data: --set data.train_size=400" in out
    # the verdict is explained by the course: the theory page and the two tutorials
    assert out.strip().splitlines()[-1] == (
        "course: Generalisation (docs/theory/generalisation.md); tutorials docs/tutorials/03_generalisation.py "
        "(learning curves and the verdicts) and docs/tutorials/04_fixing_fits.py (every fix applied, before and "
        "after)")
    code, out, err = cli("fix", overfit_run.path, "--apply", "99")
    assert code == 2
    assert err.strip().startswith("error: --apply 99:") and len(err.strip().splitlines()) == 1


def test_cli_bad_run_folders_give_one_line(tmp_path, overfit_run, cli):
    code, out, err = cli("diagnose", tmp_path)
    assert code == 2 and "not a run folder" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("diagnose", tmp_path / "missing")
    assert code == 2 and "no such run folder" in err
    no_history = tmp_path / "no-history"
    no_history.mkdir()
    (no_history / "config.json").write_text((overfit_run.path / "config.json").read_text())
    code, out, err = cli("diagnose", no_history)
    assert code == 2 and "no history.csv" in err and len(err.strip().splitlines()) == 1


def test_label_noise_option_shuffles_training_labels_only_and_is_measured():
    from synbiolab import load_dataset

    clean, noisy = load_dataset("digits"), load_dataset("digits", label_noise=0.25)
    changed = float((clean.train.y != noisy.train.y).float().mean())
    # 25 % of the labels are permuted; about a tenth of those land on their own class again.
    assert 0.19 < changed < 0.25
    assert bool((clean.val.y == noisy.val.y).all()) and bool((clean.test.y == noisy.test.y).all())
    estimate = estimate_label_noise(noisy.train.x.numpy(), noisy.train.y.numpy(), n_classes=10)
    assert abs(estimate - changed) < 0.06
    assert estimate_label_noise(clean.train.x.numpy(), clean.train.y.numpy(), n_classes=10) < 0.02
    with pytest.raises(SynbiolabError, match="label_noise"):
        load_dataset("digits", label_noise=1.5)


def test_shift_rotate_augmentation_moves_images_by_at_most_two_pixels_per_axis():
    import torch

    from synbiolab.train.augment import make_augmenter

    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 12:16, 12:16] = 1.0  # a blob centred on the rotation centre: only the shift moves it
    augment = make_augmenter("shift_rotate", "image", seed=0)
    moved = augment(images)
    rows, cols = torch.arange(28.0).view(28, 1), torch.arange(28.0).view(1, 28)
    mass = moved.sum(dim=(1, 2, 3))
    shift_rows = (moved[:, 0] * rows).sum(dim=(1, 2)) / mass - 13.5
    shift_cols = (moved[:, 0] * cols).sum(dim=(1, 2)) / mass - 13.5
    distance = torch.sqrt(shift_rows**2 + shift_cols**2)
    # Up to 2 px along each axis of the (slightly rotated) frame: at most 2*sqrt(2) px in all.
    assert float(distance.max()) <= 2 * 2**0.5 + 0.01
    assert float(distance.max()) > 1.0 and float(distance.min()) < 1.0  # random amounts, not a fixed move
    assert torch.allclose(mass, torch.full_like(mass, 16.0), atol=0.05)  # nothing falls off the image
    with pytest.raises(SynbiolabError, match="image data"):
        make_augmenter("shift_rotate", "sequence", seed=0)


def test_run_that_diverged_before_its_first_epoch_is_unstable(tmp_path, overfit_run, cli):
    run = tmp_path / "diverged"
    run.mkdir()
    config = json.loads((overfit_run.path / "config.json").read_text())
    config["train"]["lr"] = 10.0
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps({
        "status": "diverged", "task": "multiclass",
        "message": "loss became nan at step 3 (epoch 1); lower train.lr or set train.grad_clip"}))
    code, out, err = cli("diagnose", run, "--no-noise")
    assert code == 0, err
    assert out.startswith("verdict: unstable") and "step 3" in out
    saved = json.loads((run / "diagnosis.json").read_text())
    assert saved["fixes"][0]["overrides"] == ["train.lr=1"]


def test_a_steep_loss_fall_is_still_improving_even_when_the_coarse_error_did_not_move():
    table = history([1.6, 0.78, 0.53], [1.59, 0.81, 0.58], [0.15, 0.084, 0.062], [0.19, 0.097, 0.097])
    diagnosis = diagnose_history(table, facts(n_train=1222, train={"lr": 3e-3, "epochs": 3}))
    assert diagnosis.verdict == "still improving"
    # A gentle fall with a settled error is not.
    table = history([0.3, 0.06, 0.045], [0.15, 0.074, 0.065], [0.03, 0.013, 0.0097], [0.047, 0.0225, 0.018])
    assert diagnose_history(table, facts(n_train=10_000)).verdict == "good fit"


def test_unstable_run_that_also_overfits_says_so_and_regression_starts_from_the_mean_square():
    from synbiolab.diagnose import baseline_loss

    # Training loss jumps up twice (oscillation) while the gap is huge.
    table = history([1.0, 0.3, 0.56, 0.28, 0.58, 0.24], [1.5, 1.2, 1.5, 1.3, 1.6, 1.4],
                    [0.9, 0.3, 0.5, 0.25, 0.55, 0.24], [1.2, 1.1, 1.4, 1.3, 1.5, 1.4])
    diagnosis = diagnose_history(table, RunFacts(task="regression", data_kind="sequence"))
    assert diagnosis.verdict == "unstable"
    assert any(note.startswith("besides, the run shows overfitting") for note in diagnosis.notes)
    # An untrained network predicts about 0: the loss starts at the mean square, not the variance.
    assert baseline_loss("regression", np.array([[2.0], [4.0]])) == pytest.approx(10.0)
    assert baseline_loss("multiclass", np.array([0, 1, 1, 1])) == pytest.approx(
        -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


def test_loss_stuck_at_chance_with_a_huge_learning_rate_is_unstable_not_underfitting():
    # Units killed in the first steps: the loss sits at the trivial level from the first epoch on.
    table = history([2.30, 2.30, 2.30], [2.30, 2.30, 2.30], [0.90, 0.90, 0.90], [0.90, 0.90, 0.90])
    killed = diagnose_history(table, facts(train={"lr": 10.0, "optimizer": "sgd", "epochs": 3}))
    assert killed.verdict == "unstable" and "UNSTABLE_HIGH_LR" in killed.summary
    assert killed.fixes[0].overrides == ["train.lr=1"]
    # The same curve at a tiny rate is underfitting with a higher rate first.
    tiny = diagnose_history(table, facts(train={"lr": 1e-6, "optimizer": "adamw", "epochs": 3}))
    assert tiny.verdict == "underfitting" and tiny.fixes[0].overrides == ["train.lr=0.0001"]
    # A loss that blew up to many times its start and fell back is unstable too.
    spiked = history([9.2, 6.3, 2.9, 240.0, 48.0], [9.2, 6.3, 2.9, 2.8, 2.5], [0.9] * 5, [0.9] * 5)
    assert diagnose_history(spiked, facts()).verdict == "unstable"


def test_wobbles_of_a_loss_near_zero_are_not_oscillation():
    # Rises of 15 % at a loss of 0.05 (2 % of the 2.3 start) are noise of a converged run.
    train_loss = [2.23, 0.8, 0.15, 0.093, 0.056, 0.064, 0.031, 0.0355, 0.0357]
    val_loss = [2.23, 0.81, 0.2, 0.15, 0.09, 0.096, 0.065, 0.063, 0.063]
    train_error = [0.68, 0.19, 0.045, 0.026, 0.014, 0.018, 0.006, 0.0098, 0.0098]
    val_error = [0.69, 0.21, 0.074, 0.056, 0.028, 0.046, 0.032, 0.028, 0.028]
    diagnosis = diagnose_history(history(train_loss, val_loss, train_error, val_error), facts(n_train=1222))
    assert diagnosis.evidence["train_loss_rises"] == 0
    assert diagnosis.verdict == "good fit"
