"""Sequence encoding, readers with every bad input, duplicates, k-mers and splits."""

import numpy as np
import pytest
import torch

from synbiolab.data.sequences import (
    encode,
    encode_table,
    kmer_counts,
    kmer_names,
    one_hot,
    pad_or_trim,
    read_fasta,
    read_sequences,
    read_table,
    reverse_complement,
    reverse_complement_one_hot,
)
from synbiolab.data.targets import duplicate_groups, duplicate_report, merge_duplicates, parse_targets
from synbiolab.errors import SynbiolabError

# --- encoding against hand-computed arrays


def test_one_hot_matches_hand_computed_array():
    x, mask = one_hot(["ACgt"])
    # rows A, C, G, T; columns the positions
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float32)
    assert x.shape == (1, 4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], expected)
    assert mask.tolist() == [[True] * 4]


def test_iupac_letters_are_probabilities_over_acgt():
    encoded = encode("NRYSWKMBDHV")
    expected = np.array(
        [
            [0.25, 0.25, 0.25, 0.25],  # N
            [0.5, 0, 0.5, 0],  # R = A/G
            [0, 0.5, 0, 0.5],  # Y = C/T
            [0, 0.5, 0.5, 0],  # S = C/G
            [0.5, 0, 0, 0.5],  # W = A/T
            [0, 0, 0.5, 0.5],  # K = G/T
            [0.5, 0.5, 0, 0],  # M = A/C
            [0, 1 / 3, 1 / 3, 1 / 3],  # B = not A
            [1 / 3, 0, 1 / 3, 1 / 3],  # D = not C
            [1 / 3, 1 / 3, 0, 1 / 3],  # H = not G
            [1 / 3, 1 / 3, 1 / 3, 0],  # V = not T
        ],
        np.float32,
    )
    np.testing.assert_allclose(encoded, expected, atol=1e-6)
    np.testing.assert_allclose(encode("nr"), expected[:2], atol=1e-6)  # lower case too


def test_strict_rejects_ambiguity_and_names_the_letter():
    with pytest.raises(SynbiolabError, match=r"lib.csv:7: letter 'N' at position 3 .*strict"):
        encode("ACNT", strict=True, source="lib.csv", line=7)


def test_rna_and_protein_alphabets():
    np.testing.assert_array_equal(encode("ACGU", alphabet="rna"), np.eye(4, dtype=np.float32))
    with pytest.raises(SynbiolabError, match="letter 'T'.*RNA"):
        encode("ACGT", alphabet="rna")
    protein = encode("MKx", alphabet="protein")
    assert protein.shape == (3, 20)
    assert protein[0, "ACDEFGHIKLMNPQRSTVWY".index("M")] == 1
    np.testing.assert_allclose(protein[2], np.full(20, 0.05), atol=1e-6)  # X = any residue


def test_bad_letter_error_is_one_line_with_valid_letters():
    with pytest.raises(SynbiolabError) as info:
        encode("ACGZ", source="promoters.csv", line=12)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("promoters.csv:12: letter 'Z' at position 4")
    assert "ACGT" in message


def test_padding_left_right_centre_and_trimming():
    enc = encode("ACG")
    right, mask_right = pad_or_trim(enc, 6, "right")
    left, mask_left = pad_or_trim(enc, 6, "left")
    centre, mask_centre = pad_or_trim(enc, 6, "centre")
    assert mask_right.tolist() == [1, 1, 1, 0, 0, 0]
    assert mask_left.tolist() == [0, 0, 0, 1, 1, 1]
    assert mask_centre.tolist() == [0, 1, 1, 1, 0, 0]
    np.testing.assert_array_equal(left[3:], enc)
    np.testing.assert_array_equal(right[3:], 0)
    # Trimming keeps the aligned end: right padding keeps the start, left padding keeps the end.
    long = encode("AACCGGTT")
    assert one_hot(["AACCGGTT"], length=4, pad="right")[0][0].argmax(0).tolist() == [0, 0, 1, 1]
    assert one_hot(["AACCGGTT"], length=4, pad="left")[0][0].argmax(0).tolist() == [2, 2, 3, 3]
    assert one_hot(["AACCGGTT"], length=4, pad="centre")[0][0].argmax(0).tolist() == [1, 1, 2, 2]
    assert pad_or_trim(long, 4, "left")[1].all()
    with pytest.raises(SynbiolabError, match="pad 'middle'.*left, right, centre"):
        pad_or_trim(enc, 6, "middle")


