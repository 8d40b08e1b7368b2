"""docs/reference/formats.md: the events schema and the cleaning steps."""

from __future__ import annotations

import ast
import inspect
import types

from _docs_common import code, one_line, page, paragraphs, rst_to_md
from _docs_config import field_default, shown_value, type_name


def _comments(module: types.ModuleType) -> dict[str, str]:
    """The ``#:`` comments above each module-level assignment, by name."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        target = None
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target = node.target.id
        if target is None:
            continue
        above: list[str] = []
        row = node.lineno - 2
        while row >= 0 and lines[row].lstrip().startswith("#:"):
            above.insert(0, lines[row].lstrip()[2:].strip())
            row -= 1
        if above:
            found[target] = " ".join(above)
    return found


def formats_page() -> str:
    """docs/reference/formats.md from the events schema and the cleaning steps."""
    from recsys.data import cleaning, schema

    notes = _comments(schema)
    body: list[str] = ["## The events table", ""]
    body += ["| column | kind | default when absent | note |", "|---|---|---|---|"]
    kinds = {
        **dict.fromkeys(schema.REQUIRED_COLUMNS, "required"),
        **dict.fromkeys(schema.DEFAULTED_COLUMNS, "defaulted"),
        **dict.fromkeys(schema.OPTIONAL_COLUMNS, "optional"),
    }
    for column in schema.ALL_COLUMNS:
        kind = kinds[column]
        default = (
            shown_value(schema.DEFAULTED_COLUMNS[column])
            if column in schema.DEFAULTED_COLUMNS
            else ""
        )
        facts = []
        if column in schema.ID_COLUMNS:
            facts.append("identifier (string)")
        if column in schema.NULLABLE_COLUMNS:
            facts.append("may be empty in a row")
        if column == "timestamp":
            facts.append("date and time")
        body.append(f"| `{column}` | {kind} | {default} | {', '.join(facts)} |")
    body.append("")
    for name in (
        "REQUIRED_COLUMNS",
        "DEFAULTED_COLUMNS",
        "OPTIONAL_COLUMNS",
        "ID_COLUMNS",
        "NULLABLE_COLUMNS",
    ):
        if name in notes:
            body.append(f"- **{name.lower().replace('_', ' ')}**: {rst_to_md(notes[name])}")
    body += ["", "## Input formats (`--format`)", ""]
    for fmt in schema.FORMATS.values():
        body += [f"### `{fmt.name}`", ""]
        constant = next((k for k, v in vars(schema).items() if v is fmt and k.isupper()), "")
        if constant in notes:
            body += [rst_to_md(notes[constant]), ""]
        body += ["| column | accepted spellings (first match wins) |", "|---|---|"]
        for column, aliases in fmt.aliases.items():
            body.append(f"| `{column}` | {', '.join(code(a) for a in aliases)} |")
        body.append("")
        body.append(
            f"- date formats, tried in order: {', '.join(code(d) for d in fmt.date_formats)}"
        )
        if fmt.float_ids:
            floats = ", ".join(code(c) for c in fmt.float_ids)
            body.append(f"- ids written as floats (`13085.0` → `13085`): {floats}")
        if fmt.may_be_empty:
            body.append(f"- may be empty: {', '.join(code(c) for c in fmt.may_be_empty)}")
        body.append("")
    body += ["## Cleaning steps", "", "The steps run in this order; a row is counted once, under"]
    body += ["the first step that removes it. Switch one off with `--skip-step STEP` or"]
    body += ["`--set cleaning.STEP=false` (in Python `CleaningConfig(STEP=False)`).", ""]
    body += ["| step | removes | operation | column | argument |", "|---|---|---|---|---|"]
    for step in cleaning.CLEANING_STEPS:
        p = step.drops
        argument = f"setting `{p.setting}`" if p.setting else (code(p.value) if p.value else "")
        column = code(p.column) if p.column else "every column"
        body.append(
            f"| `{step.name}` | {one_line(step.description)} | `{p.op}` | {column} | {argument} |"
        )
    body.append("")
    cleaning_notes = _comments(cleaning)
    if "PANDAS" in cleaning_notes:
        body += ["Operations: " + rst_to_md(cleaning_notes["PANDAS"].split(". ", 1)[-1]), ""]
    body += ["### `CleaningConfig`", "", paragraphs(cleaning.CleaningConfig.__doc__), ""]
    body += ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, field in cleaning.CleaningConfig.model_fields.items():
        body.append(
            f"| `{name}` | {type_name(field.annotation)} | {shown_value(field_default(field))}"
            f" | {one_line(field.description)} |"
        )
    body.append("")
    intro = f"""
{paragraphs(schema.__doc__)} Every job starts from one canonical table, whatever the input.
This page is generated from `recsys/data/schema.py` and `recsys/data/cleaning.py`. Files may be
`.csv`, `.csv.gz` (UTF-8, optional BOM), `.parquet` or `.jsonl`. The guide
[Import your own data](../how-to/import-data.md) shows each switch at work.
"""
    return page("Events formats", intro, body)
