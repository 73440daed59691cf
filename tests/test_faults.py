"""Kill -9 at random moments: a resumed run reaches the uninterrupted run's weights bit for bit, and no temporary
file is left behind.

Each training runs in its own process, killed with SIGKILL either after a random delay (a random step) or while
it writes a file (the file is cut to half its length first, as a kill half-way through a write leaves it). The
processes are forked from a server that imported synbiolab once, so that a kill costs milliseconds rather than an
import. The fast tests train `fit` and `fit_gan` on the 8x8 digits; the slow one kills the whole `train` and `gan`
jobs (configs, models, reports) many times.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
import traceback
from pathlib import Path

import pytest

# --- what runs in the forked processes


def _kill_on_write(target: int, only: str | None) -> None:
    """SIGKILL this process during its `target`-th file write (counting only files whose name holds `only`),
    after cutting the temporary file to half its length."""
    real_fsync = os.fsync
    seen = {"n": 0}

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if only is None or only in os.path.basename(name):
            seen["n"] += 1
            if seen["n"] == target:
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        return real_fsync(fd)

    os.fsync = fsync


def _count_writes() -> dict:
    """Count this process's file writes by the name of the file written."""
    real_fsync = os.fsync
    counts: dict[str, int] = {}

    def fsync(fd):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).split(".")[1]  # .NAME.PID.RANDOM.tmp
        counts[name] = counts.get(name, 0) + 1
        return real_fsync(fd)

    os.fsync = fsync
    return counts


def _fit(folder: str, resume: bool) -> None:
    import torch
    from safetensors.torch import save_file

    from synbiolab import TrainConfig, build_model, fit, load_dataset

    ds = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model("mlp", ds, hidden_units=[32], dropout=0.2)
    config = TrainConfig(epochs=4, batch_size=128, lr=3e-3, schedule="onecycle", progress=False, device="cpu")
    result = fit(model, ds, config, run_dir=folder, resume=resume, verbose=False)
    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{folder}/final.safetensors")


def _fit_gan(folder: str, resume: bool) -> None:
    import torch
    from safetensors.torch import save_file

    from synbiolab import GanConfig, TrainConfig, build_model, fit_gan, load_dataset
    from synbiolab.data.generative import prepare_gan_data

    data = prepare_gan_data(load_dataset("digits"))
    torch.manual_seed(0)
    model = build_model("dcgan", input_shape=(1, 8, 8), n_classes=1, base_channels=4, latent_size=8)
    config = TrainConfig(epochs=3, batch_size=128, lr=2e-4, device="cpu", progress=False)
    result = fit_gan(model, data, config, GanConfig(loss="wgan-gp", n_critic=2), folder, resume=resume,
                     verbose=False)
    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{folder}/final.safetensors")


def _job(kind: str, folder: str, resume: bool) -> None:
    from synbiolab.config import build_config
    from synbiolab.train.job import train, train_gan

    # a fresh start into a folder a killed run left behind replaces it, as a user would (--overwrite)
    again = Path(folder).exists()
    if kind == "train":
        if resume:
            train(None, resume=folder, verbose=False)
        else:
            config = build_config("digits", "mlp", sets=["train.epochs=3", "model.hidden_units=[32]"])
            train(config, out=folder, overwrite=again, verbose=False)
    elif resume:
        train_gan(None, resume=folder, verbose=False)
    else:
        config = build_config("digits", "dcgan", sets=[
            "train.epochs=2", "model.base_channels=4", "model.latent_size=8", "gan.judge_epochs=1",
            "gan.eval_samples=50", "gan.final_samples=100", "gan.tog_samples=0"])
        train_gan(config, out=folder, overwrite=again, verbose=False)


def _child(what: str, folder: str, resume: bool, kill_write: int | None, only: str | None, count: bool) -> None:
    """The target of every forked process: train, and say how it ended in a file next to the folder."""
    import torch

    torch.set_num_threads(1)  # the same arithmetic in every process, so the weights can match bit for bit
    os.environ["OMP_NUM_THREADS"] = "1"
    counts = _count_writes() if count else None
    if kill_write is not None:
        _kill_on_write(kill_write, only)
    status = Path(f"{folder}.status")
    try:
        if what == "fit":
            _fit(folder, resume)
        elif what == "fit_gan":
            _fit_gan(folder, resume)
        else:
            _job(what, folder, resume)
        status.write_text(f"ok {sum(counts.values()) if counts else ''} {sorted((counts or {}).items())}")
    except BaseException:  # noqa: BLE001 - reported to the test through the status file
        status.write_text("error " + traceback.format_exc())
        os._exit(3)


# --- the test side


@pytest.fixture(scope="module")
def forkserver():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    context = multiprocessing.get_context("forkserver")
    # everything a child would import on its first step (the optimiser's first use imports torch._dynamo: 10 s)
    context.set_forkserver_preload(["torch", "torch._dynamo", "safetensors.torch", "pandas", "sklearn.datasets",
                                    "synbiolab", "synbiolab.cli", __name__])
    return context


def start(context, what: str, folder: Path, resume: bool, kill_write=None, only=None, count=False):
    process = context.Process(target=_child, args=(what, str(folder), resume, kill_write, only, count))
    process.start()
    return process


