"""Figure for theory/gan.md: the generator's two losses as functions of D(G(z))."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def make(out: Path) -> list[Path]:
    d = torch.linspace(0.001, 0.999, 400, requires_grad=True)
    saturating = torch.log(1 - d)  # the generator minimises log(1 - D(G(z)))
    non_saturating = -torch.log(d)  # ... or minimises -log D(G(z))
    (grad_sat,) = torch.autograd.grad(saturating.sum(), d)
    (grad_ns,) = torch.autograd.grad(non_saturating.sum(), d)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    x = d.detach()
    axes[0].plot(x, saturating.detach(), label="log(1 - D(G(z)))  (minimax)")
    axes[0].plot(x, non_saturating.detach(), label="-log D(G(z))  (non-saturating)")
    axes[0].set_xlabel("D(G(z)): how real the discriminator finds a fake")
    axes[0].set_ylabel("generator loss")
    axes[0].legend(fontsize=8)
    axes[1].plot(x, grad_sat.abs(), label="|gradient|, minimax")
    axes[1].plot(x, grad_ns.abs(), label="|gradient|, non-saturating")
    axes[1].set_yscale("log")
    axes[1].axvspan(0, 0.1, color="grey", alpha=0.15)
    axes[1].text(0.02, 0.5, "early training:\nfakes are obvious", transform=axes[1].transAxes, fontsize=8)
    axes[1].set_xlabel("D(G(z))")
    axes[1].set_ylabel("|d loss / d D|")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = out / "gan_losses.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
