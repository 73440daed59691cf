"""What a trained sequence model has learned: in-silico mutagenesis and first-layer motifs.

- In-silico mutagenesis (ISM) changes every position to every other letter and records how the
  prediction moves: a map of (position, letter) effects for one sequence, drawn as a heat map and as a
  sequence logo of the reference letters' importance.
- The first convolution's filters are turned into position weight matrices (from the stretches of
  real sequences that switch each filter on most strongly) and compared with known motifs: the JASPAR
  CORE collection (offline, through pyjaspar) and a few textbook bacterial and splice consensus sites,
  which JASPAR CORE does not hold.

The report draws these for every sequence run (``report/sections/interpret.py``); this module holds no HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data.sequences import ALPHABETS, IUPAC_DNA
from .errors import SynbiolabError

# --- in-silico mutagenesis


def _as_predict(model_or_fn):
    """A function (M, A, L) float tensor -> (M, n_outputs) numpy array, for a module or any callable."""
    if isinstance(model_or_fn, nn.Module):
        model = model_or_fn

        def predict(x):
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    device = next(model.parameters()).device
                    return model(x.to(device)).float().cpu().numpy()
            finally:
                model.train(was_training)

        return predict

    def call(x):
        out = model_or_fn(x)
        return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)

    return call


def in_silico_mutagenesis(model, x, output: int = 0, batch_size: int = 1024) -> np.ndarray:
    """The effect of every single-letter change on one output of a model.

    Args:
        model: an nn.Module or any callable taking a float tensor (M, A, L) and returning (M, n_outputs)
            or (M,) numbers (logits, or any score).
        x: one one-hot sequence (A, L) or a batch (N, A, L) (numpy or torch).
        output: which output column to read (a class's logit, or a regression target).
        batch_size: mutants scored per call.

    Returns:
        effects of shape (L, A) (or (N, L, A) for a batch): the output for the sequence with position l
        set to letter a, minus the output for the sequence itself. The reference letter's entry is 0;
        padded positions (all-zero columns) are NaN.
    """
    x = torch.as_tensor(np.asarray(x, np.float32))
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(0)
    n, a, length = x.shape
    predict = _as_predict(model)
    effects = np.full((n, length, a), np.nan, np.float32)
    for i in range(n):
        # Mutant (l, b): the reference with column l replaced by the one-hot letter b: (L * A, A, L).
        mutants = x[i].expand(length * a, a, length).clone()
        positions = torch.arange(length).repeat_interleave(a)
        letters = torch.arange(a).repeat(length)
        mutants[torch.arange(length * a), :, positions] = 0.0
        mutants[torch.arange(length * a), letters, positions] = 1.0
        scores = [_column(predict(x[i : i + 1]), output)]
        for start in range(0, len(mutants), batch_size):
            scores.append(_column(predict(mutants[start : start + batch_size]), output))
        reference, mutant_scores = scores[0][0], np.concatenate(scores[1:])
        effects[i] = (mutant_scores - reference).reshape(length, a)
        # A letter "changed" to itself is the reference: its effect is 0 by definition, not the rounding
        # difference between a batch of one and a batch of many (kernels differ with the batch size).
        effects[i][(x[i] == 1.0).T.numpy()] = 0.0
        padded = (x[i].abs().sum(0) == 0).numpy()
        effects[i, padded] = np.nan
    return effects[0] if single else effects


def ism_score(model: nn.Module, task: str, output: int = 0):
    """What mutagenesis measures for a task: a class's log-probability (several classes), the logit (two
    classes), the predicted value (regression); a function of a batch (M, A, L) -> (M,)."""

    def score(x):
        with torch.no_grad():
            out = model(x)
            if task == "multiclass":
                out = out.log_softmax(-1)
        return out[:, output] if out.dim() == 2 else out.reshape(-1)

    return score


def _column(scores: np.ndarray, output: int) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    return scores if scores.ndim == 1 else scores[:, output]


def importance(effects: np.ndarray, x) -> np.ndarray:
    """Per-position importance of the reference letter: minus the mean effect of changing it, (L,).

    Positive where mutating the letter lowers the output (the letter supports the prediction).
    """
    x = np.asarray(x, np.float32)
    mean_change = np.nansum(effects * (1 - x.T), axis=1) / np.maximum((1 - x.T).sum(1), 1)
    return -mean_change


# --- figures


def ism_heatmap(effects: np.ndarray, sequence: str, alphabet: str = "dna", title: str = "", ax=None):
    """Draw an ISM map (L, A) as a heat map: letters as rows, positions as columns, the reference marked."""
    import matplotlib.pyplot as plt

    letters = ALPHABETS[alphabet]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, len(sequence) * 0.16), 1.8))
    limit = float(np.nanmax(np.abs(effects))) or 1.0
    image = ax.imshow(effects.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="none")
    for position, letter in enumerate(sequence.upper()):
        if letter in letters:
            ax.plot(position, letters.index(letter), marker=".", color="black", markersize=3)
    ax.set_yticks(range(len(letters)), list(letters))
    ax.set_xlabel("position (dot: the sequence's own letter)")
    ax.set_title(title or "in-silico mutagenesis: change of the output for each single-letter change")
    ax.figure.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    return ax


def ism_logo(effects: np.ndarray, x, alphabet: str = "dna", title: str = "", ax=None):
    """Draw the reference letters scaled by their importance (logomaker): tall letters matter."""
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    x = np.asarray(x, np.float32)
    letters = list(ALPHABETS[alphabet])
    heights = pd.DataFrame(x.T * importance(effects, x)[:, None], columns=letters)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, x.shape[1] * 0.16), 1.8))
    logomaker.Logo(heights.fillna(0.0), ax=ax, color_scheme="classic")
    ax.set_ylabel("importance")
    ax.set_title(title or "importance of each letter (minus the mean effect of mutating it)")
    return ax


def pwm_logo(ppm: np.ndarray, alphabet: str = "dna", title: str = "", ax=None):
    """Draw a probability matrix (w, A) as an information-content logo (bits)."""
    import logomaker
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(np.asarray(ppm, float), columns=list(ALPHABETS[alphabet]))
    info = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.5, len(ppm) * 0.3), 1.4))
    logomaker.Logo(info, ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_title(title, fontsize=8)
    return ax


# --- first-layer filters as position weight matrices


def first_conv(model: nn.Module) -> nn.Conv1d:
    """The first Conv1d of a model (its filters read the one-hot letters)."""
    layer = getattr(model, "first_conv", None)
    if isinstance(layer, nn.Conv1d):
        return layer
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            return module
    name = type(model).__name__
    raise SynbiolabError(f"model {name} has no 1D convolution; models with one: cnn1d, cnn_rnn")


def information_content(ppm: np.ndarray) -> float:
    """Total information (bits) of a DNA probability matrix (w, 4): 2 bits for a fully sure column."""
    p = np.clip(np.asarray(ppm, float), 1e-9, 1)
    return float((2 + (p * np.log2(p)).sum(axis=1)).sum())


def filter_pwms(model: nn.Module, x, threshold: float = 0.5, pseudocount: float = 0.1) -> list[dict]:
    """Turn each first-layer filter into a position probability matrix from the sequences it likes.

    For every filter, the windows of `x` where the filter's response exceeds `threshold` times its
    largest response are stacked and their letters counted (the DeepBind / Basset recipe).

    Args:
        model: a trained model with a first Conv1d over the one-hot letters.
        x: one-hot sequences (N, A, L), e.g. the training split.
        threshold: fraction of the filter's maximum response that counts as a hit.
        pseudocount: added to every count before normalising.

    Returns:
        One dict per filter: filter (index), ppm ((w, A) array), n_sites, information (bits).
    """
    conv = first_conv(model)
    if conv.dilation[0] != 1 or conv.stride[0] != 1:
        raise SynbiolabError("filter_pwms reads undilated, unstrided first layers only")
    x = torch.as_tensor(np.asarray(x, np.float32)).to(conv.weight.device)
    width = conv.kernel_size[0]
    left = (width - 1) // 2 if conv.padding == "same" else int(conv.padding[0])
    right = width - 1 - left if conv.padding == "same" else int(conv.padding[0])
    with torch.no_grad():
        response = conv(x).cpu()  # (N, A, L) -> (N, F, L')
        padded = nn.functional.pad(x.cpu(), (left, right))  # (N, A, L + w - 1)
        windows = padded.unfold(2, width, 1).permute(0, 2, 3, 1)  # (N, L', w, A)
    results = []
    for index in range(response.shape[1]):
        scores = response[:, index]  # (N, L')
        best = float(scores.max())
        hits = scores > threshold * best if best > 0 else torch.zeros_like(scores, dtype=torch.bool)
        counts = windows[hits].sum(0).numpy() if hits.any() else np.zeros((width, x.shape[1]))
        ppm = (counts + pseudocount) / (counts + pseudocount).sum(1, keepdims=True)
        results.append(
            {"filter": index, "ppm": ppm, "n_sites": int(hits.sum()), "information": information_content(ppm)}
        )
    return results


# --- known motifs and similarity


@dataclass
class Motif:
    """A known motif: identifier, name, source, and its position probability matrix (w, 4) over ACGT."""

    motif_id: str
    name: str
    source: str
    ppm: np.ndarray


def consensus_ppm(consensus: str) -> np.ndarray:
    """(w, 4) probabilities over ACGT from an IUPAC consensus string, e.g. TATAAT or YAG."""
    rows = []
    for letter in consensus.upper():
        bases = IUPAC_DNA.get(letter, letter)
        rows.append([1.0 / len(bases) if base in bases else 0.0 for base in "ACGT"])
    return np.array(rows)


# Textbook consensus sites that JASPAR CORE (eukaryotic) lacks.
CONSENSUS_MOTIFS = [
    Motif("sigma70-10", "sigma-70 -10 box (Pribnow)", "consensus", consensus_ppm("TATAAT")),
    Motif("sigma70-35", "sigma-70 -35 box", "consensus", consensus_ppm("TTGACA")),
    Motif("extended-10", "extended -10 (TGn + -10)", "consensus", consensus_ppm("TGNTATAAT")),
    Motif("shine-dalgarno", "Shine-Dalgarno (ribosome binding site)", "consensus", consensus_ppm("AGGAGG")),
    Motif("splice-donor", "5' splice site (exon|GT intron)", "consensus", consensus_ppm("MAGGTRAGT")),
    Motif("splice-acceptor", "3' splice site (intron AG|exon)", "consensus", consensus_ppm("YYYYYYNCAGG")),
]

_JASPAR_CACHE: dict[str, list[Motif]] = {}


def jaspar_motifs(collection: str = "CORE", release: str | None = None, tax_group: str | None = None) -> list[Motif]:
    """The latest version of every JASPAR motif of a collection, from pyjaspar's bundled database.

    The matrices are read with one SQL query from the SQLite file that pyjaspar ships (offline), which is
    much faster than building a Biopython motif object per matrix.

    Args:
        collection: the JASPAR collection (CORE: curated, non-redundant).
        release: a JASPAR release pyjaspar ships (None: its latest).
        tax_group: only the matrices of one JASPAR taxonomic group (vertebrates, plants, insects, nematodes,
            fungi, urochordates); None: every taxon.
    """
    key = f"{collection}:{release}"
    if tax_group is not None:
        keep = set(_jaspar_tax_group_ids(collection, release, tax_group))
        return [m for m in jaspar_motifs(collection, release) if m.motif_id in keep]
    if key not in _JASPAR_CACHE:
        try:
            from pyjaspar import jaspardb
        except ImportError as exc:  # pragma: no cover - pyjaspar is a declared dependency of the bio extra
            raise SynbiolabError("JASPAR matching needs pyjaspar: pip install 'synbiolab[bio]'") from exc

        database = jaspardb(release=release) if release else jaspardb()
        rows = database.conn.execute(
            "SELECT m.BASE_ID, m.VERSION, m.NAME, d.row, d.col, d.val FROM MATRIX m "
            "JOIN MATRIX_DATA d ON d.ID = m.ID WHERE m.COLLECTION = ?",
            (collection,),
        ).fetchall()
        latest: dict[str, int] = {}
        for base_id, version, *_ in rows:
            latest[base_id] = max(latest.get(base_id, 0), int(version))
        counts: dict[tuple[str, int, str], dict[tuple[str, int], float]] = {}
        for base_id, version, name, letter, column, value in rows:
            if int(version) == latest[base_id]:
                counts.setdefault((base_id, version, name), {})[(letter, int(column))] = float(value or 0.0)
        motifs = []
        for (base_id, version, name), cells in counts.items():
            width = max(column for _, column in cells)
            matrix = np.array([[cells.get((b, c), 0.0) for b in "ACGT"] for c in range(1, width + 1)])
            matrix += 0.01 * matrix.sum(1, keepdims=True).clip(min=1)  # a small pseudocount per column
            ppm = matrix / matrix.sum(1, keepdims=True)
            motifs.append(Motif(f"{base_id}.{version}", name, str(database.release), ppm))
        _JASPAR_CACHE[key] = sorted(motifs, key=lambda m: m.motif_id)
    return _JASPAR_CACHE[key]


def _jaspar_tax_group_ids(collection: str, release: str | None, tax_group: str) -> list[str]:
    """The identifiers (BASE_ID.VERSION) of a collection's matrices annotated with one taxonomic group."""
    from pyjaspar import jaspardb

    database = jaspardb(release=release) if release else jaspardb()
    rows = database.conn.execute(
        "SELECT m.BASE_ID, m.VERSION FROM MATRIX m JOIN MATRIX_ANNOTATION a ON a.ID = m.ID "
        "WHERE m.COLLECTION = ? AND a.TAG = 'tax_group' AND a.VAL = ?",
        (collection, tax_group),
    ).fetchall()
    return [f"{base_id}.{version}" for base_id, version in rows]


