"""The run form of a deployment as a table (field, type, default, bounds, description), read from the same
parameter schema the Prefect UI draws: ``rtt serve --describe NAME`` prints it, and
docs/reference/deployment-forms.md is its output."""

from __future__ import annotations

import json
from typing import Any

from flows.registry import load_flow

BOUNDS = {
    "minimum": ">=",
    "exclusiveMinimum": ">",
    "maximum": "<=",
    "exclusiveMaximum": "<",
    "minLength": "length >=",
    "minItems": "items >=",
}


def flow_schema(name: str) -> dict[str, Any]:
    """The OpenAPI parameter schema of the registered flow ``name`` (definitions included)."""
    from prefect.utilities.callables import parameter_schema

    return parameter_schema(load_flow(name).fn).model_dump_for_openapi()


def _ref(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or next((a.get("$ref") for a in prop.get("anyOf", []) if "$ref" in a), None)
    if ref is None and len(prop.get("allOf", [])) == 1:
        ref = prop["allOf"][0].get("$ref")
    return ref.split("/")[-1] if ref else None


def type_name(prop: dict[str, Any]) -> str:
    """A short type: ``int``, ``str | null``, ``one of a, b``, ``list of SourceSpec``, a model name."""
    if "enum" in prop:
        return "one of " + ", ".join(map(str, prop["enum"]))
    if "const" in prop:
        return repr(prop["const"])
    if "$ref" in prop or "allOf" in prop:
        return _ref(prop) or "object"
    if "anyOf" in prop:
        return " | ".join(dict.fromkeys(type_name(a) for a in prop["anyOf"]))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {type_name(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map to {type_name(prop['additionalProperties'])}"
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}.get(kind, kind)


def bounds(prop: dict[str, Any]) -> str:
    found = {k: v for a in [prop, *prop.get("anyOf", [])] for k, v in a.items() if k in BOUNDS}
    return ", ".join(f"{BOUNDS[k]} {v}" for k, v in found.items())


def form_rows(name: str) -> list[dict[str, str]]:
    """One row per field of the form of ``name``; nested models expand to dotted names."""
    schema = flow_schema(name)
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    rows: list[dict[str, str]] = []

    def walk(model: dict[str, Any], prefix: str, seen: tuple[str, ...]) -> None:
        required = set(model.get("required", []))
        for field, prop in model.get("properties", {}).items():
            ref = _ref(prop)
            dotted = f"{prefix}{field}"
            if ref and ref in defs and ref not in seen and "anyOf" not in prop:
                walk(defs[ref], f"{dotted}.", (*seen, ref))
                continue
            default = "required" if field in required else json.dumps(prop["default"]) if "default" in prop else ""
            rows.append(
                {
                    "field": dotted,
                    "type": type_name(prop),
                    "default": default,
                    "bounds": bounds(prop),
                    "description": prop.get("description", ""),
                }
            )

    top = schema.get("properties", {})
    if len(top) == 1:  # the usual single parameter model: its fields are the form
        model = _ref(next(iter(top.values())))
        if model in defs:
            walk(defs[model], "", (model,))
            return rows
    walk(schema, "", ())
    return rows


def markdown(name: str) -> str:
    """The form of ``name`` as a markdown table."""
    from flows.artifacts import markdown_table

    return markdown_table(form_rows(name), ["field", "type", "default", "bounds", "description"])
