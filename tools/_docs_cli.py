"""docs/reference/cli.md: the typer app, walked command by command."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from _docs_common import ROOT, one_line, page, paragraphs


def cli_page() -> str:
    """docs/reference/cli.md from the typer app, every command and option."""
    import typer

    from training.cli import app

    root = typer.main.get_command(app)
    context_type = context_class(root)
    body: list[str] = ["| command | what it does |", "|---|---|"]
    sections: list[str] = []
    for path, command, context in walk_commands(
        root, context_type(root, info_name="recsys"), ["recsys"]
    ):
        name = " ".join(path)
        anchor = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        summary = (command.help or "").strip().split("\n\n")[0]
        body.append(f"| [`{name}`](#{anchor}) | {one_line(summary)} |")
        sections += _command_section(name, anchor, command, context)
    intro = """
Every command of `recsys` (installed as a console script with the package; `recsys --help`
and `recsys COMMAND --help` print the same), generated from the typer app
`training.cli:app`. Exit codes: 0 success, 2 bad usage, 3 bad data (file, row and column
named), 4 bad option or configuration, 5 other expected errors. Options that name an
environment variable read it when the option is not given.
"""
    return page("Command line", intro, [*body, "", *sections])


def context_class(command: Any) -> Callable[..., Any]:
    """click's Context class, as the typer app uses it (typer may vendor click)."""
    return type(command.make_context("recsys", ["--help"], resilient_parsing=True))


def walk_commands(
    command: Any, context: Any, path: list[str]
) -> Iterable[tuple[list[str], Any, Any]]:
    """Each command with options or without subcommands, depth first, in the app's order."""
    is_group = hasattr(command, "list_commands")
    visible = [p for p in command.params if not getattr(p, "hidden", False)]
    if not is_group or visible:
        yield path, command, context
    if is_group:
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            yield from walk_commands(
                sub, type(context)(sub, info_name=name, parent=context), [*path, name]
            )


def _command_section(name: str, anchor: str, command: Any, context: Any) -> list[str]:
    lines = [f"## `{name}` {{#{anchor}}}", ""]
    if command.help:
        lines += [paragraphs(command.help), ""]
    usage = command.get_usage(context).removeprefix("Usage: ").strip()
    lines += ["```text", usage, "```", ""]
    records = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(context)
        if record is None:
            continue
        what = "argument" if param.param_type_name == "argument" else "option"
        records.append((what, record[0], record[1]))
    if records:
        lines += ["| option | description |", "|---|---|"]
        for what, names, text in records:
            shown = f"`{names}`" + (" (argument)" if what == "argument" else "")
            # Defaults inside the checkout (the sample file) as the repository's paths.
            text = text.replace(f"{ROOT}/", "")
            lines.append(f"| {shown} | {one_line(text)} |")
        lines.append("")
    return lines