# --- the motifs that fit an organism

# The bacterial sites (JASPAR has no bacterial collection) and the eukaryotic sites JASPAR lacks.
BACTERIAL_CONSENSUS = CONSENSUS_MOTIFS[:4]
SPLICE_CONSENSUS = CONSENSUS_MOTIFS[4:]
_BACTERIAL_CACHE: dict[str, tuple[list[Motif], str]] = {}


def counted_ppm(sequences: list[str], starts, width: int, pseudocount: float = 0.5) -> np.ndarray:
    """(width, 4) probabilities over ACGT counted from the windows ``sequence[start:start + width]``."""
    counts = np.full((width, 4), pseudocount)
    for sequence, start in zip(sequences, starts, strict=True):
        for position, letter in enumerate(sequence[start : start + width]):
            if letter in "ACGT":
                counts[position, "ACGT".index(letter)] += 1
    return counts / counts.sum(1, keepdims=True)


def shine_dalgarno_sites(utrs: list[str], window: tuple[int, int] = (5, 15)) -> list[tuple[int, str]]:
    """The best AGGAGG-like 6-mer (at least 4 letters in common) of each 5' UTR, ending 5 to 15 nt before
    the start codon (the UTR's end), where the ribosome pairs with the anti-Shine-Dalgarno of its 16S rRNA.

    Returns:
        (index of the UTR, the site's 6 letters) for each UTR that has one.
    """
    found = []
    for index, utr in enumerate(utrs):
        best = None
        for gap in range(window[0], window[1] + 1):  # nucleotides between the site's end and the start codon
            end = len(utr) - gap
            if end < 6:
                break
            site = utr[end - 6 : end]
            matches = sum(a == b for a, b in zip(site, "AGGAGG", strict=True))
            if matches >= 4 and (best is None or matches > best[0]):
                best = (matches, site)
        if best is not None:
            found.append((index, best[1]))
    return found


