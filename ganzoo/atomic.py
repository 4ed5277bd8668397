"""The one way ganzoo writes a file that someone may be reading: atomically, never half-written.

Every table, figure, HTML page, status file and checkpoint goes through :func:`atomic_write_bytes`:
the data is written to a temporary file in the same folder (so ``os.replace`` is a rename on one
file system), flushed and fsynced, then moved over the target. A reader (a browser, ``git diff``,
another process) sees either the old file or the new one; a crash leaves the old one and no stray
temporary file. Torch-free, so the report layer can use it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Callable

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, writer: Callable[[IO[bytes]], object]) -> Path:
    """Write ``path`` through ``writer(fileobj)`` into a temp file beside it, fsync, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write_bytes(path, lambda f: f.write(raw))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, text)
