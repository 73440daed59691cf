"""A campaign of hostile-user cases against every verb: bad values, bad and damaged files, damaged run folders,
links, read-only and full disks, concurrent writers and kills.

Each case runs ``python -m synbiolab ...`` as a subprocess in its own temporary folder and is classified:

- clear: a refusal in one ``error:`` line (exit 2, no traceback) that names what is wrong, or, where the input
  is valid, the right result; and nothing the user had was changed;
- traceback: a Python traceback reached the user;
- silent: exit 0 on bad input, a wrong or misleading result, or a file outside the run folder changed or lost;
- resource: the case ran past its time limit or used more memory than the limit.

It prints one line per case and the counts. The synbiolab it runs is the one ``python -m synbiolab`` imports, so
``PYTHONPATH=OTHER_TREE/src python bench/hostile.py`` runs the same campaign against another version of the code.
Nothing is asserted; the counts are the result.

Usage: python bench/hostile.py [--jobs 2] [--only WORD] [--timeout 300] [--json results.json] [--keep]
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MEMORY_LIMIT_MB = 3000  # peak resident memory above this is a resource failure
ADDRESS_LIMIT = 12 << 30  # a hard cap on each case's address space, so one runaway case cannot take the machine
OUTCOMES = ("clear", "traceback", "silent", "resource")


# --- running one command


@dataclass
class Result:
    rc: int
    out: str
    err: str
    seconds: float
    peak_mb: float
    timed_out: bool = False


def _limit_memory():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
    os.setsid()  # its own process group: a timeout ends the case and everything it started


def synbiolab(args, cwd: Path, timeout: float, env: dict | None = None, inject: str | None = None) -> Result:
    """Run ``python -m synbiolab ARGS`` in `cwd`; `inject` is Python run first (through a sitecustomize module)
    to simulate a read-only or full disk."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **(env or {})}
    if inject:
        hook = cwd / ".hook"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(inject)
        env["PYTHONPATH"] = os.pathsep.join([str(hook), *filter(None, [env.get("PYTHONPATH")])])
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    start = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "synbiolab", *map(str, args)], cwd=cwd, env=env,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_limit_memory)
        timed_out = False
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Result(proc.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
                  time.perf_counter() - start, usage.ru_maxrss / 1024, timed_out)


# --- what is on disk


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (links not followed) with a digest of its content; `.lock` files are left out
    (a writer records its process id there)."""
    if not folder.exists():
        return {}
    files = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if name == ".lock" or path.is_symlink():
                continue
            files[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp")) if folder.exists() else []


# --- crafted files


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height pixels (a decompression bomb as the header reads)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def png_blank(path: Path, width: int, height: int) -> None:
    """A real grey-scale PNG of width x height white pixels, compressed as it is written (little memory here)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * width
    parts = []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))


def png_digit(path: Path, seed: int = 0) -> None:
    """A small real picture: a dark bar on white, 40 x 40 (any picture of a digit is accepted by predict)."""
    rng = random.Random(seed)
    rows = []
    for y in range(40):
        row = bytearray(b"\xff" * 40)
        for x in range(16 + rng.randint(-2, 2), 24):
            if 6 < y < 34:
                row[x] = 0
        rows.append(b"\0" + bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 40, 40, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                     + chunk(b"IEND", b""))


def idx_file(path: Path, kind: str, values: bytes, dims: tuple[int, ...]) -> None:
    """An IDX file (MNIST's format), gzipped: kind 'images' (magic 0x803) or 'labels' (0x801)."""
    magic = {"images": 0x0803, "labels": 0x0801}[kind]
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    path.write_bytes(gzip.compress(header + values))


def mnist_like_folder(folder: Path, n: int = 300, bad_label: int | None = None, swap_magic: bool = False) -> None:
    """A folder of four IDX files of n random 28 x 28 digits (for loader cases)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    for split, count in (("train", n), ("t10k", n // 3)):
        images = bytes(rng.randrange(256) for _ in range(count * 28 * 28))
        labels = bytearray(rng.randrange(10) for _ in range(count))
        if bad_label is not None:
            labels[5] = bad_label
        idx_file(folder / f"{split}-images-idx3-ubyte.gz", "labels" if swap_magic else "images", images,
                 (count, 28, 28))
        idx_file(folder / f"{split}-labels-idx1-ubyte.gz", "labels", bytes(labels), (count,))


def safetensors_bytes(tensors: dict[str, tuple[list[int], bytes]]) -> bytes:
    """A safetensors file of float32 tensors {name: (shape, raw bytes)}."""
    header, offset, data = {}, 0, b""
    for name, (shape, raw) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


class Planted:
    """A pickle that runs a shell command when it is unpickled: it must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def random_dna(n: int, length: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("ACGT") for _ in range(length)) for _ in range(n)]


def write_library(path: Path, n: int = 400, seed: int = 0) -> None:
    """A CSV of DNA with a measured strength that depends on the GC content (a learnable regression)."""
    rng = random.Random(seed)
    rows = ["seq,strength"]
    for s in random_dna(n, 50, seed):
        gc = (s.count("G") + s.count("C")) / len(s)
        rows.append(f"{s},{10 ** (1 + 3 * gc + rng.gauss(0, 0.1)):.4f}")
    path.write_text("\n".join(rows) + "\n")


# --- the campaign


@dataclass
class Context:
    root: Path
    timeout: float
    fixtures: dict[str, Path] = field(default_factory=dict)
    failed_fixtures: dict[str, str] = field(default_factory=dict)

    def copy(self, name: str, dest: Path) -> Path:
        """A private copy of a fixture run, for a case that damages it."""
        shutil.copytree(self.fixtures[name], dest, symlinks=True, ignore=shutil.ignore_patterns(".lock"))
        return dest


@dataclass
class Case:
    name: str
    family: str
    body: Callable  # (ctx, folder) -> args, or (args, judge-overrides), or a Result-like verdict
    expect: str = "error"  # "error": a clear refusal is right; "ok": success is right; "either": both are
    mentions: tuple[str, ...] = ()  # words the error line must hold (the key, the file)
    needs: tuple[str, ...] = ()  # fixtures
    check: Callable | None = None  # (ctx, folder, result) -> None, or a sentence saying what went wrong
    inject: str | Callable | None = None  # Python run in the child first (disk errors); a callable gets the folder
    timeout: float | None = None
    custom: bool = False  # body runs the case itself and returns (outcome, detail)


CASES: list[Case] = []


def case(family: str, expect: str = "error", mentions=(), needs=(), check=None, inject=None, timeout=None,
         custom=False):
    def register(fn):
        CASES.append(Case(fn.__name__.removeprefix("case_").replace("_", "-"), family, fn, expect, tuple(mentions),
                          tuple(needs), check, inject, timeout, custom))
        return fn
    return register


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:") or line.strip().startswith("Error:")]


