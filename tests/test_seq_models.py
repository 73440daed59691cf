"""Sequence models (cnn1d, rnn, cnn_rnn) and interpretation (ISM, filters as PWMs, motif matching)."""

import numpy as np
import pytest
import torch
from torch import nn

from synbiolab.data.sequences import one_hot
from synbiolab.errors import SynbiolabError
from synbiolab.interpret import (
    CONSENSUS_MOTIFS,
    bacterial_motifs,
    best_sites,
    consensus_ppm,
    filter_pwms,
    importance,
    in_silico_mutagenesis,
    jaspar_motifs,
    match_filters,
    match_motifs,
    motif_similarity,
    motifs_for,
    ppm_consensus,
)
from synbiolab.models.cnn1d import CNN1d
from synbiolab.models.cnn_rnn import CNNRNN
from synbiolab.models.rnn import RNN, compact_padding

# --- shapes


@pytest.mark.parametrize(
    "model",
    [
        CNN1d((4, 60), 3),
        CNN1d((4, 60), 1, channels=[16, 16, 16], kernel_sizes=[9, 5, 3], dilations=[1, 2], global_pool="max"),
        RNN((4, 60), 3, cell="gru", bidirectional=False),
        RNN((4, 60), 3, pooling="mean", num_layers=2),
        CNNRNN((4, 60), 3),
        CNNRNN((4, 60), 3, pooling="flatten"),
    ],
)
def test_sequence_models_map_one_hot_to_logits(model):
    x = torch.from_numpy(one_hot(["ACGT" * 15, "TTGACA" * 10, "GATTACA" * 8], length=60)[0])  # (3, 4, 60)
    assert model(x).shape == (3, model.head.out_features)
    assert model.features(x).shape == (3, model.head.in_features)


