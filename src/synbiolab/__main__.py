"""``python -m synbiolab`` (also what ``torchrun -m synbiolab`` runs on each process)."""

from .cli import main

main()
