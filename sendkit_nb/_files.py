"""Writing output files safely: checked before any slow work, and replaced atomically.

An output is written to a temporary file in the target's own folder, flushed to disk, and only
then renamed over the target. A write that is killed, runs out of disk or fails in the writer
leaves the previous file as it was, and two runs at once each write a complete file (the last
rename wins). The one thing a rename cannot clean up is a ``kill -9`` mid-write: that leaves a
hidden ``.NAME.PID-XXXX.tmp`` next to the target, never a broken target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

from sendkit_nb._checks import check_path
from sendkit_nb._errors import BadRequestError, SendKitError

__all__ = [
    "PathKind",
    "check_names",
    "check_writable",
    "checked_kind",
    "kind_of",
    "make_parents",
    "path_error",
    "shown_path",
    "write_atomic",
]

#: What is at a path: nothing (``missing``), a folder, a regular file, or something else (a
#: device, a socket, a pipe). Symlinks are followed.
PathKind = Literal["missing", "folder", "file", "other"]

#: Longer paths are shortened in messages: a 300-character name would bury the reason.
_SHOWN_MAX = 100


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` for a message: as it is, or its start and end around an ellipsis when long."""
    text = os.fspath(path)
    if len(text) <= _SHOWN_MAX:
        return text
    return f"{text[:60]}…{text[-20:]} ({len(text)} characters)"


def kind_of(path: str | os.PathLike[str]) -> PathKind:
    """What is at ``path``, or the OSError that says why it cannot be told.

    pathlib's ``exists()``/``is_dir()``/``is_file()`` answer False only for a missing entry
    (or one below a file) and raise anything else: a name too long for the file system, a
    folder without search permission. They also answer False for a symlink loop, which then
    fails later in a write or a read. Here "missing" is only a missing entry (``ENOENT``, or
    ``ENOTDIR``: an entry below a file, which the callers' own checks name); every other
    failure, a symlink loop and a NUL character included, is raised as an OSError for the
    caller to turn into its :class:`~sendkit_nb.SendKitError` (see :func:`checked_kind`).
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except ValueError as exc:  # a NUL character: no system call can take the path
        raise OSError(errno.EINVAL, "the path contains a NUL character", os.fspath(path)) from exc
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "other"


def path_error(
    path: str | os.PathLike[str],
    exc: OSError,
    error: type[SendKitError],
    *,
    doing: str,
    hint: str,
) -> SendKitError:
    """``error`` saying that ``doing`` (``"read"``, ``"open the store at"``) ``path`` failed,
    and the system's reason (``exc.strerror``)."""
    return error(f"cannot {doing} {shown_path(path)}: {exc.strerror or exc}", hint=hint)


def checked_kind(
    path: str | os.PathLike[str],
    error: type[SendKitError],
    *,
    doing: str,
    hint: str,
) -> PathKind:
    """:func:`kind_of` ``path``, with a path that cannot be examined raised as ``error`` (the
    class the entry point raises for its other bad paths; see :func:`path_error`)."""
    try:
        return kind_of(path)
    except OSError as exc:
        raise path_error(path, exc, error, doing=doing, hint=hint) from None


def _real_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` should change: through a symlink to the file it names, as a
    plain in-place write would (renaming over the link would replace the link itself)."""
    target = Path(path).expanduser()
    try:
        return target.resolve() if target.is_symlink() else target
    except RuntimeError as exc:  # how Python before 3.13 reports a symlink loop here
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fspath(target)) from exc


#: Characters of the target's name kept in its temporary file's name.
_TEMP_NAME = 100


def _temp_path(target: Path) -> Path:
    # Same folder as the target: os.replace is atomic only within one file system. Hidden, and
    # unique per process and call, so concurrent runs never share a temporary file. The name
    # is cut so that a target whose name is near the file system's limit still gets one.
    unique = f"{os.getpid()}-{secrets.token_hex(4)}"
    return target.with_name(f".{target.name[:_TEMP_NAME]}.{unique}.tmp")


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


#: The hint of an output path that cannot be looked up or created.
_OUTPUT_HINT = (
    "Choose an output path whose names fit the file system (at most 255 bytes each) and "
    "whose folders exist or can be created, with no symlink that leads back to itself."
)


def check_writable(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a file can be written there, else a
    :class:`~sendkit_nb.BadRequestError`. Meant to run before anything is loaded, so a bad path
    fails in a moment rather than after the whole load.

    The path must be one the system can look up (not too long, no symlink loop), must not be
    a folder, and its folder, or the nearest folder above it that exists (missing folders are
    created at write time, see :func:`make_parents`), must be a folder in which a file can be
    created, under names the file system accepts. That is tested by creating and removing a
    file: permission bits say nothing for root, read-only mounts or ACLs.
    """
    # The type and an empty path first: Path("") would be the current folder.
    given = check_path(path, "path", example="out/report.html")
    kind = checked_kind(given, BadRequestError, doing="write", hint=_OUTPUT_HINT)
    if kind == "folder":
        raise BadRequestError(
            f"cannot write {given}: it is a folder",
            hint=f"Name a file inside it, for example -o {given / ('out' + given.suffix)}",
        )
    if kind == "other":
        # A pipe, a device or a socket: the atomic write would replace it with a file.
        raise BadRequestError(
            f"cannot write {given}: it is not a regular file (a pipe, a device or a socket)",
            hint="Name a file: the output is written whole to a new file, then renamed.",
        )
    try:
        target = _real_target(given)
        folder = _nearest_existing(target.parent)
        is_folder = folder.is_dir()
    except OSError as exc:
        raise path_error(given, exc, BadRequestError, doing="write", hint=_OUTPUT_HINT) from None
    if not is_folder:
        raise BadRequestError(
            f"cannot write {given}: {folder} is a file, not a folder",
            hint="Choose an output path whose folders are folders.",
        )
    check_names(target, BadRequestError, doing="write", hint=_OUTPUT_HINT)
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


def check_names(
    path: str | os.PathLike[str],
    error: type[SendKitError],
    *,
    doing: str,
    hint: str,
) -> None:
    """Raise ``error`` if a name in ``path`` that does not exist yet (the folders to create
    and the last name) is longer than the file system takes. A lookup stops at the first
    missing folder, so only creating them would tell, after the whole load, and after the
    folders above that name were made."""
    target = Path(path).expanduser()
    try:
        folder = _nearest_existing(target)
    except OSError as exc:
        raise path_error(path, exc, error, doing=doing, hint=hint) from None
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer
        limit = 255
    for name in target.relative_to(folder).parts:
        if len(os.fsencode(name)) > limit:
            raise error(
                f"cannot {doing} {shown_path(path)}: {os.strerror(errno.ENAMETOOLONG)} (a name in "
                f"it is longer than the {limit} bytes the file system takes)",
                hint=hint,
            )


def make_parents(path: str | os.PathLike[str]) -> Path | None:
    """Create the missing folders above ``path``; return its folder if any was created (so the
    caller can say so), else None. A folder that cannot be created is a
    :class:`~sendkit_nb.BadRequestError` naming the path and the reason."""
    try:
        folder = _real_target(path).parent
        if folder.is_dir():
            return None
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise path_error(path, exc, BadRequestError, doing="write", hint=_OUTPUT_HINT) from None
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