def classify(c: Case, res: Result, ctx: Context, folder: Path) -> tuple[str, str]:
    """The outcome of a case and a few words of detail."""
    last = (res.err.strip().splitlines() or [""])[-1][:160]
    memory_words = ("MemoryError", "can't allocate memory", "out of memory", "Cannot allocate memory")
    if res.timed_out:
        return "resource", f"ran past {c.timeout or ctx.timeout:.0f} s"
    if res.peak_mb > MEMORY_LIMIT_MB or (res.rc != 0 and any(w in res.err for w in memory_words)):
        return "resource", f"peak memory {res.peak_mb:,.0f} MB; {last}"
    if "Traceback (most recent call last)" in res.err:
        return "traceback", last
    if res.rc < 0 or res.rc in (137, 139, 134):
        return "resource", f"killed by signal ({res.rc})"
    problem = c.check(ctx, folder, res) if c.check else None
    if problem:
        return "silent", problem
    lines = error_lines(res.err)
    if res.rc == 0:
        if c.expect == "error":
            return "silent", "exit 0 on bad input: " + (res.out.strip().splitlines() or [""])[-1][:120]
        return "clear", "succeeded as it should"
    if c.expect == "ok":
        return "silent", f"refused valid input: {last}"
    if res.rc == 2 and len(lines) == 1:
        # the words must be in the message itself, not in the case's folder names: a path counts by its last part
        words = re.sub(re.escape(str(ctx.root)) + r"[^\s:'\"]*/", "", lines[0]).lower()
        missing = [w for w in c.mentions if w.lower() not in words]
        if missing:
            return "silent", f"misleading message (does not name {missing[0]!r}): {lines[0][:140]}"
        return "clear", lines[0][:160]
    return "silent", f"exit {res.rc} without one clear line: {last}"


def run_case(c: Case, ctx: Context) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"{c.name}-", dir=ctx.root / "cases"))
    missing = [n for n in c.needs if n not in ctx.fixtures]
    if missing:
        return {"name": c.name, "family": c.family, "outcome": "not run",
                "detail": f"fixture {missing[0]} failed: {ctx.failed_fixtures.get(missing[0], '')}"}
    try:
        if c.custom:
            outcome, detail = c.body(ctx, folder)
            return {"name": c.name, "family": c.family, "outcome": outcome, "detail": detail}
        args = c.body(ctx, folder)
        inject = c.inject(folder) if callable(c.inject) else c.inject
        res = synbiolab(args, folder, c.timeout or ctx.timeout, inject=inject)
        outcome, detail = classify(c, res, ctx, folder)
        return {"name": c.name, "family": c.family, "outcome": outcome, "detail": detail,
                "seconds": round(res.seconds, 1), "peak_mb": round(res.peak_mb)}
    except Exception as exc:  # noqa: BLE001 - a broken case is reported, not fatal to the campaign
        return {"name": c.name, "family": c.family, "outcome": "not run", "detail": f"case error: {exc!r}"[:200]}


# --- fixtures: small real runs made with the code under test


def build_fixtures(ctx: Context) -> None:
    f = ctx.root / "fixtures"
    f.mkdir()
    write_library(f / "library.csv")
    (f / "promoters.fasta").write_text("".join(f">p{i}\n{s}\n" for i, s in enumerate(random_dna(400, 50, 3))))
    tiny_mlp = ("--set", "model.hidden_units=[16]", "--quiet")
    jobs = {
        "mlp": ["train", "--data", "digits", "--model", "mlp", "--epochs", "2", "--set", "train.schedule=none",
                *tiny_mlp, "--out", f / "mlp"],
        "cnn": ["train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--set", "model.channels=[4]",
                "--set", "model.head_units=[8]", "--quiet", "--out", f / "cnn"],
        "gan": ["gan", "--data", "digits", "--model", "dcgan", "--epochs", "1", "--set", "gan.judge_epochs=1",
                "--set", "gan.eval_samples=100", "--set", "gan.final_samples=200", "--set", "model.base_channels=8",
                "--quiet", "--out", f / "gan"],
        "seqgan": ["gan", "--data", f / "promoters.fasta", "--model", "wgan_seq", "--epochs", "1", "--set",
                   "model.channels=16", "--set", "model.n_blocks=1", "--set", "gan.eval_samples=100", "--set",
                   "gan.final_samples=200", "--quiet", "--out", f / "seqgan"],
        "predictor": ["train", "--data", f / "library.csv", "--seq-col", "seq", "--target", "strength",
                      "--log-target", "--model", "cnn1d", "--epochs", "1", "--set", "model.channels=[8]", "--set",
                      "model.head_units=[8]", "--quiet", "--out", f / "predictor"],
    }
    for name, args in jobs.items():
        res = synbiolab(args, f, 900)
        if res.rc == 0 and (f / name / "model.safetensors").is_file():
            ctx.fixtures[name] = f / name
        else:
            ctx.failed_fixtures[name] = (res.err.strip().splitlines() or ["no output"])[-1][:160]
        print(f"fixture {name:<10} {'ok' if name in ctx.fixtures else 'FAILED: ' + ctx.failed_fixtures[name]} "
              f"({res.seconds:.0f} s)", flush=True)
    (f / "pictures").mkdir()
    for i in range(3):
        png_digit(f / "pictures" / f"digit{i}.png", seed=i)


TINY = ("--data", "digits", "--model", "mlp", "--epochs", "1", "--set", "model.hidden_units=[16]", "--quiet")


def tiny(folder: Path, *extra) -> list:
    return ["train", *TINY, "--out", folder / "run", *extra]


# --- 1. values of settings (--set, named options, config files)

BAD_SETS = [
    ("hidden-units-word", "model.hidden_units=abc", "model.hidden_units"),
    ("dropout-above-1", "model.dropout=1.5", "model.dropout"),
    ("dropout-1", "model.dropout=1", "model.dropout"),
    ("lr-negative", "train.lr=-1", "train.lr"),
    ("lr-zero", "train.lr=0", "train.lr"),
    ("lr-nan", "train.lr=nan", "train.lr"),
    ("lr-infinite", "train.lr=1e999", "train.lr"),
    ("epochs-minus-1", "train.epochs=-1", "train.epochs"),
    ("epochs-zero", "train.epochs=0", "train.epochs"),
    ("epochs-ten-million", "train.epochs=10000000", "train.epochs"),
    ("batch-size-zero", "train.batch_size=0", "train.batch_size"),
    ("hidden-units-zero", "model.hidden_units=[0]", "model.hidden_units"),
    ("hidden-units-negative", "model.hidden_units=[-5]", "model.hidden_units"),
    ("hidden-units-billion", "model.hidden_units=[1000000000]", "model.hidden_units"),
    ("hidden-units-float", "model.hidden_units=[1.5]", "model.hidden_units"),
    ("hidden-units-unhashable", "model.hidden_units={[1]: 2}", "model.hidden_units"),
    ("hidden-units-deep-nesting", "model.hidden_units=" + "[" * 200 + "]" * 200, "model.hidden_units"),
    ("optimizer-unknown", "train.optimizer=rmsprop", "train.optimizer"),
    ("schedule-unknown", "train.schedule=linear", "train.schedule"),
    ("momentum-above-1", "train.momentum=1.5", "train.momentum"),
    ("weight-decay-negative", "train.weight_decay=-1", "train.weight_decay"),
    ("label-smoothing-1", "train.label_smoothing=1", "train.label_smoothing"),
    ("seed-negative", "train.seed=-1", "train.seed"),
    ("device-unknown", "train.device=tpu", "train.device"),
    ("augment-revcomp-on-images", "train.augment=revcomp", "revcomp"),
    ("activation-unknown", "model.activation=swish", "swish"),
    ("grad-clip-negative", "train.grad_clip=-1", "train.grad_clip"),
    ("patience-negative", "train.patience=-1", "train.patience"),
    ("train-eval-size-zero", "train.train_eval_size=0", "train.train_eval_size"),
    ("val-size-zero", "data.val_size=0", "val_size"),
    ("val-size-negative", "data.val_size=-5", "val_size"),
    ("label-noise-2", "data.label_noise=2", "label_noise"),
    ("lr-list", "train.lr=[0.1]", "train.lr"),
    ("amp-yes", "train.amp=yes", "train.amp"),
    ("unknown-section", "optim.lr=1", "optim.lr"),
    ("unknown-key", "train.learning_rate=1", "train.learning_rate"),
    ("no-equals", "train.lr", "train.lr"),
    ("model-name-unknown", "model.name=resnet", "resnet"),
    ("gan-key-on-classifier", "gan.loss=standard", "gan.loss"),
    ("model-name-gan", "model.name=dcgan", "dcgan"),
]


