"""What reading a saved artifact (``.npy``, ``.npz``, JSON) can raise when the file is
missing, truncated or corrupted: callers turn these into a :class:`ModelError`."""

from __future__ import annotations

import os
import uuid
import zipfile
from pathlib import Path

#: ``np.load`` of a damaged ``.npz`` raises BadZipFile (not an OSError); a cut ``.npy`` EOFError.
UNREADABLE: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file beside it,
    fsynced, then renamed over it (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