def finish(context, what: str, folder: Path, resume: bool, timeout: float = 300, **kw) -> str:
    """Run one process to its end; returns its status line."""
    status = Path(f"{folder}.status")
    status.unlink(missing_ok=True)
    process = start(context, what, folder, resume, **kw)
    process.join(timeout)
    if process.is_alive():
        process.kill()
        pytest.fail(f"{what} did not finish in {timeout} s")
    if process.exitcode == -signal.SIGKILL:
        return "killed"
    return status.read_text() if status.is_file() else f"exit {process.exitcode}"


def weights(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / name))


def assert_same_weights(a: dict, b: dict, what: str) -> None:
    import torch

    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key} differs from the uninterrupted run"


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def kill_and_resume(context, what: str, folder: Path, rng: random.Random, n_writes: int, duration: float,
                    weights_file: str, kills: int = 1) -> str:
    """Start a run, kill it (`kills` times in all, on resumes too), then resume until it finishes.

    Half the kills come during a file write (a random one of the `n_writes` a run makes, or a checkpoint),
    the others after a random delay within the run's `duration`.
    """
    how = []
    resume = False
    for _ in range(kills):
        mode = rng.choice(["write", "checkpoint", "time"])
        if mode == "time":
            process = start(context, what, folder, resume)
            time.sleep(rng.uniform(0.0, duration))
            process.kill()
            process.join()
            how.append(f"after {duration:.1f}s*rand")
        else:
            target = rng.randint(1, n_writes if mode == "write" else max(n_writes // 3, 1))
            status = finish(context, what, folder, resume, kill_write=target,
                            only="state.pt" if mode == "checkpoint" else None)
            how.append(f"{mode} {target}: {status.split()[0]}")
        resume = (folder / "kind.json").is_file() or (folder / "checkpoint").is_dir() or what.startswith("fit")
    for _ in range(3):
        status = finish(context, what, folder, resume=resume)
        if status.startswith("ok"):
            break
        if "has no config.json" in status:  # killed before the job wrote its config: start it again
            resume = False
            continue
        pytest.fail(f"{what} after {how}: {status[-800:]}")
    assert status.startswith("ok"), f"{what} after {how}: {status[-800:]}"
    assert not temporaries(folder), f"{what} after {how}: temporaries left: {temporaries(folder)}"
    return "; ".join(how)


def reference(context, what: str, folder: Path) -> tuple[int, float]:
    """The uninterrupted run: how many files it writes and how long it takes."""
    t0 = time.perf_counter()
    status = finish(context, what, folder, resume=False, count=True)
    assert status.startswith("ok"), status
    return int(status.split()[1]), time.perf_counter() - t0


@pytest.mark.parametrize("what,kills", [("fit", 5), ("fit_gan", 6)])  # many more in the slow test below
def test_kill_9_at_random_moments_then_resume_is_bit_identical(forkserver, tmp_path, what, kills):
    import torch

    whole = tmp_path / "whole"
    n_writes, duration = reference(forkserver, what, whole)
    # the fit writes its checkpoint and history.csv each epoch, fit_gan its sample figures too
    assert n_writes >= 6
    expected = weights(whole, "final.safetensors")
    rng = random.Random(f"{what}-11")
    for trial in range(kills):
        folder = tmp_path / f"cut{trial}"
        how = kill_and_resume(forkserver, what, folder, rng, n_writes, duration, "final.safetensors")
        assert_same_weights(weights(folder, "final.safetensors"), expected, f"{what} killed {how}")
        # the history the resumed run wrote is the uninterrupted one's, epoch for epoch
        import pandas as pd

        a, b = pd.read_csv(whole / "history.csv"), pd.read_csv(folder / "history.csv")
        columns = [c for c in a.columns if c != "seconds"]
        assert len(a) == len(b) and a[columns].equals(b[columns]), f"{what} killed {how}: history differs"
        assert torch.load(folder / "checkpoint" / "state.pt", weights_only=True)["step"] == \
            torch.load(whole / "checkpoint" / "state.pt", weights_only=True)["step"]


@pytest.mark.slow
@pytest.mark.parametrize("what,trials", [("train", 12), ("gan", 6)])
def test_kill_9_the_whole_job_many_times(forkserver, tmp_path, what, trials):
    """The train and gan jobs killed 1 to 3 times each (during config, checkpoint, model and report writes,
    and at random moments), then resumed: the saved model is the uninterrupted one's, bit for bit."""
    whole = tmp_path / "whole"
    n_writes, duration = reference(forkserver, what, whole)
    expected = weights(whole, "model.safetensors")
    rng = random.Random(f"{what}-23")
    for trial in range(trials):
        folder = tmp_path / f"cut{trial}"
        how = kill_and_resume(forkserver, what, folder, rng, n_writes, duration, "model.safetensors",
                              kills=rng.randint(1, 3))
        assert_same_weights(weights(folder, "model.safetensors"), expected, f"{what} killed {how}")
        assert (folder / "report.html").is_file() and (folder / "metrics.json").is_file()
