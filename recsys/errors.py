"""The errors recsys raises, as one small tree.

Callers catch the branch they can handle; the CLI and the HTTP layer map each
branch to an exit code or a status in one place only::

    RecsysError
    ├── DataError           bad input data; names file, row and column
    │   ├── SchemaError     a required column is missing, or the file is empty
    │   ├── ParseError      a value cannot be parsed (date, number, id)
    │   └── NothingKeptError  cleaning kept no row; names the step that removed most
    ├── ConfigError         an invalid setting or rule file; names the field
    ├── NotFoundError       an id that must exist does not (e.g. item for "related")
    └── ModelError          a model bundle that fails to load or validate
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "NotFoundError",
    "NothingKeptError",
    "ParseError",
    "RecsysError",
    "SchemaError",
]


class RecsysError(Exception):
    """Base of every error recsys raises on purpose."""


class DataError(RecsysError):
    """Bad input data, located as precisely as the reader can.

    ``row`` is the 1-based data row (the header is not counted); ``column`` is
    the column name as written in the file.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file, self.row, self.column, self.reason = file, row, column, message
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = [f"file {self.file}"] if self.file else []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class SchemaError(DataError):
    """A required column is missing, the format is wrong, or the file is empty."""


class ParseError(DataError):
    """A value in a row cannot be parsed as its column's type."""


class NothingKeptError(DataError):
    """Every row was removed by cleaning: nothing to train on."""


class ConfigError(RecsysError):
    """An invalid configuration value or rule file; the message names the field."""


class NotFoundError(RecsysError):
    """An id that the operation requires to exist is unknown."""


class ModelError(RecsysError):
    """A model bundle that cannot be loaded, or fails validation."""
