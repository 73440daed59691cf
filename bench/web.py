"""Benchmark of `synbiolab serve`: the run table with 1,000 runs and 20 clients, and a digit prediction.

Prints, measured in this one run:
- the time a client waits for GET /api/runs (median, 95th percentile, worst) with 20 clients asking at
  once, 5 times each, on a runs folder of 1,000 synthetic runs (config, history, metrics, kind);
- the server's own time for POST /api/runs/{id}/predict of a drawn digit (the Server-Timing header), on a
  small CNN trained on the spot on the 8x8 digits, and on an untrained CNN of MNIST's 28x28 size.

The issue's targets: the table in at most 1 s, a prediction in at most 50 ms of server time on a CPU.
Timings on a shared machine are not to be trusted; take them on a quiet one.

    python bench/web.py [--runs 1000] [--clients 20] [--rounds 5] [--predictions 50]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def synthetic_runs(root: Path, n: int) -> None:
    """n run folders as `synbiolab train` writes them, without weights (the table reads no weights)."""
    header = "epoch,step,train_loss,train_metric,train_error,val_loss,val_metric,val_error,lr,seconds\n"
    for i in range(n):
        folder = root / f"sweep-{i // 100:02d}" / "runs" / f"run-{i:04d}" if i % 2 else root / f"run-{i:04d}"
        folder.mkdir(parents=True)
        epochs = 5 + i % 20
        (folder / "kind.json").write_text('{"kind": "train"}')
        (folder / "config.json").write_text(json.dumps({
            "data": {"name": "mnist", "seed": 0}, "model": {"name": "mlp", "params": {"hidden_units": [64 + i % 7]}},
            "train": {"lr": 10 ** -(1 + i % 4), "seed": i % 3, "epochs": epochs},
            "meta": {"started": f"2026-01-{1 + i % 28:02d}T10:00:00"}}))
        rows = "".join(f"{e},{e * 100},{1 / e},{1 - 0.5 / e},{0.5 / e},{1.1 / e},{1 - 0.6 / e},{0.6 / e},0.001,{e}\n"
                       for e in range(1, epochs + 1))
        (folder / "history.csv").write_text(header + rows)
        (folder / "metrics.json").write_text(json.dumps({
            "status": "finished", "task": "multiclass", "metric_name": "accuracy", "best_epoch": epochs,
            "test": {"accuracy": 0.9 + (i % 10) / 100, "error": 0.1 - (i % 10) / 100}, "val": {"error": 0.1},
            "train_seconds": 10.0 + i % 50, "n_parameters": 50000 + i}))
    for i in range(10):
        (root / f"sweep-{i:02d}" / "kind.json").write_text('{"kind": "sweep"}')
        (root / f"sweep-{i:02d}" / "sweep.csv").write_text("run,val_error\n")


def start_server(root: Path):
    import uvicorn

    from synbiolab.web import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def table_latency(base: str, clients: int, rounds: int) -> list[float]:
    import httpx

    def client(_):
        times = []
        with httpx.Client(timeout=30) as http:
            for _ in range(rounds):
                start = time.perf_counter()
                response = http.get(f"{base}/api/runs")
                response.raise_for_status()
                times.append(time.perf_counter() - start)
        return times

    with ThreadPoolExecutor(clients) as pool:
        return [t for times in pool.map(client, range(clients)) for t in times]


def drawn_digit(size: int = 280) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).ellipse((size * 0.3, size * 0.15, size * 0.7, size * 0.85), outline=0, width=size // 14)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def prediction_times(base: str, run: str, n: int) -> list[float]:
    import httpx

    png = drawn_digit()
    times = []
    with httpx.Client(timeout=30) as http:
        http.post(f"{base}/api/runs/{run}/predict", content=png, headers={"content-type": "image/png"})  # load
        for _ in range(n):
            response = http.post(f"{base}/api/runs/{run}/predict", content=png, headers={"content-type": "image/png"})
            response.raise_for_status()
            times.append(float(response.headers["server-timing"].split("dur=")[1]))
    return times


def mnist_sized_cnn(folder: Path) -> None:
    """An untrained CNN of the MNIST recipe's size (28x28 input), saved as a run: the timing does not depend
    on the weights, and MNIST itself need not be on the machine."""
    import torch

    from synbiolab.models.cnn import CNN
    from synbiolab.runs import save_model

    torch.manual_seed(0)
    net = CNN(input_shape=(1, 28, 28), n_outputs=10)
    folder.mkdir(parents=True)
    (folder / "kind.json").write_text('{"kind": "train"}')
    (folder / "config.json").write_text(json.dumps({"data": {"name": "mnist"}, "model": {"name": "cnn", "params": {}},
                                                    "train": {}}))
    (folder / "metrics.json").write_text('{"status": "finished", "task": "multiclass"}')
    save_model(folder, net.eval(), "cnn", {}, {"input_shape": [1, 28, 28], "n_outputs": 10, "task": "multiclass",
                                               "class_names": [str(i) for i in range(10)], "data": "mnist",
                                               "kind": "image", "normalisation": {"mean": 0.1307, "std": 0.3081,
                                                                                  "scale": 255.0, "fill": 20 / 28}})


def summary(values: list[float], unit: str, scale: float = 1.0) -> str:
    ordered = sorted(v * scale for v in values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"median {statistics.median(ordered):.1f} {unit}, 95th percentile {p95:.1f} {unit}, "
            f"worst {ordered[-1]:.1f} {unit} ({len(ordered)} requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--predictions", type=int, default=50)
    args = parser.parse_args()
    import torch

    import synbiolab
    from synbiolab.web.index import run_id

    base_dir = Path(tempfile.mkdtemp(prefix="synbiolab-bench-web-"))
    try:
        root = base_dir / "runs"
        root.mkdir()
        start = time.perf_counter()
        synthetic_runs(root, args.runs)
        print(f"runs folder: {args.runs:,} synthetic runs written in {time.perf_counter() - start:.1f} s")
        cfg = synbiolab.default_config("digits", "cnn")
        cfg.train.epochs = 3
        synbiolab.train(cfg, out=root / "digits-cnn", verbose=False)
        mnist_sized_cnn(root / "mnist-cnn")
        server, thread, base = start_server(root)
        try:
            import httpx

            start = time.perf_counter()
            count = httpx.get(f"{base}/api/runs", timeout=60).json()["count"]
            print(f"first table (the scan of every folder): {count:,} folders in "
                  f"{(time.perf_counter() - start) * 1000:.0f} ms")
            latencies = table_latency(base, args.clients, args.rounds)
            print(f"GET /api/runs, {args.clients} clients at once: {summary(latencies, 'ms', 1000)}; "
                  f"target <= 1000 ms")
            for name in ("digits-cnn", "mnist-cnn"):
                times = prediction_times(base, run_id(name), args.predictions)
                print(f"POST predict of a drawn digit ({name}), server time: {summary(times, 'ms')}; target <= 50 ms")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        print(f"torch threads: {torch.get_num_threads()}. Timings on a shared machine are not to be trusted; "
              "take them on a quiet one.")
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