def bacterial_motifs(data_dir: str | None = None) -> tuple[list[Motif], str]:
    """Bacterial sites as matrices counted from the data the project ships, and where they come from.

    - sigma-70 -10 and -35 boxes and the extended -10 (TGn, then the -10 box): the sites that
      :func:`synbiolab.evaluate.genmetrics.box_calls` finds in the 14,098 natural E. coli promoters of
      Wang et al. (2020), counted letter by letter (the calls start from Harley and Reynolds' matrices;
      counting the sites the promoters actually hold gives their own letter frequencies);
    - Shine-Dalgarno: the AGGAGG-like sites 5 to 15 nt before the start codon of the E. coli 5' UTRs of
      the 1014IC set (:func:`shine_dalgarno_sites`).

    A file that is not in the data folders (nothing is downloaded here) leaves that site as its consensus.
    """
    from .data.images import data_roots
    from .data.synbio import resolve_file, split_utr_cds

    key = "|".join(str(root) for root in data_roots(data_dir))  # the folders searched, $SYNBIOLAB_DATA included
    if key in _BACTERIAL_CACHE:
        return _BACTERIAL_CACHE[key]
    from .evaluate.genmetrics import box_calls

    motifs = {m.motif_id: m for m in BACTERIAL_CONSENSUS}
    said = []
    try:
        path = resolve_file("wang_natural", data_dir, download_ok=False)
        promoters = [line.strip().upper() for line in path.read_text().splitlines() if line.strip()]
    except SynbiolabError:
        promoters = []
    if promoters:
        calls = box_calls(promoters)
        at_10 = np.flatnonzero(calls["has_10"])
        # the extended -10: the -10 boxes with TG one letter before them (TGn)
        extended = np.array([i for i in at_10 if calls["position_10"][i] >= 3
                             and promoters[i][calls["position_10"][i] - 3 : calls["position_10"][i] - 1] == "TG"], int)
        at_35 = np.flatnonzero(calls["has_10"] & calls["has_35"])
        where = f"{len(promoters):,} natural E. coli promoters"
        for motif_id, name, rows, starts, width in (
            ("sigma70-10", "sigma-70 -10 box", at_10, calls["position_10"][at_10], 6),
            ("sigma70-35", "sigma-70 -35 box", at_35, calls["position_35"][at_35], 6),
            ("extended-10", "extended -10 (TGn + -10)", extended, calls["position_10"][extended] - 3, 9),
        ):
            ppm = counted_ppm([promoters[i] for i in rows], starts, width)
            motifs[motif_id] = Motif(motif_id, f"{name}, {len(rows):,} sites", "E. coli promoters", ppm)
        said.append(f"the sigma-70 -10, -35 and extended -10 boxes counted from the sites of {where}")
    else:
        said.append("the sigma-70 boxes as consensus letters (the natural promoter file is not in the data folders)")
    try:
        import csv

        path = resolve_file("rbs_1014ic", data_dir, download_ok=False)
        with open(path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["ORGANISM"].startswith("Escherichia coli")]
        utrs = [p[0].upper().replace("U", "T") for p in split_utr_cds(rows) if p is not None]
    except SynbiolabError:
        utrs = []
    sites = shine_dalgarno_sites(utrs)
    if len(sites) >= 50:
        ppm = counted_ppm([site for _, site in sites], [0] * len(sites), 6)
        motifs["shine-dalgarno"] = Motif("shine-dalgarno", f"Shine-Dalgarno, {len(sites):,} sites",
                                         "E. coli 5' UTRs", ppm)
        said.append(f"the Shine-Dalgarno site counted from {len(sites):,} E. coli 5' UTRs of the 1014IC set")
    else:
        said.append("the Shine-Dalgarno site as consensus letters (AGGAGG)")
    _BACTERIAL_CACHE[key] = (list(motifs.values()), "; ".join(said))
    return _BACTERIAL_CACHE[key]


