"""GAN models, the gradient penalty and the two-phase GAN step."""

import pytest
import torch
from torch import nn

from synbiolab.errors import SynbiolabError
from synbiolab.models.gan import DCGANDiscriminator, DCGANGenerator
from synbiolab.models.wgan_seq import SequenceCritic, SequenceGenerator
from synbiolab.train.gan_step import gan_step, gradient_penalty

# --- shapes


@pytest.mark.parametrize("side", [28, 8])
@pytest.mark.parametrize("n_classes", [0, 10])
def test_dcgan_shapes(side, n_classes):
    torch.manual_seed(0)
    shape = (1, side, side)
    generator = DCGANGenerator(image_shape=shape, latent_size=16, n_classes=n_classes, base_channels=8)
    discriminator = DCGANDiscriminator(image_shape=(1, side, side), n_classes=n_classes, base_channels=8)
    labels = torch.arange(5) if n_classes else None
    images = generator(torch.randn(5, 16), labels)
    assert images.shape == (5, 1, side, side)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert discriminator(images, labels).shape == (5,)


def test_conditional_generator_needs_labels():
    generator = DCGANGenerator(image_shape=(1, 8, 8), latent_size=4, n_classes=10, base_channels=4)
    with pytest.raises(SynbiolabError, match="class-conditional"):
        generator(torch.randn(2, 4))
    with pytest.raises(SynbiolabError, match="side divisible by 4"):
        DCGANGenerator(image_shape=(1, 10, 10))


def test_sequence_generator_outputs_base_probabilities_and_critic_scores():
    torch.manual_seed(0)
    generator = SequenceGenerator(sequence_length=50, latent_size=100, channels=16, n_blocks=2)
    critic = SequenceCritic(sequence_length=50, channels=16, n_blocks=2)
    soft = generator(torch.randn(3, 100))
    assert soft.shape == (3, 4, 50)
    torch.testing.assert_close(soft.sum(1), torch.ones(3, 50))  # softmax over the 4 bases
    assert critic(soft).shape == (3,)


# --- gradient penalty


class LinearCritic(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.linear = nn.Linear(len(weight), 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([weight]))
            self.linear.bias.fill_(0.7)

    def forward(self, x, labels=None):
        return self.linear(x).squeeze(1)


def test_gradient_penalty_of_a_linear_critic_by_hand():
    # f(x) = w.x + b has gradient w everywhere: the penalty is (|w| - 1)^2 = (5 - 1)^2 = 16 for w = (3, 4),
    # whatever the interpolation points, and its gradient with respect to w is 2 (|w| - 1) w / |w|
    critic = LinearCritic([3.0, 4.0])
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(16.0)
    penalty.backward()
    torch.testing.assert_close(critic.linear.weight.grad, torch.tensor([[2 * 4 * 3 / 5, 2 * 4 * 4 / 5]]))
    # a unit-norm linear critic is exactly 1-Lipschitz: no penalty
    assert gradient_penalty(LinearCritic([0.6, 0.8]), real, fake).item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_of_a_quadratic_critic_by_hand():
    # f(x) = sum(x^2) / 2 has gradient x: with real == fake == x the interpolate is x itself
    class Quadratic(nn.Module):
        def forward(self, x, labels=None):
            return (x**2).sum(1) / 2

    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]])  # gradient norms 5 and 2
    expected = ((5 - 1) ** 2 + (2 - 1) ** 2) / 2
    assert gradient_penalty(Quadratic(), x, x.clone()).item() == pytest.approx(expected)


# --- the GAN step


