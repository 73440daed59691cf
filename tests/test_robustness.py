"""A careless or hostile user gets one clear line, never a traceback, a wrong result or a lost file.

Each test reproduces a case met when the tools were tried as a hostile user would (bad settings, damaged run
folders, planted pickles, a read-only or full disk, resume with other settings) and checks the one-line message,
the exit code and that every file outside the run folder, and the run folder itself where nothing may change,
is as it was.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from synbiolab import TrainConfig, build_model, fit, load_dataset, register_model
from synbiolab.errors import SynbiolabError
from synbiolab.models import MLP, MODELS

TINY = ("--data", "digits", "--model", "mlp", "--epochs", "1", "--set", "model.hidden_units=[16]", "--quiet")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its content (the lock file, which records its writer's
    process id, is left out)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != ".lock"}


def one_line(err: str) -> str:
    """The single error line, checked to be alone and without a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small finished runs: an MLP without a schedule (2 epochs), a CNN, and a tiny DCGAN."""
    from synbiolab.cli import main

    root = tmp_path_factory.mktemp("runs")
    jobs = {
        "mlp": ["train", *TINY[:5], "2", *TINY[6:], "--set", "train.schedule=none"],
        "cnn": ["train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--set", "model.channels=[4]",
                "--set", "model.head_units=[8]", "--quiet"],
        "gan": ["gan", "--data", "digits", "--model", "dcgan", "--epochs", "1", "--set", "model.base_channels=4",
                "--set", "model.latent_size=8", "--set", "gan.judge_epochs=1", "--set", "gan.eval_samples=50",
                "--set", "gan.final_samples=100", "--quiet"],
    }
    for name, args in jobs.items():
        try:
            main([*args, "--out", str(root / name)])
        except SystemExit as exc:
            assert exc.code in (0, None), name
    return root


def copy_run(runs: Path, name: str, dest: Path) -> Path:
    return Path(shutil.copytree(runs / name, dest, ignore=shutil.ignore_patterns(".lock")))


# --- settings: types and ranges checked at the config, in one place (items 10, 16, 17)


@pytest.mark.parametrize("setting,message", [
    ("model.hidden_units=abc", "model.hidden_units: expected a list of integers such as [64, 32], got ['abc']; "
                               "valid: each entry 1 to 16,384"),
    ("model.dropout=1.5", "model.dropout=1.5 is out of range; valid: 0 <= value < 1"),
    ("train.lr=-1", "train.lr=-1.0 is out of range; valid: 0 < value <= 100"),
    ("train.lr=1e999", "train.lr=inf is out of range; valid: 0 < value <= 100"),
    ("train.epochs=-1", "train.epochs=-1 is out of range; valid: 1 to 100,000"),
    ("train.batch_size=0", "train.batch_size=0 is out of range; valid: 1 to 1,000,000"),
    ("model.hidden_units=[0]", "model.hidden_units=[0]: the entry 0 is out of range; valid: each entry 1 to 16,384"),
    ("model.hidden_units=[64,1.5]", "model.hidden_units: expected a list of integers such as [64, 32], got "
                                    "[64, 1.5]; valid: each entry 1 to 16,384"),
    ("train.optimizer=rmsprop", "train.optimizer='rmsprop' is unknown; valid: sgd, adam, adamw"),
    ("train.momentum=1", "train.momentum=1.0 is out of range; valid: 0 <= value < 1"),
    ("train.seed=-1", "train.seed=-1 is out of range; valid: 0 to 4,294,967,295"),
    ("data.label_noise=2", "data.label_noise=2.0 is out of range; valid: 0 to 1"),
    ("model.hidden_units={[1]: 2}", "model.hidden_units: expected a list of integers such as [64, 32], got "
                                    "['{[1]: 2}']; valid: each entry 1 to 16,384"),
])
def test_a_bad_setting_names_the_key_and_the_valid_range(cli, tmp_path, setting, message):
    code, _, err = cli("train", *TINY, "--set", setting, "--out", tmp_path / "run")
    assert code == 2 and one_line(err) == f"error: --set: {message}"
    assert not (tmp_path / "run").exists()  # refused before any folder was made


def test_a_bad_named_option_names_the_option(cli, tmp_path):
    code, _, err = cli("train", "--data", "digits", "--epochs", "-3", "--out", tmp_path / "run")
    assert code == 2 and one_line(err) == "error: --epochs: train.epochs=-3 is out of range; valid: 1 to 100,000"
    code, _, err = cli("train", *TINY, "--lr", "0", "--out", tmp_path / "run")
    assert code == 2 and "--lr: train.lr=0.0 is out of range; valid: 0 < value <= 100" in one_line(err)
    code, _, err = cli("train", *TINY, "--classes", "3,x", "--out", tmp_path / "run")
    assert code == 2 and one_line(err) == ("error: --classes: data.classes: expected a list of integers such as "
                                           "[64, 32], got [3, 'x']; valid: each entry >= 0")
    assert not (tmp_path / "run").exists()


def test_the_same_ranges_hold_for_every_model_and_for_config_files(cli, tmp_path):
    # one MODEL_RANGES entry per parameter name: the CNN's head_units and the MLP's hidden_units obey it alike
    code, _, err = cli("train", "--data", "digits", "--model", "cnn", "--set", "model.head_units=-1", "--out",
                       tmp_path / "a")
    assert code == 2 and ("model.head_units=[-1]: the entry -1 is out of range; valid: each entry 1 to 16,384 ([] or "
                          "0 for none)") in one_line(err)
    code, _, err = cli("train", "--data", "digits", "--model", "mlp", "--set", "model.hidden_units=[0]", "--out",
                       tmp_path / "a")
    assert code == 2 and "the entry 0 is out of range; valid: each entry 1 to 16,384" in one_line(err)
    code, _, err = cli("train", "--data", "digits", "--model", "cnn", "--set", "model.channels=[]", "--out",
                       tmp_path / "a")
    assert code == 2 and "model.channels=[] needs at least 1 entry" in one_line(err)
    config = tmp_path / "c.yaml"
    config.write_text("data: {name: digits}\nmodel: {name: mlp, params: {dropout: 1.0}}\ntrain: {epochs: 1}\n")
    code, _, err = cli("train", "--config", config, "--out", tmp_path / "a")
    assert code == 2 and one_line(err) == f"error: {config}: model.dropout=1.0 is out of range; valid: 0 <= value < 1"


def test_model_settings_its_constructor_refuses_leave_no_run_folder(cli, tmp_path):
    # checked on the meta device before the folder is made: nothing half-made is left for --overwrite to clear
    code, _, err = cli("train", *TINY, "--set", "model.activation=swish", "--out", tmp_path / "run")
    assert code == 2 and one_line(err) == "error: activation 'swish' is unknown; valid: relu, gelu, tanh, sigmoid, silu"
    code, _, err = cli("train", *TINY, "--set", "model.hidden_units=[16384,16384,16384]", "--out", tmp_path / "run")
    assert code == 2 and one_line(err).startswith("error: model 'mlp' would have 538,132,490 parameters, more than "
                                                  "the 100,000,000 synbiolab trains")
    code, _, err = cli("gan", "--data", "digits", "--model", "wgan_seq", "--out", tmp_path / "run")
    assert code == 2 and "generates sequence data but 'digits' holds image data" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_a_yaml_alias_bomb_is_refused_in_one_short_line(cli, tmp_path):
    # six lines of aliases expand into 531,441 entries; the message quotes a few of them, not all
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcde", "bcdef", strict=True)]
    config = tmp_path / "bomb.yaml"
    config.write_text("meta:\n" + "".join(f"  {line}\n" for line in levels)
                      + "data: {name: digits}\nmodel: {name: mlp, params: {hidden_units: *f}}\n")
    code, _, err = cli("train", "--config", config, "--out", tmp_path / "run")
    line = one_line(err)
    assert code == 2 and line.startswith(f"error: {config}: model.hidden_units: expected a list of integers")
    assert len(line) < 300 and not (tmp_path / "run").exists()


def test_python_settings_get_the_same_checks():
    # TrainConfig(epochs=-3) once trained for 0 epochs and reported "best epoch 0/0"
    ds = load_dataset("digits")
    model = build_model("mlp", ds, hidden_units=[8])
    with pytest.raises(SynbiolabError, match=r"^train.epochs=-3 is out of range; valid: 1 to 100,000$"):
        fit(model, ds, TrainConfig(epochs=-3), verbose=False)
    with pytest.raises(SynbiolabError, match=r"train.batch_size: expected an integer, got 'big'"):
        fit(model, ds, TrainConfig(batch_size="big"), verbose=False)


def test_onecycle_over_exactly_four_steps_trains(cli, tmp_path):
    # 500 training images in batches of 128, one epoch: 4 steps in all once divided by zero in the schedule
    code, _, err = cli("train", *TINY, "--train-size", "500", "--set", "model.hidden_units=[32]", "--out",
                       tmp_path / "run")
    assert code == 0, err
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and (tmp_path / "run" / "model.safetensors").is_file()


def test_onecycle_warms_up_for_at_least_one_step():
    from synbiolab.train import make_schedule

    for steps in (3, 4, 5, 8, 100):
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        schedule = make_schedule(TrainConfig(lr=0.1, schedule="onecycle", optimizer="sgd"), optimizer, steps)
        rates = []
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        assert max(rates) == pytest.approx(0.1, rel=0.05), steps  # the peak is reached
        assert rates[0] < 0.1 / 10 and rates[-1] < rates[0] * 2, steps  # and it starts and ends low


# --- damaged run folders: one line naming the file (item 11)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


class Planted:
    """A pickle that would create a file when unpickled: it must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


