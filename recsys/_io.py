"""What reading a saved artifact (``.npy``, ``.npz``, JSON) can raise when the file is
missing, truncated or corrupted: callers turn these into a :class:`ModelError`."""

from __future__ import annotations

import zipfile

#: ``np.load`` of a damaged ``.npz`` raises BadZipFile (not an OSError); a cut ``.npy`` EOFError.
UNREADABLE: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
)