def best_sites(sequence: str, motifs: list[Motif], threshold: float = 0.7) -> list[dict]:
    """The best site of each motif on the sequence as written (forward strand), where it is good enough.

    A site's score is its log-odds against equal base frequencies, rescaled so that 0 is the worst possible
    site and 1 the best (as :func:`synbiolab.evaluate.genmetrics.relative_score`); sites below `threshold`
    are left out.

    Returns:
        One dict per motif with a site: motif_id, name, start (0-based), end (exclusive), letters, score.
    """
    sequence = sequence.upper()
    out = []
    for motif in motifs:
        log_odds = np.log2(np.clip(np.asarray(motif.ppm, float), 1e-6, 1) / 0.25)  # (w, 4)
        width = len(log_odds)
        if width > len(sequence):
            continue
        low, high = log_odds.min(1).sum(), log_odds.max(1).sum()
        best = (-np.inf, 0)
        for start in range(len(sequence) - width + 1):
            window = sequence[start : start + width]
            score = sum(log_odds[i, "ACGT".index(c)] if c in "ACGT" else log_odds[i].mean()
                        for i, c in enumerate(window))
            best = max(best, (score, start))
        relative = (best[0] - low) / (high - low) if high > low else 0.0
        if relative >= threshold:
            start = best[1]
            out.append({"motif_id": motif.motif_id, "name": motif.name.split(",")[0], "start": start,
                        "end": start + width, "letters": sequence[start : start + width], "score": float(relative)})
    return out


