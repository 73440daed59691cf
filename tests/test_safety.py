"""Nothing a user had is lost: --overwrite, --out files, concurrent writers, stale temporaries, links.

Each test reproduces a case a careless user met and checks the one-line message, the exit code and that
every file outside the run folder is as it was.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DIGITS_MLP = ("--data", "digits", "--model", "mlp", "--epochs", "1", "--quiet")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the SHA-256 of its content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from synbiolab.cli import main

    out = tmp_path_factory.mktemp("safety") / "run"
    try:
        main(["train", *DIGITS_MLP, "--out", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return out


def test_overwrite_refuses_a_project_folder_that_holds_a_config_json(cli, tmp_path):
    # A thesis project with its own config.json: --overwrite once deleted it all.
    project = tmp_path / "thesis"
    (project / "src").mkdir(parents=True)
    (project / "config.json").write_text('{"latex": true}')
    (project / "thesis.tex").write_text("\\chapter{Results}")
    (project / "src" / "analysis.py").write_text("print(42)")
    before = snapshot(project)
    code, _, err = cli("train", *DIGITS_MLP, "--out", project, "--overwrite")
    assert code == 2 and one_line(err)
    assert "was not written by synbiolab" in err or "replaces only folders that synbiolab wrote" in err
    assert "nothing was deleted" in err
    assert snapshot(project) == before and not (project / ".lock").exists()


def test_overwrite_refuses_a_run_folder_holding_a_users_file(cli, digits_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "my_notes.txt").write_text("keep me")
    code, _, err = cli("train", *DIGITS_MLP, "--out", run, "--overwrite")
    assert code == 2 and one_line(err) and "'my_notes.txt' was not written by synbiolab" in err
    assert (run / "my_notes.txt").read_text() == "keep me"


def test_overwrite_replaces_a_run_folder_and_writes_the_marker_first(cli, digits_run, tmp_path):
    import json
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    old_started = json.loads((run / "config.json").read_text())["meta"]["started"]
    time.sleep(1.1)
    code, _, err = cli("train", *DIGITS_MLP, "--out", run, "--overwrite")
    assert code == 0, err
    kind = json.loads((run / "kind.json").read_text())
    assert kind["kind"] == "train" and set(kind["versions"]) >= {"python", "torch", "numpy", "synbiolab"}
    assert json.loads((run / "config.json").read_text())["meta"]["started"] != old_started


def test_overwrite_refuses_a_symbolic_link(cli, digits_run, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "data.csv").write_text("a,b\n1,2\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    code, _, err = cli("train", *DIGITS_MLP, "--out", link, "--overwrite")
    assert code == 2 and one_line(err) and "symbolic link" in err
    assert (target / "data.csv").read_text() == "a,b\n1,2\n" and link.is_symlink()


def test_a_symlinked_figures_folder_is_not_written_through(cli, tmp_path):
    import json
    import shutil

    from synbiolab import write_report

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "photo.png").write_bytes(b"not yours")
    code, _, err = cli("train", *DIGITS_MLP, "--out", tmp_path / "run")
    assert code == 0, err
    shutil.rmtree(tmp_path / "run" / "figures")
    (tmp_path / "run" / "figures").symlink_to(outside)
    before = snapshot(outside)
    from synbiolab.errors import SynbiolabError

    with pytest.raises(SynbiolabError, match="symbolic link"):
        write_report(tmp_path / "run")
    assert snapshot(outside) == before
    assert json.loads((tmp_path / "run" / "kind.json").read_text())["kind"] == "train"


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(cli, digits_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom synbiolab.io import FolderLock\n"
         f"lock = FolderLock({str(run)!r}).acquire()\nprint('locked', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run)
        code, _, err = cli("train", *DIGITS_MLP, "--out", run, "--overwrite")
        assert code == 2 and one_line(err)
        assert f"another synbiolab process is writing this folder (process {holder.pid})" in err
        code, _, err = cli("train", "--resume", run)
        assert code == 2 and f"process {holder.pid}" in err
        assert snapshot(run) == before  # the first writer's folder is untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died without releasing: its lock is stale and is taken over
    code, _, err = cli("train", *DIGITS_MLP, "--out", run, "--overwrite")
    assert code == 0, err


def test_two_concurrent_overwrites_one_wins_and_the_other_is_refused(digits_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "synbiolab", "train", "--data", "digits", "--model", "mlp", "--epochs", "40",
               "--quiet", "--out", str(run), "--overwrite"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # the second starts once the first holds the folder (it loads its data and checks its model first)
    from synbiolab.io import folder_locked_by_other

    deadline = time.time() + 120
    while time.time() < deadline and folder_locked_by_other(run) is None:
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2 and "another synbiolab process is writing this folder" in second.stderr
    # the first run is whole: 40 epochs in its history, its model and report written
    assert len((run / "history.csv").read_text().strip().splitlines()) == 41
    assert (run / "model.safetensors").is_file() and (run / "report.html").is_file()


def test_stale_temporaries_are_removed_on_resume(cli, digits_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    leftovers = [run / "checkpoint" / f".state.pt.{dead}.k2j4h1.tmp", run / "checkpoint" / ".state.pt.ab12cd.tmp",
                 run / f".metrics.json.{dead}.x9y8.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    code, _, err = cli("train", "--resume", run, "--quiet")
    assert code == 0, err
    assert not any(p.exists() for p in leftovers)
    assert not list(run.rglob("*.tmp"))


def test_no_temporary_file_is_left_after_a_run(digits_run):
    assert not list(digits_run.rglob("*.tmp")) and not list(digits_run.rglob(".*.tmp"))


def test_sample_refuses_to_overwrite_an_existing_file(cli, tmp_path):
    code, _, err = cli("gan", "--data", "digits", "--model", "dcgan", "--epochs", "1", "--out", tmp_path / "gan",
                       "--set", "gan.judge_epochs=1", "--set", "gan.eval_samples=100", "--set",
                       "gan.final_samples=200", "--quiet")
    assert code == 0, err
    config = tmp_path / "gan" / "config.json"
    before = config.read_bytes()
    code, _, err = cli("sample", tmp_path / "gan", "--n", "4", "--out", config)
    assert code == 2 and one_line(err) and "file exists" in err and "--overwrite" in err
    assert config.read_bytes() == before
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"my picture")
    code, _, err = cli("sample", tmp_path / "gan", "--n", "4", "--out", mine)
    assert code == 2 and mine.read_bytes() == b"my picture"
    code, _, err = cli("sample", tmp_path / "gan", "--n", "4", "--out", mine, "--overwrite")
    assert code == 0 and mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = cli("sample", tmp_path / "gan", "--n", "4", "--out", tmp_path)
    assert code == 2 and "is a folder" in err


def test_kind_is_checked_by_the_verbs(cli, digits_run, tmp_path):
    code, _, err = cli("sample", digits_run)
    assert code == 2 and one_line(err) and "is a train folder" in err and "gan folder" in err
