"""Sequence design: sample a sequence GAN, score the samples with a trained predictor, keep the best.

``design`` is what ``synbiolab design`` runs: candidates from the generator (optionally refined by gradient
ascent in latent space), predictions by an expression model, and the top designs compared with the measured
promoters of Wang et al. (2020) that both models never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import GanConfig
from .data import load_dataset
from .data.generative import prepare_gan_data
from .data.sequences import one_hot
from .data.synbio import measured_promoters
from .errors import SynbiolabError
from .evaluate.genmetrics import as_index_array, box_calls, index_to_strings, mean_pairwise_distance, nearest_hamming
from .generate import generate, hard_one_hot, load_gan, open_gan_run
from .report.sections.design import write_design_report
from .runs import atomic_write_json, atomic_write_text, open_run, start_folder

CLONING_PREFIX = "AATTC"  # the EcoRI overhang that every measured construct starts with
MAX_CANDIDATES = 1_000_000  # sequences sampled at once (a million 50-nt candidates take about 1 GB)
MAX_REFINE_STEPS = 10_000  # gradient steps in latent space (each one a forward and backward pass over all of --n)


def load_predictor(path, sequence_shape) -> tuple:
    """An expression predictor run, checked against the generator's sequences.

    Args:
        path: a run folder of a sequence regression model (``synbiolab train --data ecoli_promoters``).
        sequence_shape: (4, L) of the generated sequences.

    Returns:
        (Run, model) with the model in evaluation mode on the CPU.
    """
    run = open_run(path, expect="train", verb="--predictor")
    spec = run.model_spec
    alphabet = run.config.data.alphabet
    shape = tuple(spec.get("input_shape", ()))
    if spec.get("kind") != "sequence" or alphabet != "dna" or (shape and shape[0] != 4):
        raise SynbiolabError(
            f"--predictor {path}: reads {spec.get('kind')} data (alphabet {alphabet}, input shape {shape}); "
            f"the generator writes DNA of shape {tuple(sequence_shape)}"
        )
    if shape != tuple(sequence_shape):
        raise SynbiolabError(
            f"--predictor {path}: was trained on {shape[1]}-nt sequences but the generator writes "
            f"{sequence_shape[1]}-nt sequences; train the predictor on {sequence_shape[1]}-nt DNA"
        )
    if spec.get("task") != "regression" or int(spec.get("n_outputs", 0)) != 1:
        raise SynbiolabError(
            f"--predictor {path}: is a {spec.get('task')} model with {spec.get('n_outputs')} output(s); "
            "design needs a regression model of one expression value (e.g. trained on ecoli_promoters)"
        )
    return run, run.load_model("cpu")


@torch.no_grad()
def predict_sequences(predictor: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """(N,) predictions of a one-output predictor for (N, 4, L) sequences."""
    predictor.eval()
    out = [predictor(x[start : start + batch_size]).float().reshape(-1) for start in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0)


def parse_target(target: str, low: float, high: float) -> tuple[str, float | None]:
    """``high``, ``low`` or a number inside [low, high] (the predictor's training range)."""
    text = str(target).strip().lower()
    if text in ("high", "low"):
        return text, None
    try:
        value = float(text)
    except ValueError:
        raise SynbiolabError(f"--target {target}: expected high, low or a number") from None
    if not low <= value <= high:
        raise SynbiolabError(
            f"--target {target}: outside the range the predictor was trained on ({low:.3g} to {high:.3g}); "
            "a prediction there is an extrapolation: choose a value inside it, or high / low"
        )
    return "value", value


def _objective(predicted: torch.Tensor, mode: str, value: float | None) -> torch.Tensor:
    """Score to maximise: the prediction (high), its negative (low) or minus the distance to a value."""
    if mode == "high":
        return predicted
    if mode == "low":
        return -predicted
    return -(predicted - value).abs()


def refine_latent(
    generator: nn.Module,
    predictor: nn.Module,
    latent: torch.Tensor,
    mode: str,
    value,
    steps: int,
    lr: float = 0.05,
) -> torch.Tensor:
    """Gradient ascent in latent space: move each z so that the predictor scores G(z) closer to the target.

    The generator's softmax output is differentiable, so the predictor's gradient flows back to z; the
    latent vectors stay near the prior because each step is small and the number of steps is limited.

    Returns:
        The refined latent vectors.
    """
    z = latent.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    generator.eval()
    predictor.eval()
    for _ in range(steps):
        score = _objective(predictor(generator(z)).reshape(-1), mode, value)
        optimizer.zero_grad(set_to_none=True)
        (-score.sum()).backward()
        optimizer.step()
    return z.detach()


def _encode_measured(sequences: list[str], length: int, pad: str) -> torch.Tensor:
    """One-hot of measured constructs without their cloning overhang, fitted to the predictor's length."""
    stripped = [s[len(CLONING_PREFIX) :] if s.startswith(CLONING_PREFIX) else s for s in sequences]
    x, _ = one_hot(stripped, "dna", False, length, pad)
    return torch.as_tensor(x)


def design(
    generator_run,
    predictor_run,
    n: int = 10000,
    top: int = 100,
    target: str = "high",
    refine_steps: int = 0,
    out=None,
    overwrite: bool = False,
    seed: int = 0,
    verbose: bool = True,
):
    """Design promoters: sample a sequence GAN, score every sequence with an expression predictor, keep the
    ``top`` best for the target, and write designs.fasta and a design report.

    Args:
        generator_run: a ``wgan_seq`` GAN run.
        predictor_run: a regression run on DNA of the same length (e.g. cnn1d on ecoli_promoters).
        n: sequences sampled.
        top: designs kept.
        target: ``high``, ``low`` or a value of the predictor's target (e.g. a log10 expression).
        refine_steps: gradient-ascent steps in latent space before scoring (0: plain sampling).
        out: output folder (default ``<generator run>/design``).
        overwrite: replace an existing output folder.
        seed: seed of the latent vectors.
        verbose: print a summary.

    Returns:
        The output folder.
    """
    gan_run = open_gan_run(generator_run)
    model = load_gan(gan_run)
    if model.spec["data_kind"] != "sequence":
        raise SynbiolabError(f"--generator {generator_run}: generates images; design needs a sequence GAN (wgan_seq)")
    if not 1 <= n <= MAX_CANDIDATES or not 1 <= top <= n:
        raise SynbiolabError(f"--n {n} --top {top}: sample 1 to {MAX_CANDIDATES:,} sequences and keep 1 to --n of them")
    if not 0 <= refine_steps <= MAX_REFINE_STEPS:
        raise SynbiolabError(f"--refine-steps {refine_steps}: out of range; valid: 0 to {MAX_REFINE_STEPS:,}")
    if not 0 <= seed < 2**32:
        raise SynbiolabError(f"--seed {seed}: out of range; valid: 0 to {2**32 - 1:,}")
    shape = tuple(model.spec["input_shape"])
    predictor_run_obj, predictor = load_predictor(predictor_run, shape)
    predictor_data = predictor_run_obj.load_dataset()
    train_targets = predictor_data.train.y.reshape(-1).double()
    low, high = float(train_targets.min()), float(train_targets.max())
    mode, value = parse_target(target, low, high)

    # the folder stays locked while it is written: a second design into the same --out is refused in one line
    out, lock = start_folder(Path(out) if out else gan_run.path / "design", "design", overwrite)
    with lock:
        latent = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed))
        if refine_steps > 0:
            latent = refine_latent(model.generator, predictor, latent, mode, value, refine_steps)
        candidates = hard_one_hot(generate(model, n, latent=latent))
        predicted = predict_sequences(predictor, candidates)
        score = _objective(torch.as_tensor(predicted), mode, value).numpy()
        codes = as_index_array(candidates)
        strings = index_to_strings(codes)
        # keep the best-scoring copy of each distinct sequence
        order = np.argsort(-score, kind="stable")
        seen, chosen = set(), []
        for index in order:
            if strings[index] not in seen:
                seen.add(strings[index])
                chosen.append(int(index))
            if len(chosen) == top:
                break
        chosen = np.asarray(chosen)

        gan_config = gan_run.config
        holdout = gan_config.gan.holdout if gan_config.gan is not None else GanConfig().holdout
        gan_data = prepare_gan_data(load_dataset(gan_config.data), holdout, gan_config.data.seed)
        train_codes = as_index_array(gan_data.train_x)
        heldout_codes = as_index_array(gan_data.heldout_x)
        nearest = nearest_hamming(codes[chosen], train_codes)
        calls = box_calls(codes[chosen])
        records = []
        for rank, index in enumerate(chosen):
            i = rank
            seq = strings[index]
            p10, p35 = int(calls["position_10"][i]), int(calls["position_35"][i])
            box10 = f"{seq[p10 : p10 + 6]}@{p10 + 1}" if calls["has_10"][i] else "none"
            box35 = f"{seq[p35 : p35 + 6]}@{p35 + 1}" if calls["has_35"][i] else "none"
            spacing = int(calls["spacing"][i]) if calls["has_10"][i] and calls["has_35"][i] else "none"
            records.append(
                {
                    "name": f"design_{rank + 1:04d}",
                    "sequence": seq,
                    "predicted": float(predicted[index]),
                    "nearest_train": int(nearest[i]),
                    "box_10": box10,
                    "box_35": box35,
                    "spacing": spacing,
                }
            )
        fasta = "".join(
            f">{r['name']} predicted={r['predicted']:.4f} nearest_train={r['nearest_train']} box10={r['box_10']} "
            f"box35={r['box_35']} spacing={r['spacing']}\n{r['sequence']}\n"
            for r in records
        )
        atomic_write_text(out / "designs.fasta", fasta)

        natural_predicted = predict_sequences(predictor, gan_data.heldout_x)
        pad = predictor_run_obj.config.data.pad
        measured = measured_promoters(gan_config.data.data_dir)
        measured_summary = None
        if measured:
            measured_x = _encode_measured([m[0] for m in measured], shape[1], pad)
            measured_predicted = predict_sequences(predictor, measured_x)
            measured_log = np.log10([m[1] for m in measured])
            measured_summary = {
                "n": len(measured),
                "pearson_r": float(np.corrcoef(measured_predicted, measured_log)[0, 1]),
                "spearman_rho": float(_spearman(measured_predicted, measured_log)),
                "predicted": measured_predicted.tolist(),
                "measured_log10": measured_log.tolist(),
                "names": [m[2] for m in measured],
            }
        summary = {
            "generator": str(gan_run.path),
            "predictor": str(predictor_run_obj.path),
            "n_sampled": n,
            "n_distinct": len(set(strings)),
            "top": len(records),
            "target": target,
            "refine_steps": refine_steps,
            "predictor_training_range": [low, high],
            "designs": {
                "predicted_mean": float(np.mean([r["predicted"] for r in records])),
                "predicted_max": float(np.max([r["predicted"] for r in records])),
                "predicted_min": float(np.min([r["predicted"] for r in records])),
                "identical_to_training": float(np.mean(nearest == 0)),
                "mean_nearest_train": float(nearest.mean()),
                "rate_10": float(calls["has_10"].mean()),
                "rate_35": float(calls["has_35"].mean()),
                "diversity": mean_pairwise_distance(codes[chosen]) if len(chosen) > 1 else 0.0,
            },
            "all_sampled": {"predicted_mean": float(predicted.mean()), "predicted_std": float(predicted.std())},
            "natural_heldout": {
                "n": len(heldout_codes),
                "predicted_mean": float(natural_predicted.mean()),
                "predicted_max": float(natural_predicted.max()),
                "rate_10": float(box_calls(heldout_codes)["has_10"].mean()),
                "rate_35": float(box_calls(heldout_codes)["has_35"].mean()),
            },
            "measured_94": measured_summary,
        }
        atomic_write_json(out / "design.json", summary)
        write_design_report(out, summary, records, predicted, natural_predicted)
        if verbose:
            d = summary["designs"]
            print(
                f"{len(records)} designs of {n:,} sampled ({summary['n_distinct']:,} distinct), target {target}: "
                f"predicted {d['predicted_min']:.3f} to {d['predicted_max']:.3f} "
                f"(mean {d['predicted_mean']:.3f}; "
                f"all sampled {predicted.mean():.3f}, held-out natural {natural_predicted.mean():.3f}); "
                f"identical to a training promoter {d['identical_to_training']:.1%}; -10 box {d['rate_10']:.0%}, "
                f"-35 box {d['rate_35']:.0%}",
                flush=True,
            )
            if measured_summary:
                print(
                    f"predictor on the {measured_summary['n']} measured promoters: Pearson r "
                    f"{measured_summary['pearson_r']:.3f}, Spearman rho {measured_summary['spearman_rho']:.3f}",
                    flush=True,
                )
            print(f"designs: {out / 'designs.fasta'}", flush=True)
    return out


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