def motifs_for(group: str, data_dir: str | None = None) -> tuple[list[Motif], str]:
    """The motifs a filter of a model of this organism group is compared with, and why, in one sentence.

    Args:
        group: an organism group (``data.organisms.GROUPS``): bacteria, a JASPAR taxonomic group, archaea,
            unknown or none.
        data_dir: where to look for the files the bacterial matrices are counted from.
    """
    from .data.organisms import JASPAR_GROUPS

    if group == "bacteria":
        motifs, how = bacterial_motifs(data_dir)
        return motifs, (f"bacteria: JASPAR has no bacterial collection, so the filters are compared with {how}")
    if group in JASPAR_GROUPS:
        jaspar = jaspar_motifs(tax_group=group)
        return SPLICE_CONSENSUS + jaspar, (
            f"{group}: the {len(jaspar):,} JASPAR CORE matrices of {group}, and the splice-site consensus "
            "(JASPAR holds transcription factors only)")
    if group == "archaea":
        return list(CONSENSUS_MOTIFS), ("archaea: neither JASPAR nor this project has archaeal matrices; the "
                                        "filters are compared with the consensus sites only")
    if group == "none":
        return [], "not biological sequences: no motif search"
    return list(CONSENSUS_MOTIFS) + jaspar_motifs(), (
        "organism unknown: every JASPAR CORE matrix (all taxa) and the bacterial and splice consensus sites "
        "were searched; name the organism (--organism) to search only the motifs that fit it")


