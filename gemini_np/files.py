"""Files the package writes: atomic writes, and output paths checked before any long work.

    atomic_open(path, mode)      write a temporary file beside the target, then rename it
                                 over the target: an interrupted write (Ctrl-C, a full disk,
                                 a crash) leaves the previous file intact, never half a file
    write_json(path, data)       indented UTF-8 JSON, atomically
    check_output_file(path, what)  / check_output_dir(path, what)
                                 can this be written? Asked *before* training starts, so a
                                 typo in --save costs a second, not a whole run
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot be written; the message is one line and names the path."""


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """``with atomic_open(path, "wb") as f: ...`` — ``path`` changes only if the block succeeds.

    mode: "w" (text; pass ``encoding=``) or "wb". Creates missing parent folders.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private (0600); give it the usual mode
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask


def write_json(path, data) -> Path:
    """Write ``data`` as indented UTF-8 JSON, atomically. Returns the path."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, allow_nan=False)
        f.write("\n")
    return Path(path)


def check_output_file(path, what: str) -> Path:
    """``path`` can be written as a file: not a folder, and its folder exists or can be made.

    what: how the user named it, e.g. "--save". Raises OutputPathError. Creates nothing.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; give a file name, such as {path / 'out'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputPathError(f"{what} {path} exists and is not writable")
    _check_folder_can_hold(path.parent, what, path)
    return path


def check_output_dir(path, what: str) -> Path:
    """``path`` is a folder that exists, or can be made, and can be written. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{what} {path} is a file, not a folder")
    _check_folder_can_hold(path, what, path)
    return path


def _check_folder_can_hold(folder: Path, what: str, target: Path) -> None:
    """The nearest existing folder on the way to ``folder`` is a folder we can create files in."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{what} {target}: {existing} is a file, so no folder can be made under it")
    try:  # the only test that also holds for root, read-only file systems and full disks
        fd, probe = tempfile.mkstemp(prefix=".gemini_np-write-test.", dir=existing)
    except OSError as exc:
        raise OutputPathError(f"{what} {target}: cannot write in {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