def _snapshot(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _changed(before, module):
    return {name for name, p in module.named_parameters() if not torch.equal(before[name], p.detach())}


@pytest.mark.parametrize("loss,n_critic", [("standard", 1), ("wgan-gp", 3)])
@pytest.mark.parametrize("conditional", [False, True])
def test_gan_step_updates_each_network_in_its_own_phase(loss, n_critic, conditional):
    torch.manual_seed(0)
    n_classes = 10 if conditional else 0
    generator = DCGANGenerator(image_shape=(1, 8, 8), latent_size=8, n_classes=n_classes, base_channels=4)
    discriminator = DCGANDiscriminator(image_shape=(1, 8, 8), n_classes=n_classes, base_channels=4)
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-2)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-2)

    g_start, d_start = _snapshot(generator), _snapshot(discriminator)
    seen = {}
    real_d_step, real_g_step = d_opt.step, g_opt.step

    def d_step(*args, **kwargs):
        # during the discriminator phase the generator must not have moved
        seen.setdefault("generator_changed_in_d_phase", set()).update(_changed(g_start, generator))
        seen["d_steps"] = seen.get("d_steps", 0) + 1
        return real_d_step(*args, **kwargs)

    def g_step(*args, **kwargs):
        seen["d_before_g_step"] = _snapshot(discriminator)
        seen["generator_grads"] = [p.grad is not None for p in generator.parameters()]
        return real_g_step(*args, **kwargs)

    d_opt.step, g_opt.step = d_step, g_step
    batches = [(torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))) for _ in range(n_critic)]
    result = gan_step(generator, discriminator, g_opt, d_opt, batches, loss=loss, latent_size=8,
                      conditional=conditional)

    assert seen["d_steps"] == n_critic
    assert seen["generator_changed_in_d_phase"] == set()  # generator untouched while D learns
    # the discriminator moved in its phase (the Wasserstein loss E[D(real)] - E[D(fake)] and the gradient
    # penalty do not depend on the critic's output bias, so WGAN-GP leaves that one parameter alone)
    constant_under_loss = {"score.bias"} if loss == "wgan-gp" else set()
    assert _changed(d_start, discriminator) == set(d_start) - constant_under_loss
    # ... and not in the generator's phase: its weights after the whole step equal those before G's update
    assert _changed(seen["d_before_g_step"], discriminator) == set()
    # the generator got gradients and moved in its phase
    assert all(seen["generator_grads"])
    assert _changed(g_start, generator) == set(g_start)
    assert torch.isfinite(torch.tensor([result.discriminator_loss, result.generator_loss])).all()
    if loss == "wgan-gp":
        assert result.gradient_penalty > 0


def test_gan_step_rejects_unknown_loss():
    generator = DCGANGenerator(image_shape=(1, 8, 8), latent_size=4, base_channels=4)
    discriminator = DCGANDiscriminator(image_shape=(1, 8, 8), base_channels=4)
    opt = torch.optim.SGD(generator.parameters(), lr=0.1)
    with pytest.raises(SynbiolabError, match="valid: standard, wgan-gp"):
        batches = [(torch.randn(2, 1, 8, 8), torch.zeros(2))]
        gan_step(generator, discriminator, opt, opt, batches, loss="hinge")


def test_non_saturating_loss_matches_formula():
    from synbiolab.train.gan_step import discriminator_loss, generator_loss

    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    sigmoid = torch.sigmoid
    expected_d = -(torch.log(sigmoid(real)).mean() + torch.log(1 - sigmoid(fake)).mean())
    expected_g = -torch.log(sigmoid(fake)).mean()
    torch.testing.assert_close(discriminator_loss(real, fake, "standard"), expected_d)
    torch.testing.assert_close(generator_loss(fake, "standard"), expected_g)
    torch.testing.assert_close(discriminator_loss(real, fake, "wgan-gp"), torch.tensor(0.0 - 1.0))


# --- end to end on the 8x8 digits


