"""Turn expected errors into one line on stderr and a non-zero exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from recsys.errors import ConfigError, DataError, RecsysError

P = ParamSpec("P")
R = TypeVar("R")

#: Exit codes by error branch (click uses 2 for usage errors).
EXIT_CODES: dict[type[RecsysError], int] = {DataError: 3, ConfigError: 4, RecsysError: 5}


def exit_code(error: RecsysError) -> int:
    """The exit code of the most specific branch ``error`` belongs to."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


def _describe(error: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors()]
    return "invalid option " + "; ".join(parts)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Decorate a CLI command: expected errors exit cleanly, never with a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RecsysError as error:
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(exit_code(error)) from None
        except ValidationError as error:
            print(f"error: {_describe(error)}", file=sys.stderr)
            raise typer.Exit(EXIT_CODES[ConfigError]) from None

    return wrapper
