"""Downloads of the named data sets through pooch: a cache folder, pinned checksums, several mirrors.

pooch (the downloader scikit-image and SciPy use for their data) streams each file to a temporary name in the
cache folder, checks its hash and only then moves it into place, so a partial or corrupt download is never
kept under the real name and never read. A cached file whose hash no longer matches is fetched again.

Mirrors are tried in order; the first one that gives the file with the pinned hash wins. Besides http(s),
a mirror may be a ``file://`` address (a copy on a shared drive, or the files a test writes), read by
:func:`file_downloader` through the same temporary-file-and-hash path.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import SynbiolabError


def _pooch():
    import pooch

    # pooch logs every download at INFO level on its own handler; the project reports failures itself.
    pooch.get_logger().setLevel(logging.WARNING)
    return pooch


def file_downloader(url: str, output_file, pooch=None, check_only: bool = False):
    """A pooch downloader for ``file://`` addresses: copies the file into pooch's temporary file.

    Args:
        url: a ``file://`` address.
        output_file: the path (or open binary file) pooch gives to write into.
        pooch: the Pooch instance (unused, part of pooch's downloader protocol).
        check_only: only say whether the file exists.

    Returns:
        With `check_only`, whether the file exists; otherwise None.
    """
    source = Path(unquote(urlparse(url).path))
    if check_only:
        return source.is_file()
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    if hasattr(output_file, "write"):
        with open(source, "rb") as fh:
            shutil.copyfileobj(fh, output_file)
    else:
        shutil.copyfile(source, output_file)
    return None


def _downloader(url: str):
    if url.startswith("file://"):
        return file_downloader
    pooch = _pooch()
    return pooch.HTTPDownloader(timeout=60, progressbar=False)


def _why(exc: Exception, url: str, known_hash: str) -> str:
    text = str(exc)
    if isinstance(exc, ValueError) and "hash" in text.lower():
        algorithm = known_hash.partition(":")[0] if ":" in known_hash else "sha256"
        return f"{url}: checksum mismatch (expected {algorithm} {known_hash.rpartition(':')[2]}); download discarded"
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{url}: {first}"


def fetch(filename: str, mirrors: tuple[str, ...] | list[str], known_hash: str, folder: str | Path,
          processor=None, what: str | None = None):
    """Download `filename` from the first mirror that serves it with the pinned hash, into `folder`.

    Args:
        filename: the file name, appended to each mirror (a mirror ending in the file name is used as is).
        mirrors: base addresses, tried in order (http, https or file).
        known_hash: ``md5:...`` or ``sha256:...`` (no prefix: SHA-256).
        folder: the cache folder the file is kept in.
        processor: an optional pooch processor (e.g. ``pooch.Unzip``); its return value is returned.
        what: the data set's name, for the error message.

    Returns:
        The path of the verified file (or what `processor` returns).

    Raises:
        SynbiolabError: no mirror gave the file with the right hash; the message names every failure.
    """
    pooch = _pooch()
    folder = Path(folder)
    errors = []
    for mirror in mirrors:
        url = mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename
        try:
            return pooch.retrieve(url, known_hash=known_hash, fname=filename, path=folder, processor=processor,
                                  downloader=_downloader(url), progressbar=False)
        except Exception as exc:  # noqa: BLE001 - any failure of one mirror: record it and try the next
            errors.append(_why(exc, url, known_hash))
    label = f"{what}: " if what else ""
    tried = "; ".join(errors) if errors else "no download address is known"
    raise SynbiolabError(f"{label}{filename} could not be downloaded ({tried})")
