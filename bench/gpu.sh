#!/usr/bin/env bash
# GPU checks and benchmarks for an accelerator machine. Uses the machine's own Python and PyTorch (no
# install: the package runs from src/), checks that training runs on CUDA with bf16 autocast, then runs
# the foundation benchmark on the GPU. Prints numbers only.
# Usage, from the repository root: bash bench/gpu.sh DATA_DIR [CLASSIC_MNIST_SCRIPT]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$(cd "${1:-${SYNBIOLAB_DATA:-../shared/data}}" && pwd)"
REFERENCE="${2:-../shared/bench/classic_mnist.py}"
export SYNBIOLAB_DATA="$DATA" PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" - <<'PY'
import tempfile, torch
from synbiolab import default_config, train
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
cfg = default_config("digits", "cnn"); cfg.train.epochs = 3; cfg.train.device = "cuda"; cfg.train.progress = False
run = train(cfg, out=tempfile.mkdtemp() + "/digits", verbose=False)
print("gpu check: digits cnn trained on cuda (bf16 autocast), test accuracy %.4f" % run.metrics["test"]["accuracy"])
PY
"$PY" bench/foundation.py --device cuda --reference "$REFERENCE" "${@:3}"
