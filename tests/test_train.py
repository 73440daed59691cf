"""End-to-end training: the CLI on digits, the run folder, resume, divergence, DDP, MNIST accuracy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from synbiolab import default_config, fit, load_run, register_model, train
from synbiolab.data.batches import InMemoryBatches
from synbiolab.errors import SynbiolabError
from synbiolab.models import MLP, MODELS, Ensemble


def test_cli_train_digits_end_to_end(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("train", "--data", "digits", "--model", "mlp", "--epochs", "30", "--set",
                            "model.hidden_units=[128]", "--out", out)
    assert code == 0, err
    for name in ("config.json", "history.csv", "metrics.json", "model.safetensors", "model.json",
                 "checkpoint/state.pt", "report.html", "figures/learning_curves.png",
                 "figures/confusion_matrix.png", "figures/misclassified.png"):
        assert (out / name).is_file(), name
    run = load_run(out)
    m = run.metrics
    assert m["test"]["accuracy"] > 0.90
    assert m["n_parameters"] == 64 * 128 + 128 + 128 * 10 + 10
    assert list(run.history.columns) == ["epoch", "step", "train_loss", "train_metric", "train_error", "val_loss",
                                         "val_metric", "val_error", "lr", "seconds"]
    assert len(run.history) == 30 and m["best_epoch"] == int(run.history["val_loss"].idxmin()) + 1
    spec = json.loads((out / "model.json").read_text())  # every model parameter, defaults included
    assert spec["params"] == {"hidden_units": [128], "activation": "relu", "dropout": 0.2, "input_dropout": 0.0,
                              "members": 1}
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["epochs"] == 30 and config["model"]["params"] == {"hidden_units": [128]}
    assert config["meta"]["versions"]["torch"] == torch.__version__
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 3
    assert f"weights of the best epoch ({m['best_epoch']} of 30" in report
    assert f"{m['test']['accuracy']:.4f}" in report
    # evaluate re-computes the same test accuracy from the saved weights
    code, stdout, _ = cli("evaluate", out)
    assert code == 0 and json.loads(stdout)["accuracy"] == pytest.approx(m["test"]["accuracy"])


def test_existing_out_is_never_overwritten(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = cli("train", "--data", "digits", "--epochs", "1", "--out", out)
    assert code == 2 and "already exists" in err and "--overwrite" in err and err.count("\n") == 1
    # --overwrite refuses a folder that is not a run, so a user's files are never deleted
    code, _, err = cli("train", "--data", "digits", "--epochs", "1", "--out", out, "--overwrite")
    assert code == 2 and (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--data", "mnits"], "unknown data set 'mnits'; valid: mnist, digits"),
        (["--model", "resnet"], "unknown model 'resnet'; valid: mlp, cnn"),
        (["--model", "dcgan"], "model 'dcgan' is a GAN: train it with `synbiolab gan --model dcgan`"),
        (["--set", "train.lrate=1"], "unknown key 'train.lrate'; valid keys:"),
        (["--set", "train.epochs=many"], "train.epochs: expected an integer, got 'many'"),
        (["--set", "model.hidden=[3]"], "unknown key 'model.hidden' for model 'mlp'; valid: model.hidden_units"),
        (["--optimizer", "lbfgs"], "train.optimizer='lbfgs' is unknown; valid: sgd, adam, adamw"),
    ],
)
def test_bad_input_gives_one_line(cli, tmp_path, args, expected):
    code, _, err = cli("train", "--data", "digits", "--epochs", "1", "--out", tmp_path / "r", *args)
    assert code == 2
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1 and "Traceback" not in err


def test_predict_reads_any_picture_and_rejects_non_images(cli, tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    assert cli("train", "--data", "digits", "--epochs", "20", "--out", out, "-q")[0] == 0
    from synbiolab.data.images import load_digits_arrays

    images, labels = load_digits_arrays()
    # dark ink on white paper, 10x larger than the training images: predict converts it
    picture = Image.fromarray(255 - images[labels == 3][0]).resize((80, 80), Image.NEAREST)
    picture.save(tmp_path / "three.png")
    code, stdout, err = cli("predict", out, tmp_path / "three.png")
    assert code == 0, err
    assert stdout.split(": ")[1].startswith("3 ")
    (tmp_path / "notes.txt").write_text("not a picture")
    code, _, err = cli("predict", out, tmp_path / "notes.txt")
    assert code == 2 and "notes.txt: not an image file" in err and err.count("\n") == 1


class NanAfter(MLP):
    """An MLP whose output turns NaN after a given number of training forward passes."""

    def __init__(self, input_shape=(1, 8, 8), n_outputs=10, nan_after: int = 25):
        super().__init__(input_shape, n_outputs, hidden_units=[16])
        self.nan_after, self.calls = nan_after, 0

    def forward(self, x):
        self.calls += self.training
        out = super().forward(x)
        return out * float("nan") if self.training and self.calls > self.nan_after else out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(cli, tmp_path):
    register_model("nan_after", NanAfter)
    try:
        out = tmp_path / "run"
        code, _, err = cli("train", "--data", "digits", "--model", "nan_after", "--epochs", "5", "--out", out)
        # digits: 1,222 training images / 128 = 10 steps an epoch; step 26 is in epoch 3
        assert code == 2 and "loss became nan at step 26 (epoch 3)" in err and err.count("\n") == 1
        ckpt = torch.load(out / "checkpoint" / "state.pt", weights_only=True)
        assert ckpt["step"] == 20 and len(ckpt["history"]) == 2
        assert json.loads((out / "metrics.json").read_text())["status"] == "diverged"
        assert "diverged" in (out / "report.html").read_text()
    finally:
        MODELS.pop("nan_after")


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_after_ctrl_c_reaches_the_same_weights(tmp_path, monkeypatch, ema_decay):
    cfg = default_config("digits", "cnn")
    cfg.train.epochs = 4
    cfg.train.augment = "shift_rotate"  # its generator must be restored too
    cfg.train.ema_decay = ema_decay  # and the moving average of the weights
    cfg.model.params = {"channels": [8, 16], "head_units": [32]}
    whole = train(cfg, out=tmp_path / "whole", verbose=False)

    real_next = InMemoryBatches.next
    calls = {"n": 0}

    def next_then_ctrl_c(self):
        calls["n"] += 1
        if calls["n"] == 17:  # in the middle of epoch 2
            os.kill(os.getpid(), signal.SIGINT)
        return real_next(self)

    monkeypatch.setattr(InMemoryBatches, "next", next_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=tmp_path / "cut", verbose=False)
    monkeypatch.setattr(InMemoryBatches, "next", real_next)
    ckpt = torch.load(tmp_path / "cut" / "checkpoint" / "state.pt", weights_only=True)
    assert ckpt["step"] == 17 and len(ckpt["history"]) == 1
    assert (tmp_path / "cut" / "report.html").is_file()  # a partial report
    resumed = train(None, resume=tmp_path / "cut", verbose=False)
    a = load_file(str(whole.path / "model.safetensors"))
    b = load_file(str(resumed.path / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert np.allclose(whole.history["val_loss"], resumed.history["val_loss"])
    assert resumed.metrics["test"]["accuracy"] == whole.metrics["test"]["accuracy"]


def test_best_epoch_weights_are_kept(tmp_path):
    cfg = default_config("digits", "mlp")
    cfg.train.epochs, cfg.train.lr, cfg.train.schedule = 12, 0.05, "none"  # a noisy, too-high learning rate
    run = train(cfg, out=tmp_path / "r", verbose=False)
    h = run.history
    best = int(h["val_loss"].idxmin())
    assert run.metrics["best_epoch"] == best + 1
    assert run.metrics["val"]["loss"] == pytest.approx(h["val_loss"][best], rel=1e-5)


def test_moving_average_of_the_weights_is_what_is_evaluated_and_saved(tmp_path, cli):
    cfg = default_config("digits", "mlp")
    cfg.train.epochs, cfg.train.lr, cfg.train.schedule = 12, 0.05, "none"  # noisy steps: averaging pays
    raw = train(cfg, out=tmp_path / "raw", verbose=False)
    cfg.train.ema_decay = 0.95
    averaged = train(cfg, out=tmp_path / "avg", verbose=False)
    # the same steps, but every epoch evaluates the average, which is less noisy than the last step's weights
    assert averaged.history["val_loss"].min() < raw.history["val_loss"].min()
    def rises(losses):  # how far the validation loss climbed back, summed over epochs
        return losses.diff().clip(lower=0).sum()

    assert rises(averaged.history["val_loss"]) < 0.5 * rises(raw.history["val_loss"])
    # the saved weights are the best epoch's average: evaluate recomputes the reported test accuracy
    code, stdout, err = cli("evaluate", tmp_path / "avg")
    assert code == 0, err
    assert json.loads(stdout)["accuracy"] == pytest.approx(averaged.metrics["test"]["accuracy"])
    # a checkpoint is resumed only with the averaging it was started with: by the CLI and by fit itself
    code, _, err = cli("train", "--resume", tmp_path / "avg", "--set", "train.ema_decay=0", "--epochs", "13")
    assert code == 2 and "train.ema_decay=0.0 cannot change a run that is resumed" in err and err.count("\n") == 1
    cfg.train.ema_decay, cfg.train.epochs = 0.0, 13
    with pytest.raises(SynbiolabError, match="started with a moving average of the weights; resume it with the "
                                             "train.ema_decay it was started with"):
        fit(averaged.load_model(), averaged.load_dataset(), cfg.train, run_dir=tmp_path / "avg", resume=True,
            verbose=False)


@pytest.mark.parametrize("keep", ["best_metric", "last"])
def test_train_keep_chooses_the_kept_epoch(tmp_path, keep):
    cfg = default_config("digits", "mlp")
    cfg.train.epochs, cfg.train.lr, cfg.train.schedule, cfg.train.keep = 12, 0.05, "none", keep
    run = train(cfg, out=tmp_path / "r", verbose=False)
    h, m = run.history, run.metrics
    kept = len(h) if keep == "last" else int(h["val_metric"].idxmax()) + 1
    assert m["best_epoch"] == kept
    # the saved weights are that epoch's: their validation accuracy is the one its history row holds
    assert m["val"]["accuracy"] == pytest.approx(h["val_metric"][kept - 1], abs=1e-6)
    words = "the last epoch" if keep == "last" else "highest validation accuracy"
    assert words in (tmp_path / "r" / "report.html").read_text()


def test_early_stopping_with_patience(tmp_path):
    cfg = default_config("digits", "mlp")
    cfg.train.epochs, cfg.train.patience, cfg.train.schedule = 200, 3, "none"
    run = train(cfg, out=tmp_path / "r", verbose=False)
    m = run.metrics
    assert m["stopped_early"] and m["epochs_run"] == m["best_epoch"] + 3 and m["epochs_run"] < 200


@pytest.mark.slow  # two gloo processes and a reference run: about 30 s on 2 cores
def test_ddp_two_processes_match_one(tmp_path):
    common = ["--data", "digits", "--model", "mlp", "--epochs", "15", "--device", "cpu", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "synbiolab", "train", *common, "--out", tmp_path / "one"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                          "29517", "-m", "synbiolab", "train", *common, "--out", tmp_path / "two"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    one, two = load_run(tmp_path / "one"), load_run(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "config.json").read_text())["meta"]["world_size"] == 2
    assert len(two.history) == 15
    assert abs(one.metrics["test"]["accuracy"] - two.metrics["test"]["accuracy"]) < 0.03
    assert two.metrics["test"]["accuracy"] > 0.9


@pytest.mark.slow  # a whole MNIST epoch; tutorial 05 trains the CNN on MNIST in the fast suite
def test_mnist_cnn_one_epoch(mnist_dir, tmp_path):
    cfg = default_config("mnist", "cnn")
    # one epoch of the default CNN; batches of 64 give twice the updates of the default 128 (98.9 % vs 98.65 %)
    cfg.train.epochs, cfg.train.batch_size, cfg.train.augment = 1, 64, "none"
    run = train(cfg, out=tmp_path / "cnn", verbose=False)
    assert run.metrics["test"]["accuracy"] >= 0.985


def test_quickstart_falls_back_to_digits_offline(cli, tmp_path, monkeypatch):
    import synbiolab.data.images as images

    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    monkeypatch.setattr(images, "MNIST_MIRRORS", ("file:///nonexistent/",))
    code, out, err = cli("quickstart", "--out", tmp_path)
    assert code == 0, err
    assert "MNIST unavailable" in out and "using scikit-learn's bundled 8x8 digits instead" in out
    runs = sorted(p.name for p in tmp_path.iterdir())
    assert len(runs) == 2
    assert runs[0].startswith("quickstart-digits-cnn") and runs[1].startswith("quickstart-digits-mlp")
    for run in runs:
        m = load_run(tmp_path / run).metrics
        assert m["test"]["accuracy"] > 0.9
        assert f"{m['test']['accuracy']:.4f}" in out  # the table shows each model's test accuracy
    assert "quickstart on digits" in out and "report.html" in out


def test_deep_ensemble_trains_its_members_apart_and_predicts_their_mean(tmp_path, cli):
    cfg = default_config("digits", "mlp")
    cfg.train.epochs = 4
    cfg.model.params["members"] = 3
    run = train(cfg, out=tmp_path / "ens", verbose=False)
    model = run.load_model()
    assert isinstance(model, Ensemble) and len(model.members) == 3
    first = [next(member.parameters()) for member in model.members]  # each member from its own initial weights
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    ds = run.load_dataset()
    outputs = model.member_outputs(ds.test.x)  # (3, N, 10)
    assert torch.allclose(model(ds.test.x), outputs.mean(0), atol=1e-6)
    # cross-entropy is convex in the logits, so the mean's loss is at most the members' mean loss (Jensen)
    alone = [torch.nn.functional.cross_entropy(o, ds.test.y).item() for o in outputs]
    assert torch.nn.functional.cross_entropy(model(ds.test.x), ds.test.y).item() <= np.mean(alone)
    accuracy = run.metrics["test"]["accuracy"]
    assert accuracy > 0.9
    # the run folder reloads the ensemble: evaluate recomputes the reported accuracy; the report says what it is
    code, stdout, err = cli("evaluate", tmp_path / "ens")
    assert code == 0, err
    assert json.loads(stdout)["accuracy"] == pytest.approx(accuracy)
    assert "A deep ensemble of\n3 copies" in (tmp_path / "ens" / "report.html").read_text()
    code, _, err = cli("train", "--data", "digits", "--set", "model.members=0", "--out", tmp_path / "bad")
    assert code == 2 and err.count("\n") == 1 and "model.members=0 is out of range; valid: 1 to 64" in err
    code, _, err = cli("train", "--data", "digits", "--set", "train.calibrate=true", "--out", tmp_path / "bad")
    assert code == 2 and err.count("\n") == 1 and "train.calibrate rescales a regressor's outputs" in err
    assert not (tmp_path / "bad").exists()  # refused before a run folder is made