DAMAGE = {
    "model.json without input_shape": ("model.json", lambda p: p.write_text(json.dumps(
        {k: v for k, v in json.loads(p.read_text()).items() if k != "input_shape"})),
        "damaged model description (no 'input_shape')"),
    "model.json of an unknown model": ("model.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "name": "os.system"})), "damaged model description (unknown model"),
    "model.json with a huge layer": ("model.json", lambda p: p.write_text(json.dumps(
        {**json.loads(p.read_text()), "params": {"hidden_units": [100_000_000]}})),
        "model.hidden_units=[100000000]: the entry 100000000 is out of range"),
    "truncated weights": ("model.safetensors", _truncate, "damaged weights file"),
    "random weights": ("model.safetensors", lambda p: p.write_bytes(os.urandom(5000)), "damaged weights file"),
    "a pickle as weights": ("model.safetensors", lambda p: p.write_bytes(pickle.dumps(Planted(p.parent / "ran"))),
                            "damaged weights file"),
    "NaN weights": ("model.safetensors", None, "holds NaN or infinite values"),
}


def _nan_weights(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    first = next(iter(state))
    state[first] = torch.full_like(state[first], float("nan"))
    save_file(state, str(path))


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("verb", ["evaluate", "predict"])
def test_a_damaged_model_file_is_named(cli, runs, tmp_path, damage, verb):
    from synbiolab.generate import save_png

    run = copy_run(runs, "mlp", tmp_path / "run")
    name, spoil, message = DAMAGE[damage]
    (spoil or _nan_weights)(run / name)
    picture = tmp_path / "digit.png"
    save_png(__import__("PIL.Image", fromlist=["Image"]).new("L", (20, 20), 255), picture)
    before = snapshot(tmp_path)
    args = ("evaluate", run) if verb == "evaluate" else ("predict", run, picture)
    code, _, err = cli(*args)
    line = one_line(err)
    assert code == 2 and line.startswith(f"error: {run / name}: ") and message in line
    assert snapshot(tmp_path) == before and not (run / "ran").exists()


def test_weights_of_another_architecture_are_named(cli, runs, tmp_path):
    run = copy_run(runs, "mlp", tmp_path / "run")
    shutil.copy(runs / "cnn" / "model.safetensors", run / "model.safetensors")
    code, _, err = cli("evaluate", run)
    assert code == 2 and one_line(err) == (f"error: {run / 'model.safetensors'}: the weights are not those of the "
                                           "model in model.json ('mlp'; another architecture or size)")


def test_a_corrupt_metrics_json_does_not_stop_evaluate_predict_or_sample(cli, runs, tmp_path):
    # evaluate, predict and sample read the model, not metrics.json: they still work, and say the right numbers
    run = copy_run(runs, "mlp", tmp_path / "run")
    expected = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    (run / "metrics.json").write_text('{"test": {"accuracy": 0.9')
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    assert json.loads(out)["accuracy"] == pytest.approx(expected)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    from PIL import Image

    for i in range(2):
        Image.new("L", (30, 30), 255 - 100 * i).save(pictures / f"p{i}.png")
    code, out, err = cli("predict", run, pictures)  # a folder: every picture in it (item 23)
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines()] == [str(pictures / "p0.png"), str(pictures / "p1.png")]
    gan = copy_run(runs, "gan", tmp_path / "gan")
    (gan / "metrics.json").write_text("]]")
    code, out, err = cli("sample", gan, "--n", "4", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_on_a_folder_without_pictures_says_so(cli, runs, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("buy milk")
    code, _, err = cli("predict", runs / "mlp", tmp_path / "notes")
    assert code == 2 and "is a folder without pictures" in one_line(err)
    code, _, err = cli("predict", runs / "mlp", tmp_path / "notes" / "todo.txt", "--top", "0")
    assert code == 2 and one_line(err) == "error: --top 0: show at least 1 class per picture"


@pytest.mark.parametrize("damage", ["model.json without data_kind", "truncated weights", "a pickle as weights"])
def test_sample_names_a_damaged_gan_file(cli, runs, tmp_path, damage):
    gan = copy_run(runs, "gan", tmp_path / "gan")
    if damage == "model.json without data_kind":
        spec = json.loads((gan / "model.json").read_text())
        del spec["data_kind"]
        (gan / "model.json").write_text(json.dumps(spec))
        name, message = "model.json", "damaged model description (no 'data_kind')"
    else:
        name, message = "model.safetensors", "damaged weights file"
        if damage == "truncated weights":
            _truncate(gan / name)
        else:
            (gan / name).write_bytes(pickle.dumps(Planted(tmp_path / "ran")))
    before = snapshot(tmp_path)
    code, _, err = cli("sample", gan, "--n", "4", "--out", tmp_path / "s.png")
    line = one_line(err)
    assert code == 2 and line.startswith(f"error: {gan / name}: ") and message in line
    assert snapshot(tmp_path) == before and not (tmp_path / "ran").exists()


def test_sample_refuses_numbers_that_would_exhaust_memory(cli, runs, tmp_path):
    code, _, err = cli("sample", runs / "gan", "--n", "100000000", "--out", tmp_path / "s.png")
    assert code == 2 and one_line(err) == "error: --n 100000000: draw 1 to 10,000 image samples at a time"
    code, _, err = cli("sample", runs / "gan", "--seed", "-1", "--out", tmp_path / "s.png")
    assert code == 2 and "--seed -1: out of range" in one_line(err)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("damage", ["planted pickle", "truncated", "random bytes", "another architecture"])
@pytest.mark.parametrize("kind", ["train", "gan"])
def test_a_poisoned_checkpoint_is_refused_on_resume(cli, runs, tmp_path, damage, kind):
    run = copy_run(runs, "mlp" if kind == "train" else "gan", tmp_path / "run")
    state = run / "checkpoint" / "state.pt"
    if damage == "planted pickle":
        state.write_bytes(pickle.dumps({"model": Planted(tmp_path / "ran")}))
    elif damage == "truncated":
        _truncate(state)
    elif damage == "random bytes":
        state.write_bytes(os.urandom(4000))
    else:
        shutil.copy(runs / ("cnn" if kind == "train" else "mlp") / "checkpoint" / "state.pt", state)
    before = snapshot(tmp_path)
    code, _, err = cli(kind, "--resume", run, "--quiet")
    line = one_line(err)
    assert code == 2 and line.startswith(f"error: {state}: ")
    assert "cannot be resumed" in line or "do not fit this run's model" in line
    assert snapshot(tmp_path) == before and not (tmp_path / "ran").exists()


def test_a_gan_resumes_from_its_folder(cli, runs, tmp_path):
    # gan --resume once lost the GAN settings of config.json and failed with an AttributeError
    gan = copy_run(runs, "gan", tmp_path / "gan")
    weights = (gan / "model.safetensors").read_bytes()
    code, _, err = cli("gan", "--resume", gan, "--quiet")
    assert code == 0, err
    assert (gan / "model.safetensors").read_bytes() == weights  # a finished run: the same weights again


def test_resume_without_config_json_says_how_to_start_again(cli, runs, tmp_path):
    run = copy_run(runs, "mlp", tmp_path / "run")
    (run / "config.json").unlink()
    code, _, err = cli("train", "--resume", run)
    assert code == 2 and "has no config.json" in one_line(err) and "--overwrite" in err


# --- resume with other settings: apply what is safe, refuse the rest (item 19)


def test_resume_refuses_a_setting_it_cannot_continue_with(cli, runs, tmp_path):
    run = copy_run(runs, "mlp", tmp_path / "run")
    before = snapshot(tmp_path)
    code, _, err = cli("train", "--resume", run, "--epochs", "5", "--set", "train.lr=0.5")
    line = one_line(err)
    assert code == 2 and line.startswith("error: train --resume: --set train.lr=0.5 cannot change a run that is "
                                         "resumed (it was trained with train.lr=0.001)")
    assert "train.epochs" in line  # the settings that may change are listed
    code, _, err = cli("train", "--resume", run, "--model", "cnn")
    assert code == 2 and "--model model.name='cnn' cannot change" in one_line(err)
    code, _, err = cli("train", "--resume", run, "--epochs", "1")
    assert code == 2 and "train.epochs=1 is fewer than the 2 epochs this run has already trained" in one_line(err)
    code, _, err = cli("train", "--resume", run, "--out", tmp_path / "elsewhere")
    assert code == 2 and "--out and --overwrite do not go with it" in one_line(err)
    assert snapshot(tmp_path) == before


def test_resume_with_more_epochs_continues_and_says_so(cli, runs, tmp_path):
    run = copy_run(runs, "mlp", tmp_path / "run")
    code, out, err = cli("train", "--resume", run, "--epochs", "4")
    assert code == 0, err
    assert f"resuming {run} with train.epochs 2 -> 4 (2 more)" in out
    history = (run / "history.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3", "4"]
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["epochs"] == 4
    assert config["meta"]["resumed"][0]["changes"] == ["train.epochs 2 -> 4 (2 more)"]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 4


def test_more_epochs_are_refused_when_a_schedule_was_planned_over_the_old_ones(cli, tmp_path):
    code, _, err = cli("train", *TINY, "--out", tmp_path / "run")  # the MLP recipe's one-cycle schedule
    assert code == 0, err
    code, _, err = cli("train", "--resume", tmp_path / "run", "--epochs", "3")
    assert code == 2 and "train.epochs cannot change for a run with train.schedule=onecycle" in one_line(err)


# --- a read-only folder and a full disk (item 12)


def read_only(monkeypatch, root: Path) -> None:
    """Make every write under `root` fail as on a read-only file system (the tests run as root, whom chmod does
    not stop)."""
    import builtins
    import io

    root = str(root)

    def inside(path) -> bool:
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(root)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))

    real_open, real_os_open, real_mkdir, real_replace = io.open, os.open, os.mkdir, os.replace

    def guarded_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if inside(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guarded_replace(src, dst, *args, **kwargs):
        if inside(dst):
            refuse(dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    monkeypatch.setattr(os, "replace", guarded_replace)


def test_a_read_only_folder_is_one_line_and_nothing_changes(cli, runs, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    run = copy_run(runs, "mlp", ro / "run")
    before = snapshot(tmp_path)
    read_only(monkeypatch, ro)
    code, _, err = cli("train", *TINY, "--out", ro / "new")
    assert code == 2 and one_line(err) == (f"error: {ro / 'new'}: cannot create the folder: the folder is on a "
                                           "read-only file system; nothing was written")
    code, _, err = cli("train", *TINY, "--out", run, "--overwrite")
    assert code == 2 and one_line(err) == (f"error: {run}: cannot write into this folder: the folder is on a "
                                           "read-only file system; nothing was changed")
    code, _, err = cli("train", "--resume", run)
    assert code == 2 and f"error: {run}: cannot write into this folder" in one_line(err)
    code, _, err = cli("sample", runs / "gan", "--out", ro / "s.png")
    assert code == 2 and one_line(err).startswith(f"error: {ro}: cannot write s.png: the folder is on a read-only")
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_a_full_disk_mid_run_keeps_the_last_checkpoint_and_resume_finishes_it(cli, runs, tmp_path, monkeypatch):
    args = ("train", "--data", "digits", "--model", "mlp", "--epochs", "3", "--set", "model.hidden_units=[16]",
            "--set", "train.schedule=none", "--quiet", "--out")
    code, _, err = cli(*args, tmp_path / "whole")
    assert code == 0, err
    real_replace, writes = os.replace, {"n": 0}

    def disk_full_at_the_second_checkpoint(src, dst, *a, **kw):
        if str(dst).endswith("state.pt"):
            writes["n"] += 1
            if writes["n"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", disk_full_at_the_second_checkpoint)
    run = tmp_path / "run"
    code, _, err = cli(*args, run)
    monkeypatch.undo()
    line = one_line(err)
    assert code == 2 and line.startswith(f"error: {run / 'checkpoint'}: cannot write state.pt: the disk is full")
    assert f"continue with synbiolab train --resume {run}" in line
    assert not list(tmp_path.rglob("*.tmp"))
    # the folder is as the first epoch left it: its checkpoint and a history of that one epoch
    assert torch.load(run / "checkpoint" / "state.pt", weights_only=True)["step"] == 10
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2
    code, _, err = cli("train", "--resume", run, "--quiet")
    assert code == 0, err
    assert (run / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


def test_a_full_disk_at_the_first_write_leaves_no_folder(cli, tmp_path, monkeypatch):
    real_replace = os.replace

    def full(src, dst, *a, **kw):
        if str(dst).endswith("kind.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", full)
    code, _, err = cli("train", *TINY, "--out", tmp_path / "run")
    assert code == 2 and one_line(err) == (f"error: {tmp_path / 'run'}: cannot write kind.json: the disk is full; "
                                           "nothing was replaced")
    assert list(tmp_path.iterdir()) == []


# --- a non-finite epoch is never checkpointed (item 22)


class NanInEval(MLP):
    """An MLP whose evaluation output turns NaN from a given epoch on (its training loss stays finite)."""

    def __init__(self, input_shape=(1, 8, 8), n_outputs=10, nan_from_epoch: int = 2):
        super().__init__(input_shape, n_outputs, hidden_units=[16])
        self.nan_from_epoch, self.evaluations = nan_from_epoch, 0

    def train(self, mode: bool = True):
        if not mode:
            self.evaluations += 1  # each epoch evaluates twice: the training subsample, then the validation split
        return super().train(mode)

    def forward(self, x):
        out = super().forward(x)
        spoilt = not self.training and self.evaluations >= 2 * self.nan_from_epoch - 1
        return out * float("nan") if spoilt else out


@pytest.mark.parametrize("nan_from_epoch", [1, 2])
def test_a_non_finite_epoch_is_never_written_or_checkpointed(cli, tmp_path, nan_from_epoch):
    register_model("nan_in_eval", NanInEval)
    try:
        run = tmp_path / "run"
        code, _, err = cli("train", "--data", "digits", "--model", "nan_in_eval", "--epochs", "3", "--set",
                           f"model.nan_from_epoch={nan_from_epoch}", "--out", run)
        line = one_line(err)
        assert code == 2 and "loss became non-finite at step" in line
        assert f"(epoch {nan_from_epoch}: " in line and "validation loss nan" in line
        state = run / "checkpoint" / "state.pt"
        if nan_from_epoch == 1:
            assert "no checkpoint was written (it diverged in the first epoch)" in line
            assert not state.exists() and not (run / "history.csv").exists()
        else:
            assert f"the last good checkpoint is kept in {run / 'checkpoint'}" in line
            checkpoint = torch.load(state, weights_only=True)
            assert len(checkpoint["history"]) == 1 and checkpoint["step"] == 10
            assert len((run / "history.csv").read_text().strip().splitlines()) == 2
    finally:
        MODELS.pop("nan_in_eval")


# --- any --set a user can type: the config accepts it with a valid value or refuses it in one line


def _settings_strategy():
    from hypothesis import strategies as st

    from synbiolab.config import RANGES, valid_keys
    from synbiolab.config import default_config as make_config

    keys = sorted({k for name in MODELS for k in valid_keys(make_config("digits", name))} | set(RANGES)
                  | {"model.params", "meta.x", "gan", "train.", ".lr"})
    scalars = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(), st.none(), st.text(max_size=30), st.sampled_from(["none", "nan", "-inf", "1e999", "0x10"]))
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=12)
    text = st.one_of(values.map(repr), values.map(lambda v: json.dumps(v, default=str)), st.text(max_size=60),
                     st.sampled_from(["[" * 300, "{[1]: 2}", "[1,,2]", "1,2,x", "'", "\x00", "[[]]"]))
    key = st.one_of(st.sampled_from(keys), st.text(max_size=20),
                    st.builds(lambda s, t: f"{s}.{t}", st.sampled_from(["data", "model", "train", "gan"]),
                              st.text(max_size=12)))
    return st.sampled_from(sorted(MODELS)), st.lists(st.tuples(key, text), min_size=1, max_size=4)


_MODELS, _SETS = _settings_strategy()


def _check_accepted(config) -> None:
    """What a config accepted must satisfy: every value of its type and range, and config.json re-reads."""
    from synbiolab.config import Config, check_section, check_value
    from synbiolab.models.registry import model_parameters

    for section in ("data", "train"):
        check_section(getattr(config, section), section)
    if config.gan is not None:
        check_section(config.gan, "gan")
    defaults = model_parameters(config.model.name)
    for key, value in config.model.params.items():
        assert key in defaults
        check_value(f"model.{key}", value, model=config.model.name)
    as_json = json.loads(json.dumps(config.to_dict(), allow_nan=False))
    assert Config.from_dict(as_json).to_dict() == as_json


def test_random_settings_raise_only_the_one_line_error():
    from hypothesis import HealthCheck, given, settings

    from synbiolab.config import apply_overrides
    from synbiolab.config import default_config as make_config

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_MODELS, _SETS)
    def check(model, sets):
        config = make_config("digits", model)
        try:
            apply_overrides(config, [f"{key}={text}" for key, text in sets])
        except SynbiolabError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
            return
        _check_accepted(config)

    check()


def test_random_config_files_raise_only_the_one_line_error(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from synbiolab.config import load_config

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.text(max_size=300).map(str.encode), st.binary(max_size=300)),
           st.sampled_from([".yaml", ".json"]))
    def check(content, suffix):
        path = tmp_path / f"c{suffix}"
        path.write_bytes(content)  # any bytes: text, or not even UTF-8
        try:
            config = load_config(path)
        except SynbiolabError as exc:
            assert "\n" not in str(exc).strip()
            return
        _check_accepted(config)

    check()


# --- design: a damaged generator or predictor is named, a second writer refused


@pytest.fixture(scope="module")
def sequence_runs(tmp_path_factory):
    """A tiny sequence GAN on random 40-nt DNA and a tiny expression predictor of the same length."""
    import random

    from synbiolab.cli import main

    root = tmp_path_factory.mktemp("sequences")
    rng = random.Random(0)
    dna = ["".join(rng.choice("ACGT") for _ in range(40)) for _ in range(300)]
    (root / "natural.fasta").write_text("".join(f">n{i}\n{s}\n" for i, s in enumerate(dna)))
    (root / "library.csv").write_text("seq,strength\n" + "".join(
        f"{s},{1 + s.count('G') + s.count('C') + rng.random():.3f}\n" for s in dna))
    for args in (["gan", "--data", root / "natural.fasta", "--model", "wgan_seq", "--epochs", "1", "--set",
                  "model.channels=8", "--set", "model.n_blocks=1", "--set", "gan.eval_samples=50", "--set",
                  "gan.final_samples=100", "--out", root / "gan"],
                 ["train", "--data", root / "library.csv", "--seq-col", "seq", "--target", "strength", "--model",
                  "cnn1d", "--epochs", "1", "--set", "model.channels=[8]", "--set", "model.head_units=[8]", "--out",
                  root / "predictor"]):
        try:
            main([str(a) for a in args] + ["--quiet"])
        except SystemExit as exc:
            assert exc.code in (0, None), args
    return root / "gan", root / "predictor"


def test_design_names_a_damaged_generator_or_predictor(cli, sequence_runs, tmp_path):
    gan, predictor = sequence_runs
    base = ("--n", "50", "--top", "5", "--out", tmp_path / "design")
    generator = copy_run(gan.parent, gan.name, tmp_path / "gan")
    spec = json.loads((generator / "model.json").read_text())
    del spec["input_shape"]
    (generator / "model.json").write_text(json.dumps(spec))
    before = snapshot(tmp_path)
    code, _, err = cli("design", "--generator", generator, "--predictor", predictor, *base)
    assert code == 2 and one_line(err) == (f"error: {generator / 'model.json'}: damaged model description (no "
                                           "'input_shape'); retrain the run or restore the file")
    assert snapshot(tmp_path) == before
    broken = copy_run(predictor.parent, predictor.name, tmp_path / "predictor")
    _truncate(broken / "model.safetensors")
    before = snapshot(tmp_path)
    code, _, err = cli("design", "--generator", gan, "--predictor", broken, *base)
    assert code == 2 and one_line(err).startswith(f"error: {broken / 'model.safetensors'}: damaged weights file")
    code, _, err = cli("design", "--generator", gan, "--predictor", predictor, "--n", "100000000", "--out",
                       tmp_path / "design")
    assert code == 2 and "sample 1 to 1,000,000 sequences" in one_line(err)
    assert snapshot(tmp_path) == before and not (tmp_path / "design").exists()


def test_design_runs_with_a_corrupt_metrics_json_and_refuses_a_second_writer(cli, sequence_runs, tmp_path):
    from synbiolab.io import FolderLock

    gan, predictor = sequence_runs
    generator = copy_run(gan.parent, gan.name, tmp_path / "gan")
    (generator / "metrics.json").write_text("{")
    out = tmp_path / "design"
    code, _, err = cli("design", "--generator", generator, "--predictor", predictor, "--n", "60", "--top", "4",
                       "--out", out)
    assert code == 0, err
    assert len((out / "designs.fasta").read_text().splitlines()) == 8
    before = snapshot(out)
    with FolderLock(out):  # another process writing the folder
        code, _, err = cli("design", "--generator", generator, "--predictor", predictor, "--n", "60", "--top", "4",
                           "--out", out, "--overwrite")
    assert code == 2 and f"another synbiolab process is writing this folder (process {os.getpid()})" in one_line(err)
    assert snapshot(out) == before