def test_reverse_complement_of_strings_and_one_hot():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("aTGc") == "gCAt"
    assert reverse_complement("ACGRY") == "RYCGT"
    assert reverse_complement("AACGU") == "ACGUU"
    x, _ = one_hot(["AACGTTG", "GATTACA"])
    expected, _ = one_hot([reverse_complement("AACGTTG"), reverse_complement("GATTACA")])
    np.testing.assert_array_equal(reverse_complement_one_hot(x), expected)
    as_tensor = reverse_complement_one_hot(torch.from_numpy(x))
    np.testing.assert_array_equal(as_tensor.numpy(), expected)
    np.testing.assert_array_equal(reverse_complement_one_hot(reverse_complement_one_hot(x)), x)


def test_kmer_counts_against_hand_count():
    counts = kmer_counts(["ACGTNAC", "aaa"], 2)
    names = kmer_names(2)
    assert names[:5] == ["AA", "AC", "AG", "AT", "CA"] and len(names) == 16
    first = dict(zip(names, counts[0], strict=True))
    assert first["AC"] == 2 and first["CG"] == 1 and first["GT"] == 1  # TN and NA skipped
    assert counts[0].sum() == 4
    assert counts[1][names.index("AA")] == 2
    freq = kmer_counts(["ACGT"], 1, normalise=True)
    np.testing.assert_allclose(freq, [[0.25, 0.25, 0.25, 0.25]])


# --- readers and their bad inputs


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_fasta_reader_multiline_and_line_numbers(tmp_path):
    path = write(tmp_path, "lib.fa", ">p1 strong promoter\nACGT\nACG\n\n>p2\nttgaca\n")
    table = read_fasta(path)
    assert table.ids == ["p1", "p2"]
    assert table.sequences == ["ACGTACG", "ttgaca"]
    assert table.lines == [1, 5]
    x, mask = encode_table(table)
    assert x.shape == (2, 4, 7) and mask.sum(1).tolist() == [7, 6]


def test_fasta_bad_letter_names_the_exact_line(tmp_path):
    path = write(tmp_path, "bad.fa", ">p1\nACGT\n>p2\nACGT\nACXT\n")
    with pytest.raises(SynbiolabError, match=r"bad.fa:5: letter 'X' at position 7"):
        encode_table(read_fasta(path))


def test_fasta_record_without_sequence(tmp_path):
    path = write(tmp_path, "empty_record.fa", ">p1\nACGT\n>p2 nothing here\n>p3\nAC\n")
    expected = r"empty_record.fa:3: FASTA record 'p2 nothing here' has no sequence"
    with pytest.raises(SynbiolabError, match=expected):
        read_fasta(path)


def test_fasta_empty_file_and_text_before_header(tmp_path):
    with pytest.raises(SynbiolabError, match="empty file"):
        read_fasta(write(tmp_path, "empty.fa", ""))
    with pytest.raises(SynbiolabError, match=r"plain.fa:1: text before the first '>'"):
        read_fasta(write(tmp_path, "plain.fa", "ACGT\n>p1\nACGT\n"))
    with pytest.raises(SynbiolabError, match="no such file"):
        read_fasta(tmp_path / "missing.fa")


