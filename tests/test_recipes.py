"""A named data set's recipe is what `train --data NAME` and `cv --data NAME` use without further options."""

import pytest

from synbiolab import apply_overrides, default_config
from synbiolab.config import build_config
from synbiolab.data.recipes import RECIPES, recipe_model


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_is_valid_for_its_model(name):
    cfg = default_config(name)
    recipe = RECIPES[name]
    assert cfg.model.name == recipe.model
    for key, value in recipe.settings.items():
        section, _, field = key.partition(".")
        got = cfg.model.params[field] if section == "model" else getattr(getattr(cfg, section), field)
        assert got == value, key
    assert recipe.chosen  # every recipe says how it was chosen


def test_the_recipe_applies_to_its_model_only():
    assert default_config("uci_splice", "cnn1d").model.params["channels"] == [64]
    assert default_config("uci_splice", "cnn1d").model.params["members"] == 5
    assert default_config("uci_splice", "cnn1d").train.label_smoothing == 0.1
    other = default_config("uci_splice", "rnn")
    assert other.model.name == "rnn" and "channels" not in other.model.params
    assert other.train.label_smoothing == default_config("mnist", "rnn").train.label_smoothing
    assert default_config("mnist").model.name == "mlp"  # no recipe: the old default model


def test_named_options_and_sets_win_over_the_recipe():
    cfg = build_config("uci_splice", None, None, {"train.epochs": 3}, ["model.dropout=0.1"],
                       default_model=recipe_model("uci_splice", "mlp"))
    assert cfg.model.name == "cnn1d" and cfg.train.epochs == 3 and cfg.model.params["dropout"] == 0.1
    assert cfg.model.params["kernel_sizes"] == [5]  # the rest of the recipe stays
    assert apply_overrides(default_config("ecoli_promoters"), ["train.epochs=2"]).train.epochs == 2


def test_cli_cv_and_train_without_model_use_the_recipe(cli, monkeypatch):
    import sys

    import synbiolab.experiments.crossval as crossval

    train = sys.modules["synbiolab.train"]  # the package's `train` name is the function; patch its module

    seen = {}
    monkeypatch.setattr(crossval, "cross_validate", lambda cfg, *a, **k: seen.setdefault("cv", cfg))

    class Run:
        path = "runs/x"

    monkeypatch.setattr(train, "train", lambda cfg, **k: (seen.setdefault("train", cfg), Run())[1])
    code, _, err = cli("cv", "--data", "uci_splice")
    assert code == 0, err
    assert seen["cv"].model.name == "cnn1d" and seen["cv"].model.params["pool_sizes"] == [4]
    code, _, err = cli("train", "--data", "ecoli_promoters", "--quiet")
    assert code == 0, err
    assert seen["train"].model.name == "cnn1d" and seen["train"].model.params["dilations"] == [1, 2, 4]


def test_a_run_report_says_how_its_recipe_was_chosen_and_what_the_run_changed():
    from synbiolab.report.sections.config import recipe_note, section_config

    raw = default_config("uci_promoters").to_dict()
    note = recipe_note(raw)
    assert note["model"] == "cnn1d" and note["chosen"] == RECIPES["uci_promoters"].chosen and note["changed"] == []
    raw["train"]["epochs"] = 3
    assert recipe_note(raw)["changed"] == ["train.epochs=3 (recipe: 40)"]
    html = str(section_config(type("Run", (), {"raw_config": raw})()))
    from markupsafe import escape

    assert "How it was chosen: " + str(escape(RECIPES["uci_promoters"].chosen)) in html and "train.epochs=3" in html
    assert recipe_note(default_config("uci_promoters", "rnn").to_dict()) is None  # another model: no recipe
    assert recipe_note(default_config("mnist").to_dict()) is None