def test_short_conditional_gan_on_digits_writes_samples_and_metrics(cli, tmp_path):
    import json

    import pandas as pd
    from PIL import Image

    run_dir = tmp_path / "gan"
    code, out, err = cli(
        "gan", "--data", "digits", "--conditional", "--epochs", "3", "--out", run_dir,
        "--set", "model.base_channels=16", "--set", "gan.eval_samples=300", "--set", "gan.final_samples=600",
        "--set", "gan.judge_epochs=3", "--set", "gan.tog_samples=600", "--set", "gan.tog_epochs=1",
    )
    assert code == 0, err
    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    for column in ("discriminator_loss", "generator_loss", "frechet", "frechet_floor", "min_class_fraction",
                   "mean_confidence", "judge_accuracy"):
        assert history[column].notna().all(), column
    # the generator improves: its samples move towards the real digits in the judge's feature space
    assert history["frechet"].iloc[-1] < history["frechet"].iloc[0]
    assert (history["frechet"] > history["frechet_floor"]).all()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    final = metrics["final"]
    assert len(final["class_fractions"]) == 10 and abs(sum(final["class_fractions"]) - 1) < 1e-9
    assert final["n_samples"] == 600
    assert 0 <= final["train_on_generated"]["test_accuracy"] <= 1
    assert 0.5 < final["judge_test_accuracy"] <= 1  # the judge itself reads real digits
    assert "Frechet distance" in out and "floor" in out
    spec = json.loads((run_dir / "model.json").read_text())
    assert spec["n_classes"] == 10 and "n_classes" not in spec["params"] and spec["params"]["conditional"]
    # fixed latent vectors drawn after every epoch: 10 columns (one per digit) x 8 rows, 8x8 pixels x 7
    for epoch in (1, 2, 3):
        image = Image.open(run_dir / "figures" / f"samples_epoch_{epoch:03d}.png")
        assert image.size == (10 * 58 + 2, 8 * 58 + 2)
    report = (run_dir / "report.html").read_text()
    assert "Latent interpolation" in report and "Class coverage" in report

    code, out, err = cli("sample", run_dir, "--n", "16", "--digit", "7", "--out", tmp_path / "sevens.png")
    assert code == 0, err
    assert Image.open(tmp_path / "sevens.png").size == (8 * 58 + 2, 2 * 58 + 2)
    code, out, err = cli("sample", run_dir, "--digit", "12")
    assert code == 2 and "valid: 0, 1, 2" in err


@pytest.mark.parametrize("schedule", ["none", "cosine"])
def test_gan_resume_continues_exactly(tmp_path, schedule):
    from synbiolab import GanConfig, TrainConfig, build_model, fit_gan, load_dataset
    from synbiolab.data.generative import prepare_gan_data

    data = prepare_gan_data(load_dataset("digits"))
    settings = GanConfig(loss="wgan-gp", n_critic=2)

    def fresh():
        torch.manual_seed(0)
        return build_model("dcgan", input_shape=(1, 8, 8), n_classes=10, base_channels=4, latent_size=8)

    def config(epochs):  # the cosine decay spans the 2 planned epochs, so the resumed run must restore it
        return TrainConfig(epochs=epochs, batch_size=256, device="cpu", schedule=schedule)

    straight = fit_gan(fresh(), data, config(2), settings, tmp_path / "a", verbose=False)
    stop_early = GanConfig(loss="wgan-gp", n_critic=2, time_limit=1e-9)  # stops after epoch 1 of the 2 planned
    fit_gan(fresh(), data, config(2), stop_early, tmp_path / "b", verbose=False)
    resumed = fit_gan(fresh(), data, config(2), settings, tmp_path / "b", resume=True, verbose=False)
    assert [row["epoch"] for row in resumed.history] == [1, 2]
    for name, tensor in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], tensor, msg=name)


def test_gan_bad_input_gives_one_line(cli, tmp_path):
    code, out, err = cli("gan", "--data", "digits", "--model", "wgan_seq", "--out", tmp_path / "x")
    assert code == 2
    assert err.strip() == ("error: model 'wgan_seq' generates sequence data but 'digits' holds image data; "
                           "use dcgan")
    code, out, err = cli("gan", "--data", "digits", "--set", "gan.loss=hinge", "--out", tmp_path / "y")
    assert code == 2 and "valid: standard, wgan-gp" in err
    code, out, err = cli("gan", "--data", "digits", "--set", "train.schedule=onecycle", "--out", tmp_path / "z")
    assert code == 2 and "valid: none (constant learning rates) or cosine" in err
    # a classifier run is not a GAN
    code, out, err = cli("train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--out",
                         tmp_path / "mlp", "--quiet")
    assert code == 0, err
    code, out, err = cli("sample", tmp_path / "mlp")
    assert code == 2
    assert "is a train folder (written by synbiolab train); expected a gan folder" in err
    assert len(err.strip().splitlines()) == 1


