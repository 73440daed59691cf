"""Benchmark of generalisation verdicts on runs whose answer is known by construction.

Each scenario trains a real run (MNIST subsets, or scikit-learn's 8x8 digits where MNIST would be slow
on a laptop), diagnoses it and compares the verdict with the one the construction guarantees: a 2-unit
network cannot fit ten classes (underfitting), a wide network on 100 examples memorises them
(overfitting), a learning rate of 10 blows up (unstable), and so on. For every underfitting and
overfitting scenario the first recommended fix is applied and the validation error before and after
is printed.

    SYNBIOLAB_DATA=../shared/data python bench/diagnosis.py            # all scenarios
    python bench/diagnosis.py --only digits --no-fix                  # a subset, verdicts only
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from synbiolab import SynbiolabError, TrainingDiverged, apply_overrides, default_config, diagnose, fix, train
from synbiolab.config import set_value
from synbiolab.runs import Run


@dataclass
class Scenario:
    name: str
    expected: str
    data: str
    model: str
    overrides: list[str] = field(default_factory=list)
    why: str = ""


FAST = ["train.progress=false"]
NO_REGULARISATION = ["model.dropout=0.0", "train.weight_decay=0"]
MNIST_SMALL_VAL = ["data.val_size=2000"]  # evaluation each epoch on 2,000 images keeps MNIST runs short

SCENARIOS = [
    Scenario("digits: MLP with 2 hidden units", "underfitting", "digits", "mlp",
             ["model.hidden_units=[2]", "train.epochs=30", *NO_REGULARISATION],
             "two numbers cannot separate ten digit classes"),
    Scenario("mnist 5k: MLP with 2 hidden units", "underfitting", "mnist", "mlp",
             ["data.train_size=5000", "model.hidden_units=[2]", "train.epochs=8", *NO_REGULARISATION,
              *MNIST_SMALL_VAL], "two numbers cannot separate ten digit classes"),
    Scenario("mnist 10k: logistic 784->10, 1 epoch, lr 1e-6", "underfitting", "mnist", "mlp",
             ["data.train_size=10000", "model.hidden_units=[]", "train.lr=1e-6", "train.epochs=1",
              "train.schedule=cosine", *MNIST_SMALL_VAL], "steps too small to move the weights"),
    Scenario("digits: logistic 64->10, 2 epochs, lr 1e-5", "underfitting", "digits", "mlp",
             ["model.hidden_units=[]", "train.lr=1e-5", "train.epochs=2", "train.schedule=cosine"],
             "steps too small to move the weights"),
    Scenario("digits 100: MLP 1024x1024, 60 epochs, no regularisation", "overfitting", "digits", "mlp",
             ["data.train_size=100", "model.hidden_units=[1024,1024]", "train.epochs=60",
              *NO_REGULARISATION],
             "a million parameters for 100 examples"),
    Scenario("mnist 500: MLP 512x512, 50 epochs, no regularisation", "overfitting", "mnist", "mlp",
             ["data.train_size=500", "model.hidden_units=[512,512]", "train.epochs=50", *NO_REGULARISATION,
              *MNIST_SMALL_VAL], "670,000 parameters for 500 examples"),
    Scenario("mnist 500: the same with 25% of labels shuffled", "overfitting", "mnist", "mlp",
             ["data.train_size=500", "data.label_noise=0.25", "model.hidden_units=[512,512]",
              "train.epochs=50", *NO_REGULARISATION, *MNIST_SMALL_VAL],
             "memorises wrong labels too; noise must be reported"),
    Scenario("digits: MLP 512x512 on 25% shuffled labels, 150 epochs", "overfitting", "digits", "mlp",
             ["data.label_noise=0.25", "model.hidden_units=[512,512]", "train.epochs=150",
              *NO_REGULARISATION],
             "memorises 300 wrong labels"),
    Scenario("mnist 10k: default CNN (its recipe)", "good fit", "mnist", "cnn",
             ["data.train_size=10000", *MNIST_SMALL_VAL], "the model the recipe was tuned for"),
    Scenario("digits: default CNN, 15 epochs", "good fit", "digits", "cnn",
             ["train.epochs=15"], "convolutions suit images; dropout and weight decay on"),
    Scenario("digits: MLP 256 with dropout 0.3, 40 epochs", "good fit", "digits", "mlp",
             ["model.hidden_units=[256]", "model.dropout=0.3", "train.epochs=40"],
             "capacity, data and regularisation in balance"),
    Scenario("mnist 10k: default MLP stopped after 1 epoch", "still improving", "mnist", "mlp",
             ["data.train_size=10000", "train.epochs=1", "train.schedule=cosine", *MNIST_SMALL_VAL],
             "one pass cannot show convergence; the validation loss fell all the way"),
    Scenario("digits: CNN stopped after 3 epochs at a constant lr", "still improving", "digits", "cnn",
             ["train.epochs=3", "train.schedule=none", "train.lr=3e-3"], "stopped while falling"),
    Scenario("mnist 5k: MLP with lr 10", "unstable", "mnist", "mlp",
             ["data.train_size=5000", "train.lr=10", "train.epochs=3", *MNIST_SMALL_VAL],
             "steps far too large"),
    Scenario("digits: CNN with lr 10 (SGD)", "unstable", "digits", "cnn",
             ["train.lr=10", "train.optimizer=sgd", "train.epochs=5"], "steps far too large"),
]


def run_scenario(scenario: Scenario, folder: Path, apply_fix: bool) -> dict:
    config = default_config(scenario.data, scenario.model)
    for override in scenario.overrides + FAST:
        key, _, value = override.partition("=")
        if value == "none":  # a literal "none" setting (the --set parser reads none as a missing value)
            set_value(config, key, value)
        else:
            apply_overrides(config, [override])
    out = folder / "".join(ch if ch.isalnum() else "-" for ch in scenario.name)[:60]
    started = time.perf_counter()
    try:
        run = train(config, out=out, overwrite=True, verbose=False)
    except TrainingDiverged:
        run = Run(out)
    diagnosis = diagnose(run, verbose=False, report=False)
    row = {"scenario": scenario.name, "expected": scenario.expected, "verdict": diagnosis.verdict,
           "match": diagnosis.verdict == scenario.expected, "fix": "", "val_before": math.nan,
           "val_after": math.nan, "noise": diagnosis.evidence.get("label_noise_estimate"),
           "noise_reported": any(note.startswith("label noise: about") for note in diagnosis.notes)}
    if apply_fix and scenario.expected in ("underfitting", "overfitting") and diagnosis.fixes:
        result = fix(run, apply=1, verbose=False, diagnose_after=False, overwrite=True)
        row.update(fix=" ".join(result.fix.overrides), val_before=result.before["val_error"],
                   val_after=result.after["val_error"])
    row["seconds"] = time.perf_counter() - started
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this text")
    parser.add_argument("--no-fix", action="store_true", help="skip applying the first fix")
    parser.add_argument("--keep", default=None, help="keep the run folders here (default: temporary)")
    args = parser.parse_args(argv)

    chosen = [s for s in SCENARIOS if args.only.lower() in s.name.lower()]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="synbiolab-diagnosis-"))
    started = time.perf_counter()
    rows = []
    try:
        for scenario in chosen:
            try:
                row = run_scenario(scenario, folder, not args.no_fix)
            except SynbiolabError as exc:
                row = {"scenario": scenario.name, "expected": scenario.expected, "verdict": f"error: {exc}",
                       "match": False, "fix": "", "val_before": math.nan, "val_after": math.nan,
                       "noise": None, "noise_reported": False, "seconds": math.nan}
            rows.append(row)
            print(f"  {row['scenario']}: {row['verdict']} ({row['seconds']:.0f} s)", file=sys.stderr,
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    width = max(len(row["scenario"]) for row in rows)
    print(f"{'scenario':<{width}}  {'expected':<15}  {'verdict':<15}  match  {'noise':>6}  {'seconds':>7}")
    for row in rows:
        noise = f"{row['noise']:.0%}" if row["noise"] is not None else "-"
        if row["noise_reported"]:
            noise += "*"
        print(f"{row['scenario']:<{width}}  {row['expected']:<15}  {row['verdict']:<15}  "
              f"{'yes' if row['match'] else 'NO':<5}  {noise:>6}  {row['seconds']:>7.0f}")
    correct = sum(row["match"] for row in rows)
    print(f"verdict accuracy: {correct}/{len(rows)} = {correct / max(len(rows), 1):.0%}"
          "   (noise: label-noise estimate, * = reported in the notes)")

    fixed = [row for row in rows if row["fix"]]
    if fixed:
        print()
        width = max(len(row["scenario"]) for row in fixed)
        print(f"{'scenario':<{width}}  {'first fix':<34}  {'val before':>10}  {'val after':>9}  lower")
        for row in fixed:
            lower = row["val_after"] < row["val_before"]
            print(f"{row['scenario']:<{width}}  {row['fix']:<34}  {row['val_before']:>10.4f}  "
                  f"{row['val_after']:>9.4f}  {'yes' if lower else 'NO'}")
        lowered = sum(row["val_after"] < row["val_before"] for row in fixed)
        print(f"first fix lowered the validation error: {lowered}/{len(fixed)}")
    print(f"total time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
