"""docs/reference/http.md: the app's OpenAPI document, route by route."""

from __future__ import annotations

import inspect
import re
from typing import Any

from _docs_common import HTTP_METHODS, code, one_line, page, paragraphs


def _schema_type(schema: dict[str, Any]) -> str:
    """A JSON schema as a short type: `string`, `array of string`, [`Item`](#…)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[`{name}`](#schema-{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_schema_type(s) for s in schema[key]]
            return " or ".join(dict.fromkeys(k for k in kinds if k))
    kind = schema.get("type", "")
    if kind == "array":
        return f"array of {_schema_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        inner = _schema_type(extra) if isinstance(extra, dict) else "any"
        return f"object of {inner}"
    if "enum" in schema:
        return " \\| ".join(code(str(v)) for v in schema["enum"])
    if "const" in schema:
        return code(str(schema["const"]))
    if kind and schema.get("format"):
        return f"{kind} ({schema['format']})"
    return str(kind or "any")


def _constraints(schema: dict[str, Any]) -> str:
    marks = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "minLength": "length ≥",
        "maxLength": "length ≤",
        "minItems": "items ≥",
        "maxItems": "items ≤",
        "pattern": "matches",
    }
    found = [f"{mark} {code(str(schema[key]))}" for key, mark in marks.items() if key in schema]
    for part in schema.get("anyOf", []):
        found += [f"{mark} {code(str(part[key]))}" for key, mark in marks.items() if key in part]
    return ", ".join(found)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    value = schema["default"]
    return code(
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def http_page() -> str:
    """docs/reference/http.md from the OpenAPI document of an app built with defaults."""
    from serving.app import create_app
    from serving.settings import ServingSettings

    app = create_app(ServingSettings.model_construct())  # defaults only, never the environment
    document = app.openapi()
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    body: list[str] = ["## Endpoints", ""]
    body += ["| method | path | summary |", "|---|---|---|"]
    operations = []
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                operations.append((method.upper(), path, item[method]))
    for method, path, op in operations:
        anchor = _operation_anchor(method, path)
        first = (op.get("description") or op.get("summary") or "").strip().split("\n")[0]
        body.append(f"| {method} | [`{path}`](#{anchor}) | {one_line(first)} |")
    body.append("")
    for method, path, op in operations:
        body += _operation(method, path, op)
    pages = _pages_outside_schema(app, document)
    if pages:
        body += ["## Pages and documents outside the schema", ""]
        body += ["Routes the app serves that the OpenAPI document leaves out (HTML pages for "]
        body += ["people, and the schema itself).", ""]
        body += ["| method | path | what it is |", "|---|---|---|"]
        body += [f"| {m} | `{p}` | {one_line(d)} |" for m, p, d in pages]
        body.append("")
    body += ["## Schemas", ""]
    for name in sorted(schemas):
        body += _schema_section(name, schemas[name])
    intro = f"""
The service's HTTP interface, generated from its OpenAPI document ({document["info"]["title"]}
{document["info"]["version"]}, OpenAPI {document["openapi"]}). A running service serves the same
document at `/openapi.json` and an interactive page at `/docs`. Keys go in the `X-API-Key`
header (`RECSYS_READ_API_KEY` for reads, `RECSYS_ADMIN_API_KEY` for writes; open when unset, see
[Configuration](configuration.md)); `X-Surface` says which surface shows the list
(`storefront`, `crm` or `api`), for the impression log.
"""
    return page("HTTP API", intro, body)


def _operation_anchor(method: str, path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### {method} `{path}` {{#{_operation_anchor(method, path)}}}", ""]
    lines += [f"**{op.get('summary', '')}**", ""]
    if op.get("description"):
        lines += [paragraphs(op["description"]), ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | default | description |"]
        lines += ["|---|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            kind = _schema_type(schema)
            limits = _constraints(schema)
            kind = f"{kind}; {limits}" if limits else kind
            description = p.get("description") or schema.get("description") or ""
            lines.append(
                f"| `{p['name']}` | {p['in']} | {kind} | {'yes' if p.get('required') else 'no'}"
                f" | {_default(schema)} | {one_line(description)} |"
            )
        lines.append("")
    request = op.get("requestBody")
    if request:
        content = request.get("content", {})
        for media, spec in content.items():
            needed = "required" if request.get("required") else "optional"
            lines += [
                f"Request body ({media}, {needed}): {_schema_type(spec.get('schema', {}))}",
                "",
            ]
    responses = op.get("responses", {})
    if responses:
        lines += ["| status | meaning | body |", "|---|---|---|"]
        for status, answer in responses.items():
            bodies = [_schema_type(s.get("schema", {})) for s in answer.get("content", {}).values()]
            shown = ", ".join(b for b in bodies if b and b != "any")
            lines.append(f"| {status} | {one_line(answer.get('description'))} | {shown} |")
        lines.append("")
    return lines


def _schema_section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### `{name}` {{#schema-{name.lower()}}}", ""]
    if schema.get("description"):
        lines += [paragraphs(schema["description"]), ""]
    properties = schema.get("properties", {})
    if not properties:
        lines += [f"Type: {_schema_type(schema)}", ""]
        return lines
    required = set(schema.get("required", []))
    lines += ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    for field, spec in properties.items():
        kind = _schema_type(spec)
        limits = _constraints(spec)
        kind = f"{kind}; {limits}" if limits else kind
        lines.append(
            f"| `{field}` | {kind} | {'yes' if field in required else 'no'} | {_default(spec)}"
            f" | {one_line(spec.get('description'))} |"
        )
    lines.append("")
    return lines


def _pages_outside_schema(app: Any, document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Routes the app serves that the OpenAPI document does not describe."""
    described = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    found: list[tuple[str, str, str]] = []
    for route in app.routes:
        path = getattr(route, "path", None)
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        if path is None:
            continue
        endpoint = getattr(route, "endpoint", None)
        doc = inspect.getdoc(endpoint) if endpoint is not None else ""
        if path == app.openapi_url:
            doc = "The OpenAPI document this page is generated from."
        elif path == app.docs_url:
            doc = "Interactive API documentation (Swagger UI)."
        elif path == app.redoc_url:
            doc = "API documentation (ReDoc)."
        elif path.startswith(f"{app.docs_url}/oauth2"):
            continue
        for method in methods:
            if method == "HEAD" or (method, path) in described:
                continue
            found.append((method, path, (doc or "").split("\n\n")[0]))
    return found