def test_csv_reader_targets_ids_groups(tmp_path):
    text = "id,seq,strength,study\na,ACGT,10,s1\n\nb,ttga,100,s2\nc,GGCC,1000,s1\n"
    path = write(tmp_path, "lib.csv", text)
    table = read_table(path, "seq", target="strength", id_col="id", group_col="study")
    assert table.sequences == ["ACGT", "ttga", "GGCC"]
    assert table.lines == [2, 4, 5]  # the blank line 3 is skipped, the numbering is not
    assert table.ids == ["a", "b", "c"] and table.groups == ["s1", "s2", "s1"]
    task, y, names = parse_targets(table, log_target=True)
    assert task == "regression" and names == ["strength"]
    np.testing.assert_allclose(y[:, 0], [1, 2, 3])
    assert y.dtype == np.float32 and y.shape == (3, 1)


def test_tsv_reader_and_classification_targets(tmp_path):
    path = write(tmp_path, "sites.tsv", "seq\tlabel\nACGT\tdonor\nACGA\tacceptor\nACGC\tnone\n")
    table = read_sequences(path, seq_col="seq", target=["label"])
    task, y, names = parse_targets(table)
    assert task == "multiclass" and names == ["acceptor", "donor", "none"]
    assert y.tolist() == [1, 0, 2] and y.dtype == np.int64
    binary = read_table(write(tmp_path, "b.csv", "seq,active\nAC,1\nGT,0\nTT,1\n"), "seq", "active")
    task, y, names = parse_targets(binary)
    assert task == "binary" and y.tolist() == [1, 0, 1]


def test_csv_missing_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "lib.csv", "sequence,strength\nACGT,1\n")
    expected = r"lib.csv: no column 'seq' \(named by --seq-col\); columns: sequence, strength"
    with pytest.raises(SynbiolabError, match=expected):
        read_table(path, "seq", target="strength")
    with pytest.raises(SynbiolabError, match=r"no column 'expr' \(named by --target\)"):
        read_table(path, "sequence", target="expr")


def test_csv_nan_targets_are_rejected_with_line_numbers(tmp_path):
    path = write(tmp_path, "lib.csv", "seq,strength\nACGT,1.5\nACGA,nan\nACGC,2\nACGG,\n")
    table = read_table(path, "seq", target="strength")
    with pytest.raises(SynbiolabError, match=r"lib.csv: 2 missing or NaN target\(s\) .* line\(s\) 3, 5"):
        parse_targets(table)


def test_csv_bad_letter_with_line_number(tmp_path):
    path = write(tmp_path, "lib.csv", "seq,strength\nACGT,1\nACGT,2\nAC-T,3\n")
    with pytest.raises(SynbiolabError, match=r"lib.csv:4: letter '-' at position 3 is not valid DNA"):
        encode_table(read_table(path, "seq", target="strength"))


def test_csv_empty_file_empty_sequence_and_non_numeric_target(tmp_path):
    with pytest.raises(SynbiolabError, match="empty file"):
        read_table(write(tmp_path, "empty.csv", ""), "seq")
    with pytest.raises(SynbiolabError, match="no data rows"):
        read_table(write(tmp_path, "header_only.csv", "seq,y\n"), "seq")
    with pytest.raises(SynbiolabError, match=r"gap.csv:3: empty sequence"):
        read_table(write(tmp_path, "gap.csv", "seq,y\nAC,1\n,2\n"), "seq")
    table = read_table(write(tmp_path, "text.csv", "seq,y\nAC,1\nGT,high\n"), "seq", "y")
    with pytest.raises(SynbiolabError, match=r"text.csv:3: target 'high' .* not a finite number"):
        parse_targets(table, task="regression")
    with pytest.raises(SynbiolabError, match=r"neg.csv:3: .* log10"):
        table = read_table(write(tmp_path, "neg.csv", "seq,y\nAC,1\nGT,0\n"), "seq", "y")
        parse_targets(table, log_target=True)
    with pytest.raises(SynbiolabError, match="needs --seq-col"):
        read_sequences(write(tmp_path, "x.csv", "seq\nAC\n"))


# --- duplicates


