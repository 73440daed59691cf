"""Where the course explains what the tools print: the theory page and tutorials behind a verdict or a model.

The course lives in the project's ``docs/`` folder (``make docs`` builds it into ``docs/_build/html/``). The
tools name its pages by their source files, which read the same in a clone and on the built site.
A leaf: imports nothing of ours.
"""

from __future__ import annotations

COURSE = "docs/ (make docs builds it into docs/_build/html/index.html)"

#: theory page -> (source file, title)
THEORY = {
    "pipelines": ("docs/theory/pipelines.md", "Deep learning and the three pipelines"),
    "training_loop": ("docs/theory/training_loop.md", "The training loop"),
    "mlp": ("docs/theory/mlp.md", "Multilayer perceptrons"),
    "cnn": ("docs/theory/cnn.md", "Convolutional networks"),
    "rnn": ("docs/theory/rnn.md", "Recurrent networks"),
    "gan": ("docs/theory/gan.md", "Generative adversarial networks"),
    "generalisation": ("docs/theory/generalisation.md", "Generalisation"),
    "evaluation": ("docs/theory/evaluation.md", "Honest evaluation in biology"),
}

#: model name -> the theory pages of its architecture, in reading order
MODEL_THEORY = {
    "mlp": ("mlp",),
    "cnn": ("cnn",),
    "cnn1d": ("cnn",),
    "rnn": ("rnn",),
    "cnn_rnn": ("cnn", "rnn"),
    "dcgan": ("gan", "cnn"),
    "wgan_seq": ("gan", "cnn"),
}

#: what a diagnosis is explained by: the theory page, then the tutorials that read and fix verdicts
VERDICT_READING = (
    ("generalisation",),
    ("docs/tutorials/03_generalisation.py (learning curves and the verdicts)",
     "docs/tutorials/04_fixing_fits.py (every fix applied, before and after)"),
)


def page(key: str) -> str:
    """'Title (docs/theory/NAME.md)' of a theory page."""
    path, title = THEORY[key]
    return f"{title} ({path})"


def model_pages(model: str) -> list[str]:
    """The theory pages of a model's architecture (none for a model the course does not cover)."""
    return [page(key) for key in MODEL_THEORY.get(model, ())]


def verdict_pages() -> tuple[list[str], list[str]]:
    """(theory pages, tutorials) that explain a diagnosis, its evidence and its fixes."""
    pages, tutorials = VERDICT_READING
    return [page(key) for key in pages], list(tutorials)


def verdict_line() -> str:
    """One line for the terminal: where the course explains the verdict."""
    pages, tutorials = verdict_pages()
    return f"course: {'; '.join(pages)}; tutorials {' and '.join(tutorials)}"
