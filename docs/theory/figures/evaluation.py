"""Figure for theory/evaluation.md: the same ridge regression scored with random and with grouped folds."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import pearsonr  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GroupKFold, KFold  # noqa: E402

from synbiolab import kmer_counts, load_dataset  # noqa: E402


def make(out: Path) -> list[Path]:
    ds = load_dataset("rbs_1014ic")
    x = torch.cat([ds.train.x, ds.val.x, ds.test.x]).numpy()
    y = torch.cat([ds.train.y, ds.val.y, ds.test.y]).numpy().ravel()
    groups = np.concatenate([ds.train.groups, ds.val.groups, ds.test.groups])
    words = ["".join("ACGT"[i] for i, c in zip(s.argmax(0), s.sum(0), strict=True) if c > 0) for s in x]
    features = np.hstack([kmer_counts(words, 3), x[:, :, 15:50].reshape(len(x), -1)])  # 3-mers + UTR end
    scores = {}
    for name, splitter in (("random 5-fold", KFold(5, shuffle=True, random_state=0)),
                           ("5 folds of whole studies", GroupKFold(5))):
        rs = []
        for train, test in splitter.split(features, y, groups if isinstance(splitter, GroupKFold) else None):
            model = Ridge(alpha=10.0).fit(features[train], y[train])
            rs.append(pearsonr(model.predict(features[test]), y[test]).statistic)
        scores[name] = np.array(rs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    studies, counts = np.unique(groups, return_counts=True)
    order = np.argsort(-counts)
    axes[0].bar(range(len(studies)), counts[order], color="C0")
    axes[0].set_xticks(range(len(studies)))
    axes[0].set_xticklabels(list(studies[order]), rotation=60, ha="right", fontsize=6)
    axes[0].set_ylabel("sequences")
    axes[0].set_title(f"RBS data: {len(x)} sequences from {len(studies)} studies")
    for i, rs in enumerate(scores.values()):
        axes[1].scatter(np.full(len(rs), i), rs, color=f"C{i}")
        axes[1].errorbar(i + 0.15, rs.mean(), yerr=rs.std(ddof=1), fmt="o", color="k", capsize=4)
        axes[1].text(i + 0.22, rs.mean(), f"{rs.mean():.2f}", va="center", fontsize=8)
    axes[1].set_xticks(range(len(scores)))
    axes[1].set_xticklabels(list(scores), fontsize=8)
    axes[1].set_xlim(-0.5, 1.8)
    axes[1].set_ylabel("Pearson r per fold")
    axes[1].set_title("one ridge regression, two ways to split")
    fig.tight_layout()
    path = out / "evaluation_grouped.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