def test_duplicates_reported_grouped_and_merged(tmp_path):
    path = write(tmp_path, "dup.csv", "seq,y\nACGT,1\nacgt,3\nGGGG,5\nACGT,5\n")
    table = read_table(path, "seq", "y")
    report = duplicate_report(table)
    assert report["n_unique"] == 2 and report["n_extra_copies"] == 2
    assert report["examples"][0]["lines"] == [2, 3, 5]
    assert duplicate_groups(table.sequences).tolist() == [0, 0, 1, 0]
    _, y, _ = parse_targets(table)
    first, merged, _ = merge_duplicates(table.sequences, y, "regression")
    assert first.tolist() == [0, 2]
    np.testing.assert_allclose(merged[:, 0], [3.0, 5.0])
    labels = np.array([1, 1, 0, 0])
    _, merged_labels, _ = merge_duplicates(table.sequences, labels, "binary")
    assert merged_labels.tolist() == [1, 0]  # two of three copies say 1


# --- splits


def test_grouped_split_never_shares_a_group():
    from synbiolab.data.splits import grouped_split, kfold

    rng = np.random.default_rng(0)
    groups = rng.choice([f"study{i}" for i in range(13)], size=500)
    for seed in range(5):
        rest, held = grouped_split(groups, 0.2, seed=seed)
        assert len(rest) + len(held) == 500
        assert not set(groups[rest]) & set(groups[held])
        assert 40 < len(held) < 180  # near 100, in whole groups
    folds = kfold(5, groups=groups, seed=0)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(500))  # every example tested exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    labels = np.arange(100) % 3
    for _, test in kfold(10, labels=labels):
        assert len(test) == 10 and np.bincount(labels[test]).min() >= 3
    with pytest.raises(SynbiolabError, match="only 13 groups"):
        kfold(20, groups=groups)


# --- named data sets, checksums, user files, CLI


def synbio_dir():
    from conftest import require_data

    return require_data(
        "synbio/uci_splice/splice.csv", "synbio/uci_promoters/promoters.data", "synbio/rbs_1014ic/1014IC.csv"
    )


def test_named_sets_sizes_and_no_leaks():
    from synbiolab import load_dataset

    synbio_dir()
    splice = load_dataset("uci_splice")
    assert splice.task == "multiclass" and splice.class_names == ["EI", "IE", "N"]
    assert len(splice.train) + len(splice.val) + len(splice.test) == 3190
    assert tuple(splice.input_shape) == (4, 60)
    # Copies of a sequence never sit on both sides of a split.
    def rows(split):
        return {tuple(r) for r in split.x.flatten(1).numpy().round(3).tolist()}

    assert not rows(splice.train) & rows(splice.test)
    promoters = load_dataset("uci_promoters")
    assert promoters.task == "binary"
    assert len(promoters.train) + len(promoters.val) + len(promoters.test) == 106
    rbs = load_dataset("rbs_1014ic")
    assert rbs.task == "regression" and tuple(rbs.input_shape) == (4, 80)
    assert not set(rbs.train.groups) & set(rbs.test.groups)  # whole studies held out
    assert not set(rbs.val.groups) & set(rbs.test.groups)


def test_sha256_verification_on_real_and_corrupted_files(tmp_path):
    from synbiolab.data.synbio import FILES, resolve_file, verify_sha256

    root = synbio_dir()
    real = root / "synbio" / FILES["uci_promoters"].path
    assert verify_sha256(real, FILES["uci_promoters"].sha256) == real
    corrupted = tmp_path / "synbio" / FILES["uci_promoters"].path
    corrupted.parent.mkdir(parents=True)
    data = bytearray(real.read_bytes())
    data[100] ^= 1  # one flipped bit
    corrupted.write_bytes(bytes(data))
    with pytest.raises(SynbiolabError, match="promoters.data: checksum mismatch .*expected 9cba9e86"):
        resolve_file("uci_promoters", data_dir=str(tmp_path))
    assert resolve_file("uci_promoters", data_dir=str(root)) == real


def test_missing_file_without_download_names_the_places_searched(tmp_path, monkeypatch):
    from synbiolab.data.synbio import resolve_file

    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    with pytest.raises(SynbiolabError, match=r"uci_splice/splice.csv not found .*no public download"):
        resolve_file("uci_splice", data_dir=str(tmp_path))


