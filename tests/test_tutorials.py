"""Every tutorial of the course runs, in its fast mode, and its headline holds.

Each tutorial is a script in docs/tutorials/ that checks its own headline numbers with ``assert`` (looser
bounds when SYNBIOLAB_TUTORIAL_FAST=1). Here each one runs in its own process with a timeout, as a
student would run it (``python docs/tutorials/NAME.py``), and the number its headline prints is
checked once more against the bound a learner is promised.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_data

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
MNIST = ("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-images-idx3-ubyte.gz")
SPLICE = ("synbio/uci_splice/splice.csv",)
WANG = ("synbio/ecoli_promoters_wang2020/promoter.npy", "synbio/ecoli_promoters_wang2020/gene_expression.npy")

# tutorial -> (data files it reads, pattern of a headline number, check of that number)
CASES = {
    "01_four_steps": (MNIST, r"max \|hand - autograd\| = ([0-9.e+-]+)", lambda v: v <= 1e-6),
    "02_mnist_mlp": (MNIST, r"10-class test accuracy ([0-9.]+)", lambda v: v >= 0.85),
    "03_generalisation": (MNIST, r"gap ([0-9.]+) at \d+ units -> ([0-9.]+) at", lambda a, b: b > a),
    "04_fixing_fits": (MNIST, r"lower the test error in (\d+) of (\d+)", lambda a, b: a >= 4 and b == 6),
    "05_cnn_mnist": (MNIST, r"CNN test accuracy ([0-9.]+) with [\d,]+ parameters, MLP ([0-9.]+)", lambda c, m: c > m),
    "06_classical_vs_deep": (MNIST, r"at \d+ images HoG\+SVM ([0-9.]+) vs CNN ([0-9.]+)", lambda s, c: s > c),
    "07_rnns": (MNIST + SPLICE, r"sequential MNIST test accuracy ([0-9.]+)", lambda v: v >= 0.4),
    "08_dna_as_data": (SPLICE, r"cnn1d test accuracy ([0-9.]+) vs k-mer logistic baseline ([0-9.]+)",
                       lambda c, b: c >= 0.85 and b >= 0.85),
    "09_small_data": (("synbio/uci_promoters/promoters.data",),
                      r"memorising MLP train error ([0-9.]+) vs validation ([0-9.]+)", lambda t, v: t == 0 and v > 0),
    "10_promoter_strength": (WANG, r"cnn1d Pearson r ([0-9.-]+) / Spearman [0-9.-]+ vs 6-mer ridge ([0-9.-]+)",
                             lambda c, r: c >= 0.1 and r >= 0.15),
    "11_ribosome_binding_sites": (("synbio/rbs_1014ic/1014IC.csv",), r"kmer_linear ([0-9.-]+) -> ([0-9.-]+)",
                                  lambda random, grouped: random > grouped),
    "12_gans": (MNIST + WANG + ("synbio/ecoli_promoters_wang2020/sequence_data.txt",),
                r"designs predicted ([+0-9.-]+) log10 above", lambda gain: gain > 0),
}
TIMEOUT_S = 600  # fast mode takes 5 to 60 s on 2 quiet cores, and 3 to 4 times longer on a busy machine


def test_every_tutorial_is_tested():
    scripts = sorted(p.stem for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
    assert scripts == sorted(CASES), f"tutorials without a test, or tests without a tutorial: {scripts}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_tutorial_fast_mode(name, tmp_path):
    files, pattern, check = CASES[name]
    data = require_data(*files)
    env = {**os.environ, "SYNBIOLAB_TUTORIAL_FAST": "1", "SYNBIOLAB_DATA": str(data), "MPLBACKEND": "Agg",
           "TMPDIR": str(tmp_path)}
    env.pop("SYNBIOLAB_TUTORIAL_LONG", None)
    script = TUTORIALS / f"{name}.py"
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} took more than {TIMEOUT_S} s in fast mode")
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    headline = [line for line in done.stdout.splitlines() if line.startswith("headline: ")]
    assert len(headline) == 1, f"{name} printed no headline line:\n{done.stdout[-2000:]}"
    found = re.search(pattern, headline[0])
    assert found, f"{name}: headline does not match {pattern!r}: {headline[0]}"
    values = [float(v) for v in found.groups()]
    assert check(*values), f"{name}: headline numbers {values} fail the check: {headline[0]}"
    # Nothing is written into the project: run folders go to the temporary folder.
    assert not (TUTORIALS / "runs").exists() and not (TUTORIALS.parent.parent / "runs" / name).exists()
