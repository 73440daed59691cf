"""Files written safely: atomic writes, folder locks, stale temporaries and checksums.

This module is a leaf: it imports nothing of the package but its error type, so that every other module
(run folders, data loaders, reports) can use it without an import cycle.

Every file is written to a temporary name in the same folder (``.<name>.<pid>.<random>.tmp``) and renamed
into place, so a killed process never leaves a half-written file that a later command trusts; the writer's
process id in the name tells a later process which temporaries are stale.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from .errors import SynbiolabError

# --- atomic writes


def file_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask); temporary files start at 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class WriteFailed(SynbiolabError):
    """A file could not be written (read-only folder, full disk, no permission); what was there is kept."""


# The errors a user can act on; any other OSError is a fault of the program and keeps its traceback.
WRITE_ERRORS = {errno.EROFS: "the folder is on a read-only file system", errno.ENOSPC: "the disk is full",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EDQUOT: "the disk quota is exceeded"}


def write_error_reason(exc: OSError) -> str | None:
    """The words for an OSError a user can act on, or None for any other."""
    return WRITE_ERRORS.get(exc.errno)


def _os_error(exc: OSError, path: Path) -> WriteFailed:
    """One line for the errors a user can act on (read-only folder, full disk, no permission)."""
    reason = WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))
    return WriteFailed(f"{path.parent}: cannot write {path.name}: {reason}; nothing was replaced")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno in WRITE_ERRORS:
            raise _os_error(exc, path) from exc
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:  # a read-only folder cannot hold a temporary either; nothing is left to remove
                pass


def check_writable(folder: str | Path, size: int = 65536) -> None:
    """Write and remove a small temporary file in `folder`, so that a command refuses before it changes anything
    when the folder cannot be written (read-only file system, full disk, no permission).

    Raises:
        WriteFailed: one line naming the folder and the reason.
    """
    folder = Path(folder)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".probe.{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        if exc.errno in WRITE_ERRORS:
            raise WriteFailed(f"{folder}: cannot write into this folder: {WRITE_ERRORS[exc.errno]}; nothing was "
                              "changed") from exc
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def atomic_write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    atomic_write_text(path, buf.getvalue())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file the project wrote; a damaged one is one line naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SynbiolabError(f"{path}: no such {what}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SynbiolabError(f"{path}: damaged {what} (not valid JSON); rerun the command that wrote it") from exc


# --- stale temporaries

_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")
_OLD_TEMPORARY = re.compile(r"^\..+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str | Path, locked: bool = False) -> list[Path]:
    """Delete the temporary files that killed writers left in `folder` and its subfolders.

    Args:
        folder: the folder to clean (links are not followed).
        locked: the caller holds the folder's lock, so every temporary in it is stale.

    Returns:
        The files removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return removed
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            match = _TEMPORARY.match(name)
            stale = (match is not None and (locked or not _alive(int(match.group(1))))) or (
                match is None and locked and _OLD_TEMPORARY.match(name) is not None)
            if stale:
                path = Path(root) / name
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    pass
    return removed


# --- folder locks


class FolderLock:
    """An exclusive lock on a folder while one process writes it (``<folder>/.lock``).

    The lock is an advisory ``flock`` held on the lock file, so the kernel releases it when the process
    dies, however it dies: a stale lock of a dead process is simply taken over. The file records the
    holder's process id so that a refused writer can be told who holds it.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._fh = None

    def acquire(self) -> FolderLock:
        import fcntl

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        except OSError as exc:
            if exc.errno in WRITE_ERRORS:
                raise WriteFailed(f"{self.folder}: cannot write into this folder: {WRITE_ERRORS[exc.errno]}; "
                                  "nothing was changed") from exc
            raise
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise SynbiolabError(
                f"{self.folder}: another synbiolab process is writing this folder ({holder}); wait for it to "
                "finish or choose another --out"
            ) from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the flock
            self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> FolderLock:
        return self.acquire() if not self.held else self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def folder_locked_by_other(folder: str | Path) -> str | None:
    """Who holds the lock on `folder` when it is held by another process, else None."""
    import fcntl

    path = Path(folder) / ".lock"
    if not path.is_file():
        return None
    with open(path) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fh.read().strip() or "another process"
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


# --- checksums


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