def _bad_set(value: str):
    def body(ctx, folder):
        return tiny(folder, "--set", value)
    return body


for _name, _value, _word in BAD_SETS:
    CASES.append(Case(f"set-{_name}", "values", _bad_set(_value), "error", (_word,)))


@case("values", mentions=("epochs",))
def case_epochs_option_negative(ctx, folder):
    return ["train", "--data", "digits", "--model", "mlp", "--epochs", "-3", "--quiet", "--out", folder / "run"]


@case("values", mentions=("lr",))
def case_lr_option_zero(ctx, folder):
    return tiny(folder, "--lr", "0")


@case("values", mentions=("batch",))
def case_batch_size_option_negative(ctx, folder):
    return tiny(folder, "--batch-size", "-1")


@case("values", mentions=("x",))
def case_classes_not_numbers(ctx, folder):
    return tiny(folder, "--classes", "3,x")


@case("values", mentions=("99",))
def case_classes_not_in_data(ctx, folder):
    return tiny(folder, "--classes", "3,99")


@case("values", mentions=("class",))
def case_one_class_only(ctx, folder):
    return tiny(folder, "--classes", "3")


@case("values", mentions=("train",))
def case_train_size_zero(ctx, folder):
    return tiny(folder, "--train-size", "0")


def _says_train_size(ctx, folder, res):
    if res.rc == 0 and "100000" not in res.out + res.err and "100,000" not in res.out + res.err:
        return "--train-size 100000 of 1,222 images was clamped without a word"
    return None


@case("values", expect="either", check=_says_train_size)
def case_train_size_larger_than_data(ctx, folder):
    return ["train", *TINY[:-1], "--train-size", "100000", "--out", folder / "run"]


def _four_steps_trained(ctx, folder, res):
    if res.rc == 0 and not (folder / "run" / "model.safetensors").is_file():
        return "exit 0 without a model"
    return None


@case("values", expect="ok", check=_four_steps_trained)
def case_onecycle_with_four_steps(ctx, folder):
    # 500 images in batches of 128: 4 steps in all, the one-cycle schedule's corner case
    return tiny(folder, "--train-size", "500")


def _config_says(key, value):
    def check(ctx, folder, res):
        path = folder / "run" / "config.json"
        if res.rc == 0 and path.is_file():
            section, name = key.split(".")
            got = json.loads(path.read_text())[section][name]
            if got != value:
                return f"config.json says {key}={got!r}, the run used something else"
        return None
    return check


@case("values", expect="either", check=_config_says("train.batch_size", 5000))
def case_batch_larger_than_data(ctx, folder):
    return tiny(folder, "--set", "train.batch_size=5000")


@case("values", expect="either")
def case_hidden_units_empty_list(ctx, folder):
    return tiny(folder, "--set", "model.hidden_units=[]")


@case("values", mentions=("model.channels",))
def case_cnn_channels_empty(ctx, folder):
    return ["train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--set", "model.channels=[]", "--quiet",
            "--out", folder / "run"]


@case("values", mentions=("convs_per_block",))
def case_cnn_convs_per_block_zero(ctx, folder):
    return ["train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--set", "model.convs_per_block=0",
            "--quiet", "--out", folder / "run"]


@case("values", mentions=("dcgan",))
def case_train_a_gan_model(ctx, folder):
    return ["train", "--data", "digits", "--model", "dcgan", "--quiet", "--out", folder / "run"]


@case("values", mentions=("mlp",))
def case_gan_with_a_classifier_model(ctx, folder):
    return ["gan", "--data", "digits", "--model", "mlp", "--quiet", "--out", folder / "run"]


@case("values", mentions=("n_critic",))
def case_gan_n_critic_zero(ctx, folder):
    return ["gan", "--data", "digits", "--epochs", "1", "--set", "gan.n_critic=0", "--quiet", "--out", folder / "run"]


@case("values", mentions=("holdout",))
def case_gan_holdout_above_1(ctx, folder):
    return ["gan", "--data", "digits", "--epochs", "1", "--set", "gan.holdout=1.5", "--quiet", "--out", folder / "run"]


@case("values", mentions=("Error",))
def case_epochs_not_a_number(ctx, folder):
    return ["train", "--data", "digits", "--epochs", "abc", "--out", folder / "run"]


@case("values", mentions=("Error",))
def case_unknown_verb(ctx, folder):
    return ["trian", "--data", "digits"]


def _config_file(name: str, text: str | bytes):
    def body(ctx, folder):
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["train", "--config", path, "--epochs", "1", "--quiet", "--out", folder / "run"]
    return body


CONFIG_FILES = [
    ("python-tag", "c.yaml", "data: !!python/object/apply:os.system ['touch planted']\n", "c.yaml"),
    ("missing", "none.yaml", None, "none.yaml"),
    ("invalid-json", "c.json", '{"train": {"lr": 0.1,,}}', "c.json"),
    ("a-list", "c.yaml", "- 1\n- 2\n", "c.yaml"),
    ("unknown-section", "c.yaml", "optimiser: {lr: 1}\n", "optimiser"),
    ("lr-negative", "c.yaml", "data: {name: digits}\nmodel: {name: mlp}\ntrain: {lr: -1}\n", "train.lr"),
    ("random-bytes", "c.yaml", bytes(random.Random(5).randrange(256) for _ in range(3000)), "c.yaml"),
    ("alias-bomb", "c.yaml", "meta:\n a: &a [x, x, x, x, x, x, x, x, x]\n b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     " c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     " e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "data: {name: digits}\nmodel: {name: mlp, params: {hidden_units: *f}}\n", "hidden_units"),
    ("hidden-units-string", "c.json", '{"model": {"name": "mlp", "params": {"hidden_units": "many"}}}',
     "hidden_units"),
]


def _config_case(name, text):
    def body(ctx, folder):
        if text is None:
            return ["train", "--config", folder / name, "--quiet", "--out", folder / "run"]
        return _config_file(name, text)(ctx, folder)
    return body


def _nothing_planted(ctx, folder, res):
    return "a YAML tag ran a command" if (folder / "planted").exists() else None


for _name, _file, _text, _word in CONFIG_FILES:
    CASES.append(Case(f"config-{_name}", "values", _config_case(_file, _text), "error", (_word,),
                      check=_nothing_planted))


# --- 2. data files (the loaders)


def _data_case(name: str, make, args=(), mentions=(), expect="error", check=None, model="mlp"):
    def body(ctx, folder):
        path = make(folder)
        return ["train", "--data", path, "--model", model, "--epochs", "1", "--quiet", "--out", folder / "run",
                *args]
    CASES.append(Case(f"data-{name}", "data files", body, expect, tuple(mentions), check=check))


def _csv(text: str, name="lib.csv", encoding="utf-8"):
    def make(folder):
        (folder / name).write_bytes(text.encode(encoding) if isinstance(text, str) else text)
        return folder / name
    return make


def _numeric_with(bad: str) -> str:
    rows = ["seq,strength"] + [f"{s},{i * 0.37 % 5:.3f}" for i, s in enumerate(random_dna(300, 30, 1))]
    rows[120] = rows[120].split(",")[0] + "," + bad
    return "\n".join(rows) + "\n"


def _not_multiclass(ctx, folder, res):
    if res.rc == 0:
        metrics = folder / "run" / "metrics.json"
        if metrics.is_file() and json.loads(metrics.read_text()).get("task") != "regression":
            return "one bad cell turned a numeric target into classification"
    return None


# row 120 of the list is line 121 of the file (the header is line 1)
_data_case("target-inf", _csv(_numeric_with("inf")), ("--seq-col", "seq", "--target", "strength"), ("121",),
           expect="error", check=_not_multiclass, model="cnn1d")
_data_case("target-word-high", _csv(_numeric_with("high")), ("--seq-col", "seq", "--target", "strength"),
           ("high",), check=_not_multiclass, model="cnn1d")


def _huge_fasta(folder):
    path = folder / "one.fasta"
    with open(path, "w") as fh:
        fh.write(">huge\n")
        chunk = "ACGT" * 250_000
        for _ in range(30):  # 30 million letters on one line
            fh.write(chunk)
        fh.write("\n>short\nACGTACGT\n")
    return path


_data_case("fasta-30-million-letters-one-line", _huge_fasta, ("--length", "50"), ("huge",), model="cnn1d")
_data_case("fasta-to-train", _csv(">a\nACGTACGTAC\n>b\nTTTTGGGGCC\n" * 20, name="seqs.fasta"), (), ("target",),
           model="cnn1d")


def _bom_csv(folder):
    rows = ["seq,label"] + [f"{s},{i % 2}" for i, s in enumerate(random_dna(200, 20, 2))]
    (folder / "bom.csv").write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode() + b"\n")
    return folder / "bom.csv"


