"""Writing output files safely: checked before any slow work, and replaced atomically.

An output is written to a temporary file in the target's own folder, flushed to disk, and only
then renamed over the target. A write that is killed, runs out of disk or fails in the writer
leaves the previous file as it was, and two runs at once each write a complete file (the last
rename wins). The one thing a rename cannot clean up is a ``kill -9`` mid-write: that leaves a
hidden ``.NAME.PID-XXXX.tmp`` next to the target, never a broken target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sendkit_nb._errors import BadRequestError

__all__ = ["check_writable", "make_parents", "write_atomic"]


def _real_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` should change: through a symlink to the file it names, as a
    plain in-place write would (renaming over the link would replace the link itself)."""
    target = Path(path).expanduser()
    return target.resolve() if target.is_symlink() else target


def _temp_path(target: Path) -> Path:
    # Same folder as the target: os.replace is atomic only within one file system. Hidden, and
    # unique per process and call, so concurrent runs never share a temporary file.
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file can be written there, else a
    :class:`~sendkit_nb.BadRequestError`. Meant to run before anything is loaded, so a bad path
    fails in a moment rather than after the whole load.

    The path must not be a folder, and its folder, or the nearest folder above it that exists
    (missing folders are created at write time, see :func:`make_parents`), must be a folder in
    which a file can be created. That is tested by creating and removing a file: permission
    bits say nothing for root, read-only mounts or ACLs.
    """
    given = Path(path).expanduser()
    target = _real_target(given)
    if target.is_dir():
        raise BadRequestError(
            f"cannot write {given}: it is a folder",
            hint=f"Name a file inside it, for example -o {given / ('out' + given.suffix)}",
        )
    folder = _nearest_existing(target.parent)
    if not folder.is_dir():
        raise BadRequestError(
            f"cannot write {given}: {folder} is a file, not a folder",
            hint="Choose an output path whose folders are folders.",
        )
    probe = _temp_path(folder / target.name)
    try:
        probe.open("xb").close()
    except OSError as exc:
        raise BadRequestError(
            f"cannot write {given}: cannot create files in {folder} ({exc.strerror or exc})",
            hint="Choose a folder you can write to.",
        ) from None
    probe.unlink(missing_ok=True)
    return given


def make_parents(path: str | os.PathLike[str]) -> Path | None:
    """Create the missing folders above ``path``; return its folder if any was created (so the
    caller can say so), else None."""
    folder = _real_target(path).parent
    if folder.is_dir():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(handle)`` (a binary file open for writing) so that ``path``
    holds either its previous content or the complete new one, never part of either.

    The folder must exist. On any failure, including KeyboardInterrupt, the temporary file is
    removed and the exception propagates; ``path`` is untouched.
    """
    target = _real_target(path)
    # Not tempfile.mkstemp: its files are private (0600), and outputs are meant to be shared;
    # a plain exclusive create gets the usual permissions from the umask.
    tmp = _temp_path(target)
    try:
        with tmp.open("xb") as handle:
            write(handle)
            handle.flush()
            # Durable before the rename: otherwise a crash just after it can leave an empty file
            # under the target's name on file systems that delay data writes (ext4, xfs).
            os.fsync(handle.fileno())
        if target.exists():
            # A file that was replaced keeps its permissions, as an in-place write would.
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the real error behind the cleanup's
            tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX keeps it in the folder's entry). Best effort: some
    systems (Windows) cannot open a folder, and the file is complete either way."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
