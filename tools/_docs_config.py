"""docs/reference/configuration.md: the settings classes and the environment variables read."""

from __future__ import annotations

import re
import types
import typing
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from _docs_cli import context_class, walk_commands
from _docs_common import ROOT, code, one_line, page, paragraphs


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [type_name(a) for a in args if a is not type(None)]
        optional = " or unset" if type(None) in args else ""
        return " or ".join(kinds) + optional
    if origin is typing.Literal:
        return " \\| ".join(code(str(a)) for a in args)
    if origin is not None:
        inner = ", ".join("…" if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " \\| ".join(code(str(m.value)) for m in annotation)
        return {"Path": "path", "SecretStr": "secret string", "date": "date (ISO)"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def shown_value(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return code(str(value).lower())
    if isinstance(value, Enum):
        return code(str(value.value))
    if isinstance(value, (Path, str, int, float, date)):
        return code(str(value))
    if isinstance(value, (list, tuple, frozenset, set)):
        if not value:
            return code("[]")
        return ", ".join(
            code(str(v)) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)
        )
    if isinstance(value, dict):
        return code(str(value)) if value else code("{}")
    return code(repr(value))


def field_default(field: Any) -> Any:
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        return field.default_factory()
    return None if field.default is PydanticUndefined else field.default


def _field_limits(field: Any) -> str:
    marks = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥"}
    found = []
    for meta in field.metadata:
        for key, mark in marks.items():
            bound = getattr(meta, key, None)
            if bound is not None:
                found.append(f"{mark} {bound}")
    return ", ".join(found)


def _settings_table(model: Any, prefix: str) -> list[str]:
    lines = ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        kind = type_name(field.annotation)
        limits = _field_limits(field)
        kind = f"{kind}; {limits}" if limits else kind
        lines.append(
            f"| `{prefix}{name.upper()}` | {kind} | {shown_value(field_default(field))}"
            f" | {one_line(field.description)} |"
        )
    return [*lines, ""]


def configuration_page() -> str:
    """docs/reference/configuration.md from the settings classes and the CLI's variables."""
    import typer

    from serving.settings import ServingSettings
    from training.cli import app
    from training.settings import TrainingSettings

    body: list[str] = []
    for model, who in (
        (
            ServingSettings,
            "the online service (`recsys serve`, `recsys demo`, `recsys precompute`)",
        ),
        (
            TrainingSettings,
            "the offline jobs (`recsys train`, `recsys evaluate`, `recsys promote`, …)",
        ),
    ):
        prefix = str(model.model_config.get("env_prefix", ""))
        body += [f"## `{model.__module__}.{model.__name__}`", ""]
        body += [f"{paragraphs(model.__doc__)} Read by {who}.", ""]
        body += _settings_table(model, prefix)
    root = typer.main.get_command(app)
    context_type = context_class(root)
    variables: dict[str, tuple[str, list[str]]] = {}
    for path, command, _ in walk_commands(root, context_type(root, info_name="recsys"), ["recsys"]):
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            for var in [envvar] if isinstance(envvar, str) else list(envvar or []):
                option = max(param.opts, key=len)
                help_text = (getattr(param, "help", "") or "").split("  [")[0]
                entry = variables.setdefault(var, (f"`{option}`: {help_text}", []))
                entry[1].append(f"`{' '.join(path)}`")
    if variables:
        body += ["## Variables read by command-line options", ""]
        body += ["| variable | stands for | commands |", "|---|---|---|"]
        for var in sorted(variables):
            what, commands = variables[var]
            body.append(f"| `{var}` | {one_line(what)} | {', '.join(commands)} |")
        body.append("")
    listed = {f"RECSYS_{n.upper()}" for n in ServingSettings.model_fields}
    listed |= {f"RECSYS_{n.upper()}" for n in TrainingSettings.model_fields} | set(variables)
    direct = sorted((v, w) for v, w in _environment_reads() if v not in listed)
    if direct:
        body += ["## Variables read directly", ""]
        body += ["Read where they are used, outside the settings classes.", ""]
        body += ["| variable | read in |", "|---|---|"]
        body += [f"| `{var}` | {where} |" for var, where in direct]
        body.append("")
    intro = """
Everything the service and the jobs can be told through the environment, generated from the
pydantic-settings classes: the variable is the prefix `RECSYS_` and the field's name in
capitals, the description is the field's docstring. Values are parsed by pydantic (lists and
mappings as JSON, e.g. `RECSYS_CORS_ORIGINS='["https://shop.example"]'`). Some variables
appear in both classes: the service and the jobs each read their own copy.
"""
    return page("Configuration", intro, body)


def _environment_reads() -> set[tuple[str, str]]:
    """``RECSYS_*`` variables the packages read from ``os.environ`` themselves
    (not those they only set for the service), with the file that reads each."""
    found = set()
    reads = re.compile(r"""os\.environ(?:\.get\(|\[)\s*["'](RECSYS_\w+)["']""")
    for package in ("recsys", "serving", "training", "feature_store"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for var in reads.findall(path.read_text(encoding="utf-8")):
                found.add((var, f"`{path.relative_to(ROOT).as_posix()}`"))
    return found