# --- promoters: a tiny WGAN-GP, an expression predictor, and design


@pytest.fixture(scope="module")
def promoter_runs(tmp_path_factory):
    from conftest import require_data

    wang = "synbio/ecoli_promoters_wang2020/"
    require_data(wang + "sequence_data.txt", wang + "promoter.npy", wang + "gene_expression.npy")
    from synbiolab import default_config, train
    from synbiolab.config import set_value
    from synbiolab.train.job import default_gan_config, train_gan

    root = tmp_path_factory.mktemp("promoters")
    config, settings = default_gan_config("ecoli_promoters_natural", "wgan_seq")
    for key, value in {"train.epochs": 1, "model.channels": 8, "model.n_blocks": 1}.items():
        set_value(config, key, value)
    settings.eval_samples, settings.final_samples = 300, 500
    gan_run = train_gan(config, settings, out=root / "gan", verbose=False)
    predictor_config = default_config("ecoli_promoters", "mlp")
    set_value(predictor_config, "train.epochs", 1)
    set_value(predictor_config, "train.progress", False)
    predictor_run = train(predictor_config, out=root / "predictor", verbose=False)
    return gan_run.path, predictor_run.path


def test_sequence_gan_run_scores_against_held_out_promoters(promoter_runs, cli, tmp_path):
    import json

    import pandas as pd

    gan_dir, _ = promoter_runs
    history = pd.read_csv(gan_dir / "history.csv")
    row = history.iloc[0]
    assert row["gradient_penalty"] > 0
    # the natural references: a ceiling well above the shuffled floor, box rates of the held-out promoters
    assert row["kmer_r_ceiling"] > row["kmer_r_floor"] + 0.2
    assert 0.6 < row["natural_rate_10"] < 0.9 and 0.1 < row["natural_rate_35"] < 0.4
    for column in ("kmer_r", "rate_10", "rate_35", "exact_fraction", "mean_nearest", "diversity"):
        assert pd.notna(row[column]), column
    final = json.loads((gan_dir / "metrics.json").read_text())["final"]
    assert final["n_samples"] == 500 and final["n_heldout"] == 1410 and final["n_train"] == 12688
    assert len((gan_dir / "heldout.txt").read_text().split()) == 1410
    assert "# epoch 1" in (gan_dir / "figures" / "samples_over_epochs.txt").read_text()

    code, out, err = cli("sample", gan_dir, "--n", "5", "--out", tmp_path / "five.fasta")
    assert code == 0, err
    lines = (tmp_path / "five.fasta").read_text().split()
    assert lines[0::2] == [f">sample_{i}" for i in range(1, 6)]
    assert all(len(s) == 50 and set(s) <= set("ACGT") for s in lines[1::2])


def test_design_writes_ranked_designs_with_predictions_novelty_and_boxes(promoter_runs, cli, tmp_path):
    import json

    gan_dir, predictor_dir = promoter_runs
    out = tmp_path / "design"
    code, stdout, err = cli("design", "--generator", gan_dir, "--predictor", predictor_dir, "--n", "400",
                            "--top", "10", "--out", out)
    assert code == 0, err
    text = (out / "designs.fasta").read_text().splitlines()
    headers, sequences = text[0::2], text[1::2]
    assert len(headers) == 10 and len(set(sequences)) == 10
    predicted = [float(h.split("predicted=")[1].split()[0]) for h in headers]
    assert predicted == sorted(predicted, reverse=True)
    assert all("nearest_train=" in h and "box10=" in h and "box35=" in h and "spacing=" in h for h in headers)
    summary = json.loads((out / "design.json").read_text())
    # the designs are the best of the sample for the target
    assert summary["designs"]["predicted_mean"] >= summary["all_sampled"]["predicted_mean"]
    assert summary["measured_94"]["n"] == 94
    assert "How far can the predictor be trusted" in (out / "design.html").read_text()

    code, stdout, err = cli("design", "--generator", gan_dir, "--predictor", predictor_dir, "--n", "200",
                            "--top", "5", "--target", "low", "--refine-steps", "3", "--out", tmp_path / "low")
    assert code == 0, err
    headers = (tmp_path / "low" / "designs.fasta").read_text().splitlines()[0::2]
    low = [float(h.split("predicted=")[1].split()[0]) for h in headers]
    assert low == sorted(low) and max(low) < min(predicted)