def _normalise_columns(ppm: np.ndarray) -> np.ndarray:
    centred = ppm - ppm.mean(1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 1e-9)


def motif_similarity(query: np.ndarray, target: np.ndarray, min_overlap: int = 5) -> tuple[float, int, str]:
    """Best alignment of two (w, 4) matrices: the mean column Pearson correlation over the overlap.

    Every offset with at least `min_overlap` overlapping columns is tried, on both strands of the target;
    the mean is taken over the query's width so a short accidental overlap is not rewarded.

    Returns:
        (score in [-1, 1], offset of the target relative to the query, strand '+' or '-').
    """
    q = _normalise_columns(np.asarray(query, float))
    best = (-np.inf, 0, "+")
    for strand, t in (("+", target), ("-", np.asarray(target)[::-1, ::-1])):
        similarity = q @ _normalise_columns(np.asarray(t, float)).T  # (wq, wt): column-pair correlations
        wq, wt = similarity.shape
        overlap_needed = min(min_overlap, wq, wt)
        for offset in range(-(wt - overlap_needed), wq - overlap_needed + 1):
            diagonal = np.diagonal(similarity, offset=-offset)
            if len(diagonal) >= overlap_needed:
                score = diagonal.sum() / max(wq, len(diagonal))
                if score > best[0]:
                    best = (float(score), offset, strand)
    return best


def trim_ppm(ppm: np.ndarray, min_information: float = 0.3) -> np.ndarray:
    """Drop uninformative columns (< `min_information` bits) from both ends of a matrix."""
    p = np.clip(np.asarray(ppm, float), 1e-9, 1)
    info = 2 + (p * np.log2(p)).sum(1)
    keep = np.flatnonzero(info >= min_information)
    return ppm if len(keep) == 0 else ppm[keep[0] : keep[-1] + 1]


_BANK_GAP = 64  # zero columns between motifs in a bank: a query up to this wide never spans two motifs


@dataclass
class _MotifBank:
    """All motifs' normalised columns laid end to end (both strands), separated by zero columns."""

    columns: dict[str, np.ndarray]  # strand -> (C, 4)
    owner: dict[str, np.ndarray]  # strand -> (C,) motif index, -1 in the gaps
    starts: dict[str, np.ndarray]  # strand -> (M,) first column of each motif
    widths: np.ndarray  # (M,)


_BANKS: dict[int, tuple[list[Motif], _MotifBank]] = {}


def _bank(motifs: list[Motif]) -> _MotifBank:
    cached = _BANKS.get(id(motifs))
    if cached is not None and cached[0] is motifs:
        return cached[1]
    columns, owner, starts = {}, {}, {}
    for strand in ("+", "-"):
        parts, owners, firsts, position = [], [], [], _BANK_GAP
        for index, motif in enumerate(motifs):
            ppm = motif.ppm if strand == "+" else motif.ppm[::-1, ::-1]
            parts += [np.zeros((_BANK_GAP, 4)), _normalise_columns(np.asarray(ppm, float))]
            owners += [np.full(_BANK_GAP, -1), np.full(len(ppm), index)]
            firsts.append(position)
            position += len(ppm) + _BANK_GAP
        parts.append(np.zeros((_BANK_GAP, 4)))
        owners.append(np.full(_BANK_GAP, -1))
        columns[strand], owner[strand] = np.vstack(parts), np.concatenate(owners)
        starts[strand] = np.array(firsts)
    bank = _MotifBank(columns, owner, starts, np.array([len(m.ppm) for m in motifs]))
    _BANKS[id(motifs)] = (motifs, bank)
    return bank


