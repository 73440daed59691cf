"""The organism a data set comes from, and the group of organisms whose motifs fit it.

Every data set carries two strings in ``Dataset.info``:

- ``organism``: the organism as the data's provenance names it (``Escherichia coli K-12``, ``primates``),
  ``unknown`` for a user's file without ``--organism``, ``none`` for data that are not biological (images);
- ``organism_group``: the group a motif search should use: ``bacteria`` (no JASPAR collection; the sigma-70
  -10/-35 boxes and the Shine-Dalgarno site fit), one of JASPAR's taxonomic groups (``vertebrates``,
  ``plants``, ``insects``, ``nematodes``, ``fungi``, ``urochordates``), ``archaea``, ``unknown`` or ``none``.

A user names the organism with ``--organism``: a known name (``ecoli``, ``human``, ``yeast``, ...), a group
(``bacteria``), or any name with its group after a colon (``"Pseudomonas putida:bacteria"``).
"""

from __future__ import annotations

from ..errors import SynbiolabError

JASPAR_GROUPS = ("vertebrates", "plants", "insects", "nematodes", "fungi", "urochordates")
GROUPS = ("bacteria", "archaea", *JASPAR_GROUPS, "unknown", "none")

# Names users type, lower case, -> (the organism's name, its group).
KNOWN = {
    "escherichia coli": ("Escherichia coli", "bacteria"),
    "e. coli": ("Escherichia coli", "bacteria"),
    "e.coli": ("Escherichia coli", "bacteria"),
    "ecoli": ("Escherichia coli", "bacteria"),
    "bacillus subtilis": ("Bacillus subtilis", "bacteria"),
    "b. subtilis": ("Bacillus subtilis", "bacteria"),
    "salmonella enterica": ("Salmonella enterica", "bacteria"),
    "pseudomonas putida": ("Pseudomonas putida", "bacteria"),
    "pseudomonas fluorescens": ("Pseudomonas fluorescens", "bacteria"),
    "corynebacterium glutamicum": ("Corynebacterium glutamicum", "bacteria"),
    "vibrio natriegens": ("Vibrio natriegens", "bacteria"),
    "human": ("Homo sapiens", "vertebrates"),
    "homo sapiens": ("Homo sapiens", "vertebrates"),
    "primates": ("primates", "vertebrates"),
    "mouse": ("Mus musculus", "vertebrates"),
    "mus musculus": ("Mus musculus", "vertebrates"),
    "rat": ("Rattus norvegicus", "vertebrates"),
    "zebrafish": ("Danio rerio", "vertebrates"),
    "danio rerio": ("Danio rerio", "vertebrates"),
    "chicken": ("Gallus gallus", "vertebrates"),
    "yeast": ("Saccharomyces cerevisiae", "fungi"),
    "saccharomyces cerevisiae": ("Saccharomyces cerevisiae", "fungi"),
    "s. cerevisiae": ("Saccharomyces cerevisiae", "fungi"),
    "pichia pastoris": ("Komagataella phaffii", "fungi"),
    "arabidopsis": ("Arabidopsis thaliana", "plants"),
    "arabidopsis thaliana": ("Arabidopsis thaliana", "plants"),
    "maize": ("Zea mays", "plants"),
    "zea mays": ("Zea mays", "plants"),
    "rice": ("Oryza sativa", "plants"),
    "tobacco": ("Nicotiana tabacum", "plants"),
    "drosophila": ("Drosophila melanogaster", "insects"),
    "drosophila melanogaster": ("Drosophila melanogaster", "insects"),
    "fly": ("Drosophila melanogaster", "insects"),
    "c. elegans": ("Caenorhabditis elegans", "nematodes"),
    "caenorhabditis elegans": ("Caenorhabditis elegans", "nematodes"),
    "worm": ("Caenorhabditis elegans", "nematodes"),
    "ciona": ("Ciona intestinalis", "urochordates"),
    "ciona intestinalis": ("Ciona intestinalis", "urochordates"),
}


def parse_organism(text: str | None) -> dict[str, str]:
    """``{"organism": name, "organism_group": group}`` from what a user gave ``--organism``.

    Args:
        text: a known name, a group, ``NAME:GROUP``, or None / ``unknown``.

    Raises:
        SynbiolabError: a name that is not known and has no group, or an unknown group.
    """
    if text is None or not str(text).strip() or str(text).strip().lower() == "unknown":
        return {"organism": "unknown", "organism_group": "unknown"}
    text = str(text).strip()
    name, sep, group = text.rpartition(":") if ":" in text else (text, "", "")
    if sep:
        name, group = name.strip(), group.strip().lower()
        if group not in GROUPS:
            raise SynbiolabError(f"--organism {text}: group '{group}' is unknown; valid: {', '.join(GROUPS)}")
        return {"organism": name or group, "organism_group": group}
    key = name.lower()
    if key in GROUPS:
        return {"organism": key, "organism_group": key}
    if key in KNOWN:
        full, group = KNOWN[key]
        return {"organism": full, "organism_group": group}
    groups = ", ".join(g for g in GROUPS if g != "none")
    names = ", ".join(sorted(k for k in KNOWN if "." not in k))
    raise SynbiolabError(
        f"--organism {text}: not a known name; give its group after a colon (e.g. '{text}:bacteria'; groups: "
        f"{groups}) or one of: {names}"
    )


def organism_info(name: str, group: str) -> dict[str, str]:
    """The two info entries of a named data set."""
    if group not in GROUPS:
        raise ValueError(f"unknown organism group {group!r}")  # a programming error in a loader, not the user's
    return {"organism": name, "organism_group": group}