@pytest.mark.parametrize("make", [lambda: CNN1d((4, 30), 2), lambda: RNN((4, 30), 2), lambda: CNNRNN((4, 30), 2)])
def test_weights_saved_when_the_head_was_called_out_still_load(make, tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    old = make().eval()
    # the state dict as these models saved it before the output layer was renamed to `head`
    state = {("out" + k[len("head"):] if k.startswith("head.") else k): v for k, v in old.state_dict().items()}
    assert "out.weight" in state and not any(k.startswith("head.") for k in state)
    save_file(state, tmp_path / "model.safetensors")
    torch.manual_seed(1)
    new = make().eval()
    new.load_state_dict(load_file(tmp_path / "model.safetensors"))  # strict: every key found
    x = torch.from_numpy(one_hot(["ACGTTGCAAC" * 3, "TTGACAGGCA" * 3], length=30)[0])
    torch.testing.assert_close(new(x), old(x))


def test_max_plus_mean_pooling_concatenates_both_summaries():
    model = CNN1d((4, 20), 1, channels=[3], kernel_sizes=[3], pool_sizes=[1], global_pool="max+mean",
                  head_units=[]).eval()
    x = torch.from_numpy(one_hot(["ACGTTGCAAC" * 2, "TTTTTAAAAA" * 2], length=20)[0])
    maps = model.conv(x)  # (2, 3, 20)
    torch.testing.assert_close(model.features(x), torch.cat([maps.amax(-1), maps.mean(-1)], dim=1))
    assert model.head.in_features == 6
    with pytest.raises(SynbiolabError, match="valid: max, mean, max\\+mean, flatten"):
        CNN1d((4, 20), 1, global_pool="sum")


def test_rnn_reads_mnist_rows_as_steps():
    model = RNN((1, 28, 28), 10, hidden_size=32)
    assert model.rnn.input_size == 28
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_compact_padding_moves_valid_steps_first():
    steps = torch.arange(6.0).reshape(1, 6, 1).repeat(2, 1, 1)
    mask = torch.tensor([[0, 1, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    compacted, lengths = compact_padding(steps, mask)
    assert lengths.tolist() == [3, 6]
    assert compacted[0, :3, 0].tolist() == [1.0, 2.0, 4.0]
    assert compacted[1, :, 0].tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("pad", ["right", "left", "centre"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_output_ignores_padding(pad, cell):
    """A padded short sequence gives the same output as the same sequence alone, whatever the padding."""
    torch.manual_seed(0)
    model = RNN((4, 20), 2, cell=cell, hidden_size=8, bidirectional=True).eval()
    short, long = "ACGTTGCA", "TTGACAGGCATATAATCCGA"
    x_padded = torch.from_numpy(one_hot([short, long], length=20, pad=pad)[0])
    x_alone = torch.from_numpy(one_hot([short])[0])
    alone = RNN((4, 8), 2, cell=cell, hidden_size=8, bidirectional=True)
    alone.load_state_dict(model.state_dict())
    alone.eval()
    with torch.no_grad():
        padded_out = model(x_padded)
        torch.testing.assert_close(padded_out[0], alone(x_alone)[0], atol=1e-5, rtol=1e-5)
        unpacked = RNN((4, 20), 2, cell=cell, hidden_size=8, bidirectional=True, packed=False).eval()
        unpacked.load_state_dict(model.state_dict())
        # Without packing the padding is read as input, so the short sequence's output changes...
        assert not torch.allclose(unpacked(x_padded)[0], padded_out[0], atol=1e-4)
        # ...while the full-length sequence is unaffected either way.
        torch.testing.assert_close(unpacked(x_padded)[1], padded_out[1], atol=1e-5, rtol=1e-5)


def test_models_learn_a_planted_motif():
    """All three models separate sequences with TATAAT from those without, quickly, on CPU."""
    rng = np.random.default_rng(0)
    seqs, labels = [], []
    for i in range(400):
        s = list(rng.choice(list("ACGT"), 40))
        if i % 2:
            at = rng.integers(0, 34)
            s[at : at + 6] = "TATAAT"
        seqs.append("".join(s))
        labels.append(i % 2)
    x = torch.from_numpy(one_hot(seqs)[0])
    y = torch.tensor(labels, dtype=torch.float32)
    builders = (
        lambda: CNN1d((4, 40), 1, global_pool="max"),
        # max over time finds a motif wherever it sits; the last state alone learned it too slowly to stay
        # above 0.85 on every thread count (0.79 on one thread, 0.81 on two)
        lambda: RNN((4, 40), 1, hidden_size=16, pooling="max"),
        lambda: CNNRNN((4, 40), 1),
    )
    for build in builders:
        torch.manual_seed(0)
        model = build()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(100):
            loss = nn.functional.binary_cross_entropy_with_logits(model(x[:300])[:, 0], y[:300])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        accuracy = ((model(x[300:])[:, 0] > 0).float() == y[300:]).float().mean().item()
        assert accuracy > 0.85, (type(model).__name__, accuracy)


# --- in-silico mutagenesis


def test_ism_of_a_linear_model_gives_its_weights():
    """For f(x) = sum(W * x) + b, changing position l from letter r to a moves f by W[a, l] - W[r, l]."""
    torch.manual_seed(0)
    weights = torch.randn(4, 12)

    def linear(x):  # (M, 4, L) -> (M,)
        return (x * weights).sum(dim=(1, 2)) + 3.0

    sequence = "ACGTTGCAACGT"
    x = one_hot([sequence])[0][0]
    effects = in_silico_mutagenesis(linear, x)
    reference = weights[torch.tensor(["ACGT".index(c) for c in sequence]), torch.arange(12)]
    expected = (weights - reference).T.numpy()  # (L, 4)
    np.testing.assert_allclose(effects, expected, atol=1e-5)
    assert effects.shape == (12, 4)
    assert np.all(effects[np.arange(12), ["ACGT".index(c) for c in sequence]] == 0)
    # Importance: minus the mean effect of the three changes at each position.
    np.testing.assert_allclose(importance(effects, x), -expected.sum(1) / 3, atol=1e-5)


def test_ism_on_a_module_batch_and_padding():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * 6, 2))
    x, _ = one_hot(["ACGTAC", "ACG"], length=6)
    effects = in_silico_mutagenesis(model, x, output=1)
    assert effects.shape == (2, 6, 4)
    assert np.isnan(effects[1, 3:]).all() and not np.isnan(effects[1, :3]).any()
    weight = model[1].weight.detach().numpy()[1].reshape(4, 6)
    np.testing.assert_allclose(effects[0, 0], weight[:, 0] - weight[0, 0], atol=1e-5)


# --- filters and motifs


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_filter_pwm_recovers_a_planted_motif():
    model = CNN1d((4, 30), 1, channels=[2], kernel_sizes=[6], pool_sizes=[1], global_pool="max")
    with torch.no_grad():
        model.first_conv.weight.zero_()
        model.first_conv.bias.zero_()
        model.first_conv.weight[0] = torch.from_numpy(one_hot(["TATAAT"])[0][0]) - 0.25
    rng = np.random.default_rng(1)
    seqs = []
    for _ in range(200):
        s = list(rng.choice(list("ACGT"), 30))
        s[10:16] = "TATAAT"
        seqs.append("".join(s))
    pwms = filter_pwms(model, one_hot(seqs)[0], threshold=0.9)
    assert ppm_consensus(pwms[0]["ppm"]) == "TATAAT"
    assert pwms[0]["n_sites"] >= 200 and pwms[0]["information"] > 10
    assert pwms[1]["n_sites"] == 0  # an all-zero filter never fires
    best = match_filters(pwms, n_filters=1, use_jaspar=False)[0]["matches"][0]
    assert best["motif_id"] == "sigma70-10" and best["score"] > 0.95


def test_motif_similarity_alignment_and_strand():
    score, offset, strand = motif_similarity(consensus_ppm("GGTATAATGG"), consensus_ppm("TATAAT"))
    assert score == pytest.approx(0.6) and offset == 2 and strand == "+"  # 6 of 10 columns match
    score, _, strand = motif_similarity(consensus_ppm("ATTATA"), consensus_ppm("TATAAT"))
    assert score == pytest.approx(1.0) and strand == "-"  # ATTATA is the reverse complement of TATAAT
    best = match_motifs(consensus_ppm("NNTTGACANN"), CONSENSUS_MOTIFS, top=1)[0]
    assert best["motif_id"] == "sigma70-35"


def test_jaspar_motifs_offline_and_self_match():
    motifs = jaspar_motifs()
    assert len(motifs) > 1000
    ctcf = next(m for m in motifs if m.name == "CTCF")
    assert ctcf.ppm.shape[1] == 4 and np.allclose(ctcf.ppm.sum(1), 1)
    best = match_motifs(ctcf.ppm, motifs, top=1)[0]
    assert best["name"] == "CTCF" and best["score"] > 0.99


def test_motifs_follow_the_organism(tmp_path, monkeypatch):
    from conftest import require_data

    require_data("synbio/ecoli_promoters_wang2020/sequence_data.txt", "synbio/rbs_1014ic/1014IC.csv")
    bacteria, why = motifs_for("bacteria")
    by_id = {m.motif_id: m for m in bacteria}
    assert set(by_id) == {"sigma70-10", "sigma70-35", "extended-10", "shine-dalgarno"}  # no JASPAR matrix
    assert [ppm_consensus(by_id[k].ppm) for k in ("sigma70-10", "sigma70-35", "extended-10", "shine-dalgarno")] == [
        "TATAAT", "TTGACA", "TGNTATAAT", "AGGAGG"]
    # counted from the natural promoters' sites, not six certain letters: the middle of the -10 box varies
    assert by_id["sigma70-10"].source == "E. coli promoters" and 0.5 < by_id["sigma70-10"].ppm[3].max() < 0.8
    assert "JASPAR has no bacterial collection" in why and "14,098 natural E. coli promoters" in why
    assert "E. coli 5' UTRs of the 1014IC set" in why
    # a known promoter: its -35 and -10 boxes are found where they are
    sites = {s["motif_id"]: s for s in best_sites("TTTTCTATCTACGTACTTGACACTATTTCCTATTTGTAATAATGTATCAC", bacteria, 0.8)}
    assert (sites["sigma70-35"]["start"], sites["sigma70-35"]["letters"]) == (16, "TTGACA")
    assert sites["sigma70-10"]["letters"] == "AATAAT"
    # vertebrates: JASPAR's vertebrate matrices and the splice sites, not the yeast or plant factors
    vertebrates, why = motifs_for("vertebrates")
    names = {m.name for m in vertebrates}
    assert "CTCF" in names and "FOXA1" in names and not {"SFP1", "AT4G12670"} & names
    assert {"splice-donor", "splice-acceptor"} <= {m.motif_id for m in vertebrates} and "vertebrates" in why
    everything, why = motifs_for("unknown")
    assert {"SFP1", "AT4G12670", "CTCF"} <= {m.name for m in everything} and "--organism" in why
    assert motifs_for("none")[0] == []
    # without the files (nothing is downloaded for a report), the consensus letters, and the sentence says so
    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    motifs, why = bacterial_motifs(str(tmp_path))
    assert {m.source for m in motifs} == {"consensus"} and "not in the data folders" in why


# --- metrics, baselines, reverse-complement averaging, cross-validation


def test_ranking_metrics_match_scikit_learn_and_scipy():
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score, roc_auc_score

    from synbiolab.evaluate import ranking_metrics

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 200)
    got = ranking_metrics("multiclass", logits, labels)
    probs = torch.from_numpy(logits).softmax(-1).numpy()
    expected_auroc = np.mean([roc_auc_score(labels == k, probs[:, k]) for k in range(3)])
    expected_auprc = np.mean([average_precision_score(labels == k, probs[:, k]) for k in range(3)])
    assert got["auroc"] == pytest.approx(expected_auroc) and got["auprc"] == pytest.approx(expected_auprc)
    assert got["accuracy"] == pytest.approx((logits.argmax(1) == labels).mean())
    values = rng.normal(size=(100, 1)).astype(np.float32)
    target = values + rng.normal(size=(100, 1)).astype(np.float32)
    reg = ranking_metrics("regression", values, target)
    assert reg["spearman_rho"] == pytest.approx(spearmanr(values[:, 0], target[:, 0]).statistic, abs=1e-6)
    assert reg["pearson_r"] == pytest.approx(np.corrcoef(values[:, 0], target[:, 0])[0, 1], abs=1e-6)


def test_kmer_baseline_finds_a_planted_motif_count():
    from synbiolab.classical import kmer_baseline

    rng = np.random.default_rng(0)
    seqs, counts = [], []
    for _ in range(300):
        s = list(rng.choice(list("ACGT"), 40))
        n = int(rng.integers(0, 3))
        for j in range(n):
            s[5 + 15 * j : 11 + 15 * j] = "TATAAT"
        seqs.append("".join(s))
        counts.append(n)
    x = one_hot(seqs)[0]
    y = np.array(counts, np.float32).reshape(-1, 1)
    predicted = kmer_baseline(x[:200], y[:200], x[200:], "regression", k=6, positional=False)
    assert np.corrcoef(predicted[:, 0], y[200:, 0])[0, 1] > 0.9


def test_reverse_complement_average_is_strand_symmetric():
    from synbiolab.data.sequences import reverse_complement
    from synbiolab.experiments.crossval import ReverseComplementAverage

    torch.manual_seed(0)
    model = ReverseComplementAverage(CNN1d((4, 12), 2, channels=[8], kernel_sizes=[5])).eval()
    x = torch.from_numpy(one_hot(["ACGTTGCAAGGT"])[0])
    x_rc = torch.from_numpy(one_hot([reverse_complement("ACGTTGCAAGGT")])[0])
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x_rc))


def test_cross_validation_tests_every_example_once(tmp_path):
    import csv
    import json

    from synbiolab import default_config
    from synbiolab.experiments.crossval import cross_validate

    rng = np.random.default_rng(0)
    lines = ["seq,active,lab"]
    for i in range(80):
        s = list(rng.choice(list("ACGT"), 30))
        if i % 2:
            s[12:18] = "TTGACA"
        lines.append(f"{''.join(s)},{i % 2},lab{i % 8}")
    path = tmp_path / "lib.csv"
    path.write_text("\n".join(lines) + "\n")
    cfg = default_config(str(path), "cnn1d")
    cfg.data.seq_col, cfg.data.target, cfg.data.group_col = "seq", ["active"], "lab"
    cfg.data.split = "grouped"
    cfg.train.epochs, cfg.train.batch_size = 8, 16
    result = cross_validate(cfg, 4, out=tmp_path / "cv", verbose=False)
    rows = [r for r in result["rows"] if r["method"] == "cnn1d"]
    assert sum(r["n_test"] for r in rows) == 80 and result["grouped"]
    # each fold says how its kept epoch did on the validation part carved from its training folds
    assert all(0.0 <= r["val_metric"] <= 1.0 and r["val_loss"] > 0 and r["best_epoch"] >= 1 for r in rows)
    assert set(result["summary"]) == {"cnn1d", "onehot_linear", "pairwise_linear", "kmer_linear"}
    assert result["summary"]["kmer_linear"]["accuracy"]["mean"] > 0.8
    assert result["pooled"]["cnn1d"]["accuracy"] > 0.7
    saved = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert json.loads((tmp_path / "cv" / "kind.json").read_text())["kind"] == "cv"
    # The spread is the sample standard deviation of the per-fold accuracies written in folds.csv.
    with open(tmp_path / "cv" / "folds.csv") as handle:
        folds = [row for row in csv.DictReader(handle) if row["method"] == "cnn1d"]
    per_fold = np.array([float(row["accuracy"]) for row in folds])
    assert len(per_fold) == 4
    assert saved["summary"]["cnn1d"]["accuracy"]["std"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-9)
    assert saved["summary"]["cnn1d"]["accuracy"]["mean"] == pytest.approx(per_fold.mean(), abs=1e-9)


def test_vectorised_motif_matching_equals_pairwise_alignment():
    motifs = jaspar_motifs()[:300] + CONSENSUS_MOTIFS
    rng = np.random.default_rng(3)
    for width in (4, 8, 12):
        query = rng.dirichlet(np.full(4, 0.3), size=width)
        fast = match_motifs(query, motifs, top=5)
        pairwise = sorted(((motif_similarity(query, m.ppm)[0], m.motif_id) for m in motifs), reverse=True)[:5]
        assert [m["motif_id"] for m in fast] == [motif_id for _, motif_id in pairwise]
        np.testing.assert_allclose([m["score"] for m in fast], [score for score, _ in pairwise], atol=1e-9)


@pytest.mark.slow
def test_rnn_reads_sequential_mnist_above_98_5_percent(cli, mnist_dir, tmp_path):
    """Sequential MNIST: 28 steps of 28 pixels for a bidirectional LSTM; 99.0 % after 3 epochs (13 min on CPU)."""
    import json

    code, _, err = cli("train", "--data", "mnist", "--model", "rnn", "--epochs", "3", "--set", "model.hidden_size=128",
                       "--out", str(tmp_path / "run"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.985


def test_cli_cv_prints_mean_and_spread(cli, tmp_path):
    rng = np.random.default_rng(1)
    lines = ["seq,active"]
    for i in range(60):
        s = list(rng.choice(list("ACGT"), 24))
        if i % 2:
            s[8:14] = "TATAAT"
        lines.append(f"{''.join(s)},{i % 2}")
    path = tmp_path / "lib.csv"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = cli("cv", "--data", str(path), "--seq-col", "seq", "--target", "active", "--folds", "3",
                         "--epochs", "6", "--batch-size", "16", "--out", str(tmp_path / "cv"))
    assert code == 0, err
    assert "3-fold cross-validation" in out and "+/-" in out and "kmer_linear" in out
    # header + 4 methods (the model and three linear baselines) x 3 folds
    assert (tmp_path / "cv" / "folds.csv").read_text().count("\n") == 1 + 3 * 4
