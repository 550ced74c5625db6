"""Output paths checked before any compute: a command that would fail to write fails first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["OutputPathError", "check_output"]


class OutputPathError(OSError):
    """An output path cannot be written; the message names the option and the folder."""


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def check_output(path: Path, kind: str = "folder", option: str = "--out") -> None:
    """Check that ``path`` (an output ``file`` or ``folder``) can be created and written.

    Creates nothing that stays: a probe file is made and removed in the nearest existing
    folder, which also catches read-only file systems where permission bits say yes.

    Raises
    ------
    OutputPathError
        If ``path`` is an existing folder where a file is expected (or the reverse), lies
        under an existing file, or its nearest existing folder is not writable.
    """
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise OutputPathError(f"{option} {path} is a folder; give a file name (e.g. out.nc)")
    if kind == "folder" and path.is_file():
        raise OutputPathError(f"{option} {path} is a file; give a folder")
    if path.is_file():
        if not os.access(path, os.W_OK):
            raise OutputPathError(f"{option} {path} exists and is not writable")
        return
    base = _nearest_existing(path)
    if not base.is_dir():
        raise OutputPathError(f"{option} {path}: {base} is a file, so no folder can be made there")
    try:
        with tempfile.TemporaryFile(dir=base, prefix=".soilsciml-write-check-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise OutputPathError(f"{option} {path}: cannot write in {base} ({reason})") from None