def test_user_csv_as_a_data_set(tmp_path):
    from synbiolab import load_dataset

    rng = np.random.default_rng(0)
    lines = ["name,seq,strength,study"]
    for i in range(60):
        seq = "".join(rng.choice(list("ACGT"), 20 + i % 5))
        lines.append(f"p{i},{seq},{10 ** (1 + i % 4)},s{i % 6}")
    path = write(tmp_path, "library.csv", "\n".join(lines) + "\n")
    ds = load_dataset(str(path), seq_col="seq", target=["strength"], id_col="name", group_col="study",
                      log_target=True, split="grouped", length=22, pad="left")
    assert ds.task == "regression" and tuple(ds.input_shape) == (4, 22)
    total = torch.cat([ds.train.y, ds.val.y, ds.test.y])
    assert sorted(set(total[:, 0].round().tolist())) == [1.0, 2.0, 3.0, 4.0]
    assert not set(ds.train.groups) & set(ds.test.groups)
    assert "padded on the left" in ds.info["encoding"] and "trimmed on the left" in ds.info["encoding"]


def test_cli_data_info_and_bad_letter_error(cli, tmp_path):
    synbio_dir()
    code, out, _ = cli("data", "info", "uci_splice")
    assert code == 0
    assert "uci_splice: multiclass task, sequence data, input shape (4, 60)" in out
    assert "IUPAC ambiguity" in out and "EI" in out
    bad = write(tmp_path, "bad.csv", "seq,y\nACGT,1\nACGJ,2\n")
    code, out, err = cli("train", "--data", str(bad), "--set", "data.seq_col=seq", "--set", "data.target=y",
                         "--model", "cnn1d", "--out", str(tmp_path / "run"))
    assert code == 2
    assert err.strip().splitlines() == [f"error: {bad}:3: letter 'J' at position 4 is not valid DNA; "
                                        "valid: ACGT or the ambiguity codes NRYSWKMBDHV"]


def test_cli_trains_cnn1d_on_uci_splice_above_90_percent(cli, tmp_path):
    """End to end: `synbiolab train --data uci_splice --model cnn1d` (about 20 s on 2 CPU cores)."""
    import json

    synbio_dir()
    code, _, err = cli("train", "--data", "uci_splice", "--model", "cnn1d", "--out", str(tmp_path / "run"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.90
    report = (tmp_path / "run" / "report.html").read_text()
    assert "Sequence model vs linear baseline" in report and "In-silico mutagenesis" in report
    assert "First-layer filters as motifs" in report and "could not be drawn" not in report
    assert (tmp_path / "run" / "figures" / "class_curves.png").is_file()


def test_natural_promoters_feed_a_gan_with_a_held_out_tenth():
    from conftest import require_data
    from synbiolab import load_dataset
    from synbiolab.data.generative import prepare_gan_data

    require_data("synbio/ecoli_promoters_wang2020/sequence_data.txt")
    ds = load_dataset("ecoli_promoters_natural")
    assert ds.kind == "sequence" and tuple(ds.input_shape) == (4, 50)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 14098
    assert torch.all(ds.train.x.sum(1) == 1)  # plain one-hot: A, C, G, T only
    gan_data = prepare_gan_data(ds, holdout=0.1, seed=0)
    assert len(gan_data.heldout_x) == 1410 and len(gan_data.train_x) == 14098 - 1410


def test_rbs_folds_hold_out_whole_studies():
    from synbiolab import default_config, load_dataset
    from synbiolab.experiments.crossval import cv_folds, holds_out_groups

    synbio_dir()
    ds = load_dataset("rbs_1014ic")
    assert holds_out_groups(default_config("rbs_1014ic", "cnn1d"), ds)
    pool, _, folds = cv_folds(ds, 5, grouped=True)
    assert len(pool) == 1008
    for train, test in folds:
        assert not set(pool.groups[train]) & set(pool.groups[test])
