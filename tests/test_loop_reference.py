"""`fit` is the four steps and nothing else: it reaches the weights of a plain PyTorch loop written here."""

import torch

from synbiolab import TrainConfig, build_model, fit, load_dataset


def plain_loop(model, x, y, epochs, batch_size, lr, seed):
    """Sample a batch, forward, backward, update: PyTorch with nothing of synbiolab's."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    steps = -(-len(x) // batch_size)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=shuffle)
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model


def test_fit_matches_a_plain_pytorch_loop():
    torch.set_num_threads(1)  # the same kernels on both sides
    ds = load_dataset("digits")
    cfg = TrainConfig(epochs=1, batch_size=64, lr=3e-3, optimizer="adam", schedule="none", train_eval_size=100,
                      progress=False, device="cpu", seed=5)

    torch.manual_seed(0)
    ours = build_model("mlp", ds, hidden_units=[32], dropout=0.2)
    result = fit(ours, ds, cfg, verbose=False)

    torch.manual_seed(0)
    reference = build_model("mlp", ds, hidden_units=[32], dropout=0.2)
    plain_loop(reference, ds.train.x, ds.train.y, cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed)

    steps = -(-len(ds.train) // cfg.batch_size)
    assert result.steps == steps and result.best_epoch == 1
    for (name, a), (_, b) in zip(result.model.state_dict().items(), reference.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=f"parameter {name} differs")
    # and training did something: the weights moved from their initial values
    torch.manual_seed(0)
    initial = build_model("mlp", ds, hidden_units=[32], dropout=0.2)
    pairs = zip(result.model.parameters(), initial.parameters(), strict=True)
    moved = max((a - b).abs().max().item() for a, b in pairs)
    assert moved > 1e-2
