"""Checked downloads and file hashes, shared by every plugin that fetches data or weights.

A download streams into a temporary file beside its destination, is hashed on the way, and is
moved into place with ``os.replace`` only when the hash matches; on any failure nothing is left.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

# What a failed download raises: callers turn these into one-line user errors.
DOWNLOAD_ERRORS = (OSError, http.client.HTTPException, ValueError)


class ChecksumMismatch(ValueError):
    """The downloaded bytes do not have the published hash."""


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def open_url(url: str, timeout: float):
    return urllib.request.urlopen(url, timeout=timeout)


def download_checked(url: str, dest: Path, algorithm: str, expected: str, timeout: float,
                     prefix: bool = False, opener: Callable = open_url) -> None:
    """Fetch ``url`` to ``dest`` if its ``algorithm`` digest equals ``expected`` (or starts with it,
    when ``prefix``: torch.hub's convention of putting the first hex digits in the file name)."""
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    try:
        h = hashlib.new(algorithm, usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, opener(url, timeout) as resp:
            headers = getattr(resp, "headers", None)
            total = headers.get("Content-Length") if headers is not None else None
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                      desc=f"downloading {dest.name}", leave=False) as bar:
                while chunk := resp.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
        digest = h.hexdigest()
        if not (digest.startswith(expected) if prefix else digest == expected):
            raise ChecksumMismatch(f"checksum mismatch: got {algorithm} {digest}, expected "
                                   f"{'one starting with ' if prefix else ''}{expected}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