_data_case("csv-with-byte-order-mark", _bom_csv, ("--seq-col", "seq", "--target", "label"), expect="ok",
           model="cnn1d")


def _idx_bad_label(folder):
    mnist_like_folder(folder / "idx", bad_label=200)
    return folder / "idx"


def _idx_swapped_magic(folder):
    mnist_like_folder(folder / "idx", swap_magic=True)
    return folder / "idx"


_data_case("idx-label-200", _idx_bad_label, (), ("200",))
_data_case("idx-images-with-labels-magic", _idx_swapped_magic, (), ("label",))
_data_case("csv-empty", _csv(""), ("--seq-col", "seq", "--target", "y"), ("lib.csv",), model="cnn1d")
_data_case("csv-header-only", _csv("seq,y\n"), ("--seq-col", "seq", "--target", "y"), ("lib.csv",), model="cnn1d")
_data_case("csv-one-class", _csv("seq,y\n" + "".join(f"{s},A\n" for s in random_dna(200, 20, 4))),
           ("--seq-col", "seq", "--target", "y"), ("class",), model="cnn1d")
_data_case("csv-constant-target", _csv("seq,y\n" + "".join(f"{s},3.5\n" for s in random_dna(200, 20, 4))),
           ("--seq-col", "seq", "--target", "y"), ("y",), model="cnn1d")
_data_case("csv-binary-garbage", _csv(bytes(random.Random(9).randrange(256) for _ in range(5000))),
           ("--seq-col", "seq", "--target", "y"), ("lib.csv",), model="cnn1d")
_data_case("csv-missing-column", _csv("seq,y\nACGT,1\nACGA,0\n" * 50), ("--seq-col", "sequence", "--target", "y"),
           ("sequence",), model="cnn1d")
_data_case("fasta-not-dna", _csv(">a\nHELLO WORLD\n>b\nPROTEIN?\n" * 20, name="x.fasta"), ("--target", "y"),
           ("x.fasta",), model="cnn1d")
_data_case("gzip-that-is-not", _csv("not gzip at all", name="lib.csv.gz"), ("--seq-col", "seq", "--target", "y"),
           ("lib.csv.gz",), model="cnn1d")


def _trim_warning(ctx, folder, res):
    if res.rc == 0 and "trim" not in (res.out + res.err).lower():
        return "sequences of 200 letters trimmed to 5 without a word"
    return None


_data_case("trim-to-5-letters", _csv("seq,y\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(
    random_dna(200, 200, 6)))), ("--seq-col", "seq", "--target", "y", "--length", "5"), expect="either",
    check=_trim_warning, model="cnn1d")


@case("data files", mentions=("nosuchset",))
def case_data_unknown_name(ctx, folder):
    return ["train", "--data", "nosuchset", "--quiet", "--out", folder / "run"]


@case("data files", mentions=("empty",))
def case_data_empty_folder(ctx, folder):
    (folder / "empty").mkdir()
    return ["train", "--data", folder / "empty", "--quiet", "--out", folder / "run"]


@case("data files", expect="either", mentions=("nowhere",))
def case_mnist_data_dir_missing(ctx, folder):
    # documented: --data-dir first, then $SYNBIOLAB_DATA and the cache; a refusal must name the folder
    return ["train", "--data", "mnist", "--data-dir", folder / "nowhere", "--train-size", "300", *TINY[2:],
            "--out", folder / "run"]


@case("data files", mentions=("blob.bin",))
def case_data_info_random_file(ctx, folder):
    (folder / "blob.bin").write_bytes(os.urandom(4000))
    return ["data", "info", folder / "blob.bin"]


# --- 3. damaged run folders (evaluate, predict, sample, design, resume)


def _damaged(fixture: str, damage, verb_args, name: str, mentions=(), expect="error", check=None):
    def body(ctx, folder):
        run = ctx.copy(fixture, folder / "run")
        damage(ctx, run, folder)
        return verb_args(run, folder)
    CASES.append(Case(name, "damaged runs", body, expect, tuple(mentions), (fixture,), check))


def _write(rel: str, data: bytes | str):
    def damage(ctx, run, folder):
        path = run / rel
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return damage