def match_motifs(ppm: np.ndarray, motifs: list[Motif], top: int = 3, min_overlap: int = 5) -> list[dict]:
    """The `top` known motifs most similar to `ppm` (trimmed of flat ends first), best first.

    Scores are those of :func:`motif_similarity`, computed for all motifs at once: the column correlations
    of the query with every bank column, summed along each diagonal (one alignment per diagonal).
    """
    query = trim_ppm(ppm)
    if len(query) > _BANK_GAP:
        scored = [dict(zip(("score", "offset", "strand"), motif_similarity(query, m.ppm, min_overlap), strict=True))
                  | {"motif_id": m.motif_id, "name": m.name, "source": m.source} for m in motifs]
        return sorted(scored, key=lambda m: -m["score"])[:top]
    bank = _bank(motifs)
    q = _normalise_columns(np.asarray(query, float))
    wq = len(q)
    best_score = np.full(len(motifs), -np.inf)
    best_offset = np.zeros(len(motifs), int)
    best_strand = np.array(["+"] * len(motifs))
    rows = np.arange(wq)[:, None]
    for strand in ("+", "-"):
        similarity = q @ bank.columns[strand].T  # (wq, C): correlation of query column i with bank column c
        n_starts = similarity.shape[1] - wq + 1
        diagonal = rows + np.arange(n_starts)[None, :]  # (wq, starts): the bank column facing query column i
        owner = bank.owner[strand][diagonal]  # (wq, starts)
        motif = owner.max(0)  # the one motif a diagonal meets (gaps are wider than the query)
        overlap = (owner >= 0).sum(0)
        sums = similarity[rows, diagonal].sum(0)
        valid = (motif >= 0) & (overlap >= np.minimum(min(min_overlap, wq), bank.widths[motif]))
        scores = np.where(valid, sums / np.maximum(wq, overlap), -np.inf)
        starts = np.arange(n_starts)
        for index in np.flatnonzero(valid):
            m = motif[index]
            if scores[index] > best_score[m]:
                best_score[m] = scores[index]
                best_offset[m] = bank.starts[strand][m] - starts[index]
                best_strand[m] = strand
    order = np.argsort(-best_score)[:top]
    return [{"motif_id": motifs[i].motif_id, "name": motifs[i].name, "source": motifs[i].source,
             "score": float(best_score[i]), "offset": int(best_offset[i]), "strand": str(best_strand[i])}
            for i in order]


def match_filters(
    pwms: list[dict], n_filters: int = 8, top: int = 3, use_jaspar: bool = True, min_sites: int = 10,
    motifs: list[Motif] | None = None,
) -> list[dict]:
    """Match the most informative filters' matrices against known motifs.

    Args:
        pwms: output of :func:`filter_pwms`.
        n_filters: how many filters to match (the most informative ones with at least `min_sites` hits).
        top: best matches listed per filter.
        use_jaspar: without `motifs`: also search JASPAR CORE (all taxa) besides the built-in consensus sites.
        min_sites: filters switched on by fewer windows are skipped (their matrices are noise).
        motifs: the motifs to search (:func:`motifs_for` gives those that fit an organism); None: the
            consensus sites and (with `use_jaspar`) all of JASPAR CORE.

    Returns:
        One dict per matched filter: filter, information, n_sites, consensus (letters), matches (list).
    """
    if motifs is None:
        motifs = list(CONSENSUS_MOTIFS) + (jaspar_motifs() if use_jaspar else [])
    candidates = [p for p in pwms if p["n_sites"] >= min_sites]
    chosen = sorted(candidates, key=lambda p: -p["information"])[:n_filters]
    out = []
    for p in chosen:
        out.append(
            {
                "filter": p["filter"],
                "information": p["information"],
                "n_sites": p["n_sites"],
                "consensus": ppm_consensus(trim_ppm(p["ppm"])),
                "matches": match_motifs(p["ppm"], motifs, top),
            }
        )
    return out


def ppm_consensus(ppm: np.ndarray) -> str:
    """A readable consensus: the top letter where it has > 50 %, a lower-case letter above 35 %, else N."""
    letters = []
    for column in np.asarray(ppm):
        base = "ACGT"[int(column.argmax())]
        letters.append(base if column.max() > 0.5 else base.lower() if column.max() > 0.35 else "N")
    return "".join(letters)