def test_design_bad_input_gives_one_line(promoter_runs, cli, tmp_path):
    from synbiolab import default_config, train
    from synbiolab.config import set_value

    gan_dir, predictor_dir = promoter_runs
    base = ("design", "--generator", gan_dir, "--n", "50", "--top", "5")

    code, _, err = cli(*base, "--predictor", predictor_dir, "--target", "9", "--out", tmp_path / "a")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--target 9: outside the range the predictor was trained on" in err
    code, _, err = cli(*base, "--predictor", predictor_dir, "--target", "bright", "--out", tmp_path / "a")
    assert code == 2 and "expected high, low or a number" in err

    # a predictor of 57-nt sequences (UCI promoters) does not read 50-nt designs
    other_length = default_config("uci_promoters", "mlp")
    set_value(other_length, "train.epochs", 1)
    train(other_length, out=tmp_path / "uci", verbose=False)
    code, _, err = cli(*base, "--predictor", tmp_path / "uci", "--out", tmp_path / "b")
    assert code == 2
    assert "was trained on 57-nt sequences but the generator writes 50-nt sequences" in err

    # a predictor of protein sequences
    import random

    rng = random.Random(0)
    rows = ["seq,y"] + [
        "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(50)) + f",{rng.random():.3f}"
        for _ in range(120)
    ]
    (tmp_path / "proteins.csv").write_text("\n".join(rows) + "\n")
    sets = ["--set", "data.seq_col=seq", "--set", "data.target=y", "--set", "data.alphabet=protein"]
    code, _, err = cli("train", "--data", tmp_path / "proteins.csv", "--model", "mlp", "--epochs", "1", *sets,
                       "--out", tmp_path / "protein", "--quiet")
    assert code == 0, err
    code, _, err = cli(*base, "--predictor", tmp_path / "protein", "--out", tmp_path / "c")
    assert code == 2 and "alphabet protein, input shape (20, 50)" in err

    # the generator must be a sequence GAN
    code, _, err = cli("design", "--generator", predictor_dir, "--predictor", predictor_dir,
                       "--out", tmp_path / "d")
    assert code == 2 and "is a train folder (written by synbiolab train); expected a gan folder" in err
    code, _, err = cli("design", "--generator", gan_dir, "--predictor", gan_dir, "--out", tmp_path / "e")
    assert code == 2 and "is a gan folder (written by synbiolab gan); --predictor takes a train folder" in err


def test_generator_average_and_time_limit():
    from synbiolab import GanConfig, TrainConfig, build_model, fit_gan, load_dataset
    from synbiolab.data.generative import prepare_gan_data
    from synbiolab.train.fit_gan import update_average

    average, live = nn.Linear(2, 1), nn.Linear(2, 1)
    before = average.weight.detach().clone()
    update_average(average, live, decay=0.9)
    torch.testing.assert_close(average.weight, 0.9 * before + 0.1 * live.weight)

    # a budget of ~0 s stops training after its first epoch, whatever the number of epochs asked for
    data = prepare_gan_data(load_dataset("digits"))
    model = build_model("dcgan", input_shape=(1, 8, 8), n_classes=10, base_channels=4, latent_size=8)
    result = fit_gan(model, data, TrainConfig(epochs=5, batch_size=256, device="cpu"),
                     GanConfig(time_limit=1e-9), verbose=False)
    assert [row["epoch"] for row in result.history] == [1]