def _truncate(rel: str):
    def damage(ctx, run, folder):
        data = (run / rel).read_bytes()
        (run / rel).write_bytes(data[: len(data) // 2])
    return damage


def _edit_json(rel: str, fn):
    def damage(ctx, run, folder):
        spec = json.loads((run / rel).read_text())
        fn(spec)
        (run / rel).write_text(json.dumps(spec))
    return damage


def _planted_pickle(rel: str):
    def damage(ctx, run, folder):
        (run / rel).write_bytes(pickle.dumps({"model": Planted(folder / "planted")}))
    return damage


def _foreign_weights(fixture: str, rel: str):
    def damage(ctx, run, folder):
        shutil.copy(ctx.fixtures[fixture] / rel, run / rel)
    return damage


def _no_plant(ctx, folder, res):
    return "a planted pickle ran" if (folder / "planted").exists() else None


def _pop(key):
    return lambda spec: spec.pop(key)


def _set_key(key, value):
    def fn(spec):
        spec[key] = value
    return fn


def _set_param(key, value):
    def fn(spec):
        spec["params"][key] = value
    return fn


def evaluate_args(run, folder):
    return ["evaluate", run]


def predict_args(run, folder):
    png_digit(folder / "digit.png")
    return ["predict", run, folder / "digit.png"]


def sample_args(run, folder):
    return ["sample", run, "--n", "4", "--out", folder / "s.png"]


DAMAGES = [
    ("metrics-json-corrupt", _write("metrics.json", '{"test": {"accuracy": 0.9'), ("metrics.json",), "either"),
    ("model-json-no-input-shape", _edit_json("model.json", _pop("input_shape")), ("model.json",), "error"),
    ("model-json-corrupt", _write("model.json", "{not json"), ("model.json",), "error"),
    ("model-json-unknown-model", _edit_json("model.json", _set_key("name", "os.system")), ("model.json",), "error"),
    ("model-json-huge-input", _edit_json("model.json", _set_key("input_shape", [1, 100000, 100000])),
     ("model.json",), "error"),
    ("weights-truncated", _truncate("model.safetensors"), ("model.safetensors",), "error"),
    ("weights-random", _write("model.safetensors", bytes(random.Random(3).randrange(256) for _ in range(9000))),
     ("model.safetensors",), "error"),
    ("weights-pickle", _planted_pickle("model.safetensors"), ("model.safetensors",), "error"),
    ("weights-empty", _write("model.safetensors", b""), ("model.safetensors",), "error"),
    ("config-json-corrupt", _write("config.json", "[1, 2"), ("config.json",), "error"),
    ("kind-json-corrupt", _write("kind.json", "{{{{"), ("kind.json",), "either"),
]

for _name, _damage, _mentions, _expect in DAMAGES:
    _damaged("mlp", _damage, evaluate_args, f"evaluate-{_name}", _mentions, _expect, _no_plant)
    if _name not in ("config-json-corrupt",):
        _damaged("mlp", _damage, predict_args, f"predict-{_name}", _mentions, _expect, _no_plant)

_damaged("mlp", _edit_json("model.json", _set_param("hidden_units", [100_000_000])), evaluate_args,
         "evaluate-model-json-huge-hidden-units", ("model.json",))
_damaged("mlp", _foreign_weights("cnn", "model.safetensors"), evaluate_args, "evaluate-weights-of-a-cnn",
         ("model.safetensors",))
_damaged("mlp", _foreign_weights("cnn", "model.safetensors"), predict_args, "predict-weights-of-a-cnn",
         ("model.safetensors",))

for _name, _damage, _mentions in [
    ("metrics-json-corrupt", _write("metrics.json", "]]"), ()),
    ("model-json-no-data-kind", _edit_json("model.json", _pop("data_kind")), ("model.json",)),
    ("model-json-no-input-shape", _edit_json("model.json", _pop("input_shape")), ("model.json",)),
    ("weights-truncated", _truncate("model.safetensors"), ("model.safetensors",)),
    ("weights-pickle", _planted_pickle("model.safetensors"), ("model.safetensors",)),
]:
    _damaged("gan", _damage, sample_args, f"sample-{_name}", _mentions,
             "either" if _name == "metrics-json-corrupt" else "error", _no_plant)


def _resume(run, folder):
    return ["train", "--resume", run, "--quiet"]


_damaged("mlp", _planted_pickle("checkpoint/state.pt"), _resume, "resume-checkpoint-pickle", ("state.pt",),
         check=_no_plant)
_damaged("mlp", _truncate("checkpoint/state.pt"), _resume, "resume-checkpoint-truncated", ("state.pt",))
_damaged("mlp", _write("checkpoint/state.pt", os.urandom(5000)), _resume, "resume-checkpoint-random", ("state.pt",))
_damaged("mlp", _foreign_weights("cnn", "checkpoint/state.pt"), _resume, "resume-checkpoint-of-a-cnn",
         ("state.pt",))
_damaged("gan", _planted_pickle("checkpoint/state.pt"), lambda run, folder: ["gan", "--resume", run, "--quiet"],
         "gan-resume-checkpoint-pickle", ("state.pt",), check=_no_plant)
_damaged("gan", _truncate("checkpoint/state.pt"), lambda run, folder: ["gan", "--resume", run, "--quiet"],
         "gan-resume-checkpoint-truncated", ("state.pt",))


def _no_config(ctx, run, folder):
    (run / "config.json").unlink()


_damaged("mlp", _no_config, _resume, "resume-without-config-json", ("config.json",))


def _refused_unchanged(ctx, folder, res):
    config = json.loads((folder / "run" / "config.json").read_text())
    if res.rc == 0 and config["train"]["lr"] != 0.5:
        return "exit 0 but train.lr=0.5 was ignored without a word"
    return None


_damaged("mlp", lambda ctx, run, folder: None,
         lambda run, folder: ["train", "--resume", run, "--epochs", "5", "--set", "train.lr=0.5", "--quiet"],
         "resume-with-another-lr", ("train.lr",), check=_refused_unchanged)


def _four_epochs(ctx, folder, res):
    history = folder / "run" / "history.csv"
    rows = len(history.read_text().strip().splitlines()) - 1 if history.is_file() else 0
    if res.rc == 0 and rows != 4:
        return f"--epochs 4 on resume gave {rows} epochs in history.csv"
    return None


_damaged("mlp", lambda ctx, run, folder: None, lambda run, folder: ["train", "--resume", run, "--epochs", "4"],
         "resume-with-more-epochs", expect="either", check=_four_epochs)


def _stale_tmp(ctx, run, folder):
    (run / "checkpoint" / ".state.pt.999999.abc123.tmp").write_bytes(b"\0" * 4096)


def _no_tmp(ctx, folder, res):
    left = temporaries(folder / "run")
    return f"a stale temporary was left: {left[0]}" if res.rc == 0 and left else None


_damaged("mlp", _stale_tmp, _resume, "resume-cleans-stale-temporaries", expect="ok", check=_no_tmp)
_damaged("gan", lambda ctx, run, folder: None, lambda run, folder: ["gan", "--resume", run, "--quiet"],
         "gan-resume-finished-run", expect="ok")
_damaged("gan", lambda ctx, run, folder: None, _resume, "train-resume-on-a-gan-run", ("gan",))
_damaged("mlp", lambda ctx, run, folder: None, lambda run, folder: ["gan", "--resume", run],
         "gan-resume-on-a-train-run",
         ("train",))


@case("damaged runs", mentions=("nowhere",))
def case_evaluate_no_such_folder(ctx, folder):
    return ["evaluate", folder / "nowhere"]


@case("damaged runs", mentions=("notes",))
def case_evaluate_a_folder_that_is_not_a_run(ctx, folder):
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("buy milk")
    return ["evaluate", folder / "notes"]


@case("damaged runs", mentions=("split",), needs=("mlp",))
def case_evaluate_unknown_split(ctx, folder):
    return ["evaluate", ctx.fixtures["mlp"], "--split", "holdout"]


@case("damaged runs", mentions=("GAN",), needs=("gan",))
def case_evaluate_a_gan(ctx, folder):
    return ["evaluate", ctx.fixtures["gan"]]


# --- 4. predict, sample, design: their own options


def _every_picture(ctx, folder, res):
    if res.rc == 0 and res.out.count("digit") < 3:
        return "a folder of 3 pictures gave fewer than 3 predictions"
    return None


@case("verbs", expect="either", mentions=("folder",), needs=("mlp",), check=_every_picture)
def case_predict_a_folder(ctx, folder):
    return ["predict", ctx.fixtures["mlp"], ctx.root / "fixtures" / "pictures"]


@case("verbs", mentions=("fake.png",), needs=("mlp",))
def case_predict_text_named_png(ctx, folder):
    (folder / "fake.png").write_text("I am not a picture")
    return ["predict", ctx.fixtures["mlp"], folder / "fake.png"]


@case("verbs", mentions=("nothing.png",), needs=("mlp",))
def case_predict_missing_picture(ctx, folder):
    return ["predict", ctx.fixtures["mlp"], folder / "nothing.png"]


@case("verbs", mentions=("bomb.png",), needs=("mlp",))
def case_predict_30000_square_png(ctx, folder):
    png_header_only(folder / "bomb.png", 30000, 30000)
    return ["predict", ctx.fixtures["mlp"], folder / "bomb.png"]


@case("verbs", expect="either", needs=("mlp",))
def case_predict_12000_square_png(ctx, folder):
    png_blank(folder / "big.png", 12000, 12000)
    return ["predict", ctx.fixtures["mlp"], folder / "big.png"]


@case("verbs", mentions=("predict",), needs=("gan",))
def case_predict_with_a_gan(ctx, folder):
    png_digit(folder / "d.png")
    return ["predict", ctx.fixtures["gan"], folder / "d.png"]


@case("verbs", mentions=("predict",), needs=("predictor",))
def case_predict_with_a_sequence_model(ctx, folder):
    png_digit(folder / "d.png")
    return ["predict", ctx.fixtures["predictor"], folder / "d.png"]


@case("verbs", mentions=("--top",), needs=("mlp",))
def case_predict_top_zero(ctx, folder):
    png_digit(folder / "d.png")
    return ["predict", ctx.fixtures["mlp"], folder / "d.png", "--top", "0"]


@case("verbs", mentions=("--n",), needs=("gan",))
def case_sample_zero(ctx, folder):
    return ["sample", ctx.fixtures["gan"], "--n", "0", "--out", folder / "s.png"]


@case("verbs", mentions=("--n",), needs=("gan",), timeout=120)
def case_sample_hundred_million(ctx, folder):
    return ["sample", ctx.fixtures["gan"], "--n", "100000000", "--out", folder / "s.png"]


@case("verbs", mentions=("--digit",), needs=("gan",))
def case_sample_digit_unconditional(ctx, folder):
    return ["sample", ctx.fixtures["gan"], "--digit", "7", "--out", folder / "s.png"]


@case("verbs", mentions=("seed",), needs=("gan",))
def case_sample_seed_negative(ctx, folder):
    return ["sample", ctx.fixtures["gan"], "--seed", "-1", "--out", folder / "s.png"]


@case("verbs", mentions=("gan",), needs=("mlp",))
def case_sample_a_classifier(ctx, folder):
    return ["sample", ctx.fixtures["mlp"], "--out", folder / "s.png"]


def _unchanged(rel: str, text: bytes):
    def check(ctx, folder, res):
        path = folder / rel
        if not path.is_file() or path.read_bytes() != text:
            return f"{rel} was overwritten"
        return None
    return check


@case("verbs", mentions=("exists",), needs=("gan",), check=_unchanged("mine.png", b"my own picture"))
def case_sample_out_existing_file(ctx, folder):
    (folder / "mine.png").write_bytes(b"my own picture")
    return ["sample", ctx.fixtures["gan"], "--out", folder / "mine.png"]


def _gan_config_intact(ctx, folder, res):
    config = folder / "run" / "config.json"
    try:
        json.loads(config.read_text())
    except (OSError, ValueError):
        return "the run's own config.json was replaced by the samples"
    return None


@case("verbs", mentions=("config.json",), needs=("gan",), check=_gan_config_intact)
def case_sample_out_onto_the_runs_config(ctx, folder):
    run = ctx.copy("gan", folder / "run")
    return ["sample", run, "--out", run / "config.json", "--overwrite"]


@case("verbs", mentions=("link",), needs=("gan",), check=_unchanged("thesis.txt", b"three years of work"))
def case_sample_out_through_a_link(ctx, folder):
    (folder / "thesis.txt").write_bytes(b"three years of work")
    (folder / "s.png").symlink_to(folder / "thesis.txt")
    return ["sample", ctx.fixtures["gan"], "--out", folder / "s.png", "--overwrite"]


def _design(ctx, folder, *extra, generator="seqgan", predictor="predictor"):
    return ["design", "--generator", ctx.fixtures[generator], "--predictor", ctx.fixtures[predictor], "--n", "200",
            "--top", "10", "--out", folder / "design", *extra]


@case("verbs", mentions=("--predictor",), needs=("seqgan", "mlp"))
def case_design_with_an_image_predictor(ctx, folder):
    return _design(ctx, folder, predictor="mlp")


@case("verbs", mentions=("--generator",), needs=("gan", "predictor"))
def case_design_with_an_image_gan(ctx, folder):
    return _design(ctx, folder, generator="gan")


@case("verbs", mentions=("--n",), needs=("seqgan", "predictor"))
def case_design_n_zero(ctx, folder):
    return _design(ctx, folder, "--n", "0")


@case("verbs", mentions=("--top",), needs=("seqgan", "predictor"))
def case_design_top_zero(ctx, folder):
    return _design(ctx, folder, "--top", "0")


@case("verbs", mentions=("--target",), needs=("seqgan", "predictor"))
def case_design_target_nan(ctx, folder):
    return _design(ctx, folder, "--target", "nan")


@case("verbs", mentions=("--n",), needs=("seqgan", "predictor"), timeout=180)
def case_design_hundred_million(ctx, folder):
    return _design(ctx, folder, "--n", "100000000")


@case("verbs", mentions=("model.json",), needs=("seqgan", "predictor"))
def case_design_generator_without_input_shape(ctx, folder):
    run = ctx.copy("seqgan", folder / "gen")
    _edit_json("model.json", _pop("input_shape"))(ctx, run, folder)
    return ["design", "--generator", run, "--predictor", ctx.fixtures["predictor"], "--n", "50", "--top", "5",
            "--out", folder / "design"]


@case("verbs", mentions=("model.safetensors",), needs=("seqgan", "predictor"))
def case_design_predictor_weights_truncated(ctx, folder):
    run = ctx.copy("predictor", folder / "pred")
    _truncate("model.safetensors")(ctx, run, folder)
    return ["design", "--generator", ctx.fixtures["seqgan"], "--predictor", run, "--n", "50", "--top", "5", "--out",
            folder / "design"]


@case("verbs", expect="either", needs=("seqgan", "predictor"))
def case_design_generator_metrics_corrupt(ctx, folder):
    run = ctx.copy("seqgan", folder / "gen")
    (run / "metrics.json").write_text("{")
    return ["design", "--generator", run, "--predictor", ctx.fixtures["predictor"], "--n", "50", "--top", "5",
            "--out", folder / "design"]


@case("verbs", mentions=("nowhere",))
def case_data_info_unknown(ctx, folder):
    return ["data", "info", folder / "nowhere.csv"]


@case("verbs", mentions=("--apply",), needs=("mlp",))
def case_fix_apply_99(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    return ["fix", run, "--apply", "99", "--out", folder / "fixed"]


@case("verbs", mentions=("metrics.json",), needs=("mlp",))
def case_diagnose_metrics_corrupt(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    (run / "metrics.json").write_text("{oops")
    return ["diagnose", run, "--no-noise"]


@case("verbs", mentions=("--param",))
def case_sweep_param_garbage(ctx, folder):
    return ["sweep", "--data", "digits", "--param", "model.hidden_units", "--out", folder / "sweep"]


@case("verbs", mentions=("folds",))
def case_cv_one_fold(ctx, folder):
    return ["cv", "--data", ctx.root / "fixtures" / "library.csv", "--seq-col", "seq", "--target", "strength",
            "--folds", "1", "--out", folder / "cv"]


@case("verbs", mentions=("nonsense",))
def case_compare_unknown_pipeline(ctx, folder):
    return ["compare", "--data", "digits", "--pipelines", "nonsense+svm", "--out", folder / "cmp"]


@case("verbs", mentions=("port",), timeout=60)
def case_serve_port_out_of_range(ctx, folder):
    return ["serve", "--runs", folder, "--port", "99999"]


# --- 5. output folders: --overwrite, links, files, read-only and full disks


def _project_intact(ctx, folder, res):
    thesis = folder / "thesis"
    if not (thesis / "thesis.tex").is_file() or not (thesis / "src" / "analysis.py").is_file():
        return "--overwrite deleted a folder that synbiolab did not write"
    return None


@case("output folders", mentions=("synbiolab",), check=_project_intact)
def case_overwrite_a_project_with_a_config_json(ctx, folder):
    thesis = folder / "thesis"
    (thesis / "src").mkdir(parents=True)
    (thesis / "config.json").write_text('{"latex": true}')
    (thesis / "thesis.tex").write_text("\\chapter{Results}")
    (thesis / "src" / "analysis.py").write_text("print(42)")
    return ["train", *TINY, "--out", thesis, "--overwrite"]


def _run_intact(ctx, folder, res):
    return "the existing run was replaced without --overwrite" if ctx_snapshot(folder) != ctx_snapshot_saved(folder) \
        else None


_saved: dict[str, dict] = {}


def ctx_snapshot(folder: Path) -> dict:
    return snapshot(folder / "run")


def ctx_snapshot_saved(folder: Path) -> dict:
    return _saved.get(str(folder), {})


@case("output folders", mentions=("--overwrite",), needs=("mlp",), check=_run_intact)
def case_out_an_existing_run(ctx, folder):
    ctx.copy("mlp", folder / "run")
    _saved[str(folder)] = snapshot(folder / "run")
    return ["train", *TINY, "--out", folder / "run"]


def _link_target_intact(ctx, folder, res):
    if not (folder / "elsewhere" / "data.csv").is_file():
        return "--overwrite through a link deleted the folder it points to"
    return None


@case("output folders", mentions=("link",), check=_link_target_intact)
def case_overwrite_a_symbolic_link(ctx, folder):
    (folder / "elsewhere").mkdir()
    (folder / "elsewhere" / "data.csv").write_text("a,b\n1,2\n")
    (folder / "link").symlink_to(folder / "elsewhere")
    return ["train", *TINY, "--out", folder / "link", "--overwrite"]


@case("output folders", mentions=("notes.txt",), check=_unchanged("notes.txt", b"keep"))
def case_out_an_existing_file(ctx, folder):
    (folder / "notes.txt").write_bytes(b"keep")
    return ["train", *TINY, "--out", folder / "notes.txt"]


def _outside_intact(ctx, folder, res):
    outside = folder / "outside"
    if (outside / "photo.png").read_bytes() != b"not yours" or len(list(outside.iterdir())) != 1:
        return "the report wrote through the figures link into a folder outside the run"
    return None


@case("output folders", mentions=("link",), needs=("mlp",), check=_outside_intact)
def case_figures_folder_a_link(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    (folder / "outside").mkdir()
    (folder / "outside" / "photo.png").write_bytes(b"not yours")
    shutil.rmtree(run / "figures", ignore_errors=True)
    (run / "figures").symlink_to(folder / "outside")
    return ["train", "--resume", run, "--quiet"]


READ_ONLY = """
import builtins, errno, io, os
_ROOT = {root!r}
def _inside(path):
    try:
        return os.path.abspath(os.fsdecode(path)).startswith(_ROOT)
    except TypeError:
        return False
def _refuse(path):
    raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
def _wrap(fn, writes):
    def wrapped(path, *args, **kwargs):
        if _inside(path) and writes(args, kwargs):
            _refuse(path)
        return fn(path, *args, **kwargs)
    return wrapped
_always = lambda args, kwargs: True
_open_flags = lambda args, kwargs: bool((args[0] if args else kwargs.get("flags", 0))
                                        & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
_open_mode = lambda args, kwargs: any(c in (args[0] if args else kwargs.get("mode", "r")) for c in "wax+")
os.open = _wrap(os.open, _open_flags)
builtins.open = io.open = _wrap(io.open, _open_mode)
for _name in ("mkdir", "rmdir", "unlink", "remove"):
    setattr(os, _name, _wrap(getattr(os, _name), _always))
_replace, _rename = os.replace, os.rename
def _moved(fn):
    def wrapped(src, dst, *args, **kwargs):
        if _inside(src) or _inside(dst):
            _refuse(dst)
        return fn(src, dst, *args, **kwargs)
    return wrapped
os.replace, os.rename = _moved(_replace), _moved(_rename)
"""

FULL_DISK = """
import errno, os
_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if os.fspath(dst).endswith({suffix!r}):
        raise OSError(errno.ENOSPC, "No space left on device", os.fspath(dst))
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


def _read_only_case(name, prepare, args, mentions, needs=()):
    """A case whose folder ro/ acts as a read-only file system (every write there fails with EROFS)."""
    def body(ctx, folder):
        prepare(ctx, folder)
        _saved[str(folder)] = snapshot(folder / "ro")
        return args(ctx, folder)

    def check(ctx, folder, res):
        if snapshot(folder / "ro") != _saved.get(str(folder)):
            return "a file in the read-only folder changed"
        return None

    CASES.append(Case(name, "output folders", body, "error", tuple(mentions), tuple(needs), check,
                      inject=lambda folder: READ_ONLY.format(root=str(folder / "ro"))))


def _ro_empty(ctx, folder):
    (folder / "ro").mkdir()


def _ro_with_run(ctx, folder):
    (folder / "ro").mkdir()
    ctx.copy("mlp", folder / "ro" / "run")


_read_only_case("read-only-new-run", _ro_empty, lambda ctx, folder: tiny(folder / "ro"), ("read-only",))
_read_only_case("read-only-overwrite", _ro_with_run, lambda ctx, folder: tiny(folder / "ro", "--overwrite"),
                ("read-only",), needs=("mlp",))
_read_only_case("read-only-resume", _ro_with_run,
                lambda ctx, folder: ["train", "--resume", folder / "ro" / "run", "--epochs", "3", "--quiet"],
                ("read-only",), needs=("mlp",))
_read_only_case("read-only-sample-out", _ro_empty,
                lambda ctx, folder: ["sample", ctx.fixtures["gan"], "--out", folder / "ro" / "s.png"],
                ("read-only",), needs=("gan",))


def _full_disk_case(name, suffix, args, mentions, needs=("mlp",), copy=True, keep_checkpoint=False):
    def body(ctx, folder):
        if copy:
            ctx.copy("mlp", folder / "run")
        _saved[str(folder)] = snapshot(folder / "run")
        return args(ctx, folder)

    def check(ctx, folder, res):
        left = temporaries(folder)
        if left:
            return f"a temporary file was left: {left[0]}"
        before, after = _saved.get(str(folder), {}), snapshot(folder / "run")
        lost = [k for k in before if k not in after]
        if lost:
            return f"{lost[0]} was lost"
        if keep_checkpoint and before.get("checkpoint/state.pt") != after.get("checkpoint/state.pt"):
            return "the last good checkpoint changed"
        return None

    c = Case(name, "output folders", body, "error", tuple(mentions), needs, check,
             inject=FULL_DISK.format(suffix=suffix))
    CASES.append(c)


_full_disk_case("full-disk-at-the-first-checkpoint", "state.pt", lambda ctx, folder: tiny(folder / "new"),
                ("checkpoint",), needs=(), copy=False)
_full_disk_case("full-disk-on-resume-checkpoint", "state.pt",
                lambda ctx, folder: ["train", "--resume", folder / "run", "--epochs", "3", "--quiet"],
                ("checkpoint",), keep_checkpoint=True)
# the message names the run folder (new/run) by its path, which the check strips: it must say what happened
_full_disk_case("full-disk-at-the-model", "model.safetensors", lambda ctx, folder: tiny(folder / "new"),
                ("disk is full", "model.safetensors"), needs=(), copy=False)
_full_disk_case("full-disk-at-the-config", "config.json", lambda ctx, folder: tiny(folder / "new"),
                ("disk is full", "config.json"), needs=(), copy=False)


@case("output folders", mentions=("/dev/null",))
def case_out_dev_null(ctx, folder):
    return ["train", *TINY, "--out", "/dev/null"]


# --- 6. concurrency and kills (custom runs)


@case("concurrency", custom=True, needs=("mlp",))
def case_two_overwrites_at_once(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    # the recipe's MLP for 40 epochs: long enough that the second writer starts (a few seconds) before it ends
    args = ["train", "--data", "digits", "--model", "mlp", "--epochs", "40", "--quiet", "--out", run, "--overwrite"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(folder / "first.err", "w") as err:
        first = subprocess.Popen([sys.executable, "-m", "synbiolab", *map(str, args)], cwd=folder, env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 120
        # the second writer starts while the first is training (its history has begun)
        old_history = (run / "history.csv").stat().st_mtime_ns if (run / "history.csv").exists() else 0
        while time.time() < deadline:
            h = run / "history.csv"
            if h.exists() and h.stat().st_mtime_ns != old_history:
                break
            time.sleep(0.05)
        second = synbiolab(args, folder, ctx.timeout)
        first.wait(timeout=ctx.timeout)
    first_err = (folder / "first.err").read_text()
    if "Traceback" in second.err or "Traceback" in first_err:
        return "traceback", (second.err or first_err).strip().splitlines()[-1][:160]
    rows = len((run / "history.csv").read_text().strip().splitlines()) - 1 if (run / "history.csv").exists() else 0
    if first.returncode == 0 and second.rc == 2 and len(error_lines(second.err)) == 1 and rows == 40:
        return "clear", error_lines(second.err)[0][:160]
    return "silent", (f"first exit {first.returncode}, second exit {second.rc}; the folder holds {rows} of 40 "
                      "epochs")


@case("concurrency", custom=True, needs=("mlp",))
def case_resume_while_another_process_writes(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    before = snapshot(run)
    with open(run / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()}")
        fh.flush()
        res = synbiolab(["train", "--resume", run, "--epochs", "3", "--quiet"], folder, ctx.timeout)
        changed = snapshot(run) != before
    if "Traceback" in res.err:
        return "traceback", res.err.strip().splitlines()[-1][:160]
    if res.rc == 2 and len(error_lines(res.err)) == 1 and not changed:
        return "clear", error_lines(res.err)[0][:160]
    return "silent", f"exit {res.rc}; the folder {'changed' if changed else 'is unchanged'} while another held it"


@case("concurrency", custom=True, needs=("mlp",))
def case_stale_lock_of_a_dead_process(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    (run / ".lock").write_text("process 999999")
    res = synbiolab(["train", "--resume", run, "--epochs", "3", "--quiet"], folder, ctx.timeout)
    if "Traceback" in res.err:
        return "traceback", res.err.strip().splitlines()[-1][:160]
    if res.rc == 0:
        return "clear", "the stale lock was taken over"
    return "silent", f"a stale lock refused the run: {res.err.strip()[:140]}"


def _weights(path: Path) -> bytes:
    return (path / "model.safetensors").read_bytes() if (path / "model.safetensors").is_file() else b""


@case("concurrency", custom=True)
def case_kill_9_then_resume_reaches_the_same_weights(ctx, folder):
    args = ["train", "--data", "digits", "--model", "mlp", "--epochs", "6", "--set", "model.hidden_units=[32]",
            "--quiet", "--out"]
    whole = synbiolab([*args, folder / "whole"], folder, ctx.timeout)
    if whole.rc != 0:
        return "not run", f"the uninterrupted run failed: {whole.err.strip()[-120:]}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cut = folder / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "synbiolab", *map(str, [*args, cut])], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (cut / "history.csv").is_file():
        time.sleep(0.02)
    time.sleep(random.Random(7).uniform(0.0, 0.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = synbiolab(["train", "--resume", cut, "--quiet"], folder, ctx.timeout)
    if "Traceback" in res.err:
        return "traceback", res.err.strip().splitlines()[-1][:160]
    if res.rc != 0:
        return "silent", f"resume after kill -9 failed: {res.err.strip()[-140:]}"
    if _weights(cut) != _weights(folder / "whole"):
        return "silent", "the resumed weights differ from the uninterrupted run's"
    left = temporaries(cut)
    return ("silent", f"a temporary was left: {left[0]}") if left else ("clear", "bit-identical weights")


@case("concurrency", custom=True, needs=("mlp",))
def case_half_written_checkpoint_is_cleaned(ctx, folder):
    run = ctx.copy("mlp", folder / "run")
    tmp = run / "checkpoint" / ".state.pt.4242.x1y2z3.tmp"
    tmp.write_bytes((run / "checkpoint" / "state.pt").read_bytes()[:1000])
    res = synbiolab(["train", "--resume", run, "--quiet"], folder, ctx.timeout)
    if "Traceback" in res.err:
        return "traceback", res.err.strip().splitlines()[-1][:160]
    if tmp.exists():
        return "silent", "the half-written checkpoint temporary is still there"
    return ("clear", "removed") if res.rc == 0 else ("silent", f"exit {res.rc}: {res.err.strip()[:140]}")


# --- the campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--only", default=None, help="run only the cases whose name holds this word")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a case may take")
    parser.add_argument("--json", default=None, help="write every case's outcome to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args()
    cases = [c for c in CASES if args.only is None or args.only in c.name]
    if args.list:
        for c in cases:
            print(f"{c.family:<16} {c.name}")
        print(f"{len(cases)} cases")
        return
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    (root / "cases").mkdir()
    ctx = Context(root, args.timeout)
    probe = subprocess.run([sys.executable, "-c", "import synbiolab, os; print(os.path.dirname(synbiolab.__file__))"],
                           capture_output=True, text=True, env={**os.environ})
    print(f"synbiolab under test: {probe.stdout.strip() or probe.stderr.strip()[-200:]}", flush=True)
    print(f"{len(cases)} cases in {root}", flush=True)
    start = time.time()
    needed = {n for c in cases for n in c.needs}
    if needed:
        build_fixtures(ctx)
    results = []
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        for result in pool.map(lambda c: run_case(c, ctx), cases):
            results.append(result)
            print(f"{result['outcome']:<9} {result['family']:<15} {result['name']:<48} {result['detail']}", flush=True)
    counts = {k: sum(r["outcome"] == k for r in results) for k in (*OUTCOMES, "not run")}
    print()
    print(f"{len(results)} cases in {time.time() - start:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    families = sorted({r["family"] for r in results})
    for family in families:
        rows = [r for r in results if r["family"] == family]
        print(f"  {family:<16} " + ", ".join(f"{k} {sum(r['outcome'] == k for r in rows)}" for k in OUTCOMES))
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "cases": results}, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"kept: {root}")


if __name__ == "__main__":
    main()
