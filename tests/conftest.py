"""Shared fixtures: where the real data lies, and running the CLI in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synbiolab.cli import main


def require_data(*relative: str) -> Path:
    """The data folder ($SYNBIOLAB_DATA) holding `relative` files; missing data fails under CI=true."""
    root = os.environ.get("SYNBIOLAB_DATA")
    missing = [r for r in relative if not root or not (Path(root) / r).exists()]
    if missing:
        message = f"data not found: {missing[0]} under SYNBIOLAB_DATA={root!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return Path(root)


@pytest.fixture
def mnist_dir() -> Path:
    return require_data(
        "mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz",
        "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
    )


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never read or write the user's cache (~/.cache/synbiolab).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def cli(capsys):
    """Run `synbiolab ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
