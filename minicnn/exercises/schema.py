"""The JSON report of ``minicnn exercise check --json``, as a JSON Schema, and a validator.

An instructor collects one report per student and exercise; ``REPORT_SCHEMA``
documents every field, and ``validate(report)`` checks a report against it
(the subset of JSON Schema used here: type, properties, required,
additionalProperties, items, enum, minimum, pattern).
"""
from __future__ import annotations

import re

__all__ = ["REPORT_SCHEMA", "SCHEMA_VERSION", "validate", "SchemaError"]

SCHEMA_VERSION = 1

_NUMBER_OR_NULL = {"type": ["number", "null"]}

TEST_SCHEMA = {
    "type": "object",
    "required": ["name", "description", "status", "message", "case", "max_rel_error",
                 "threshold", "hint", "printed"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "description": "the test, e.g. 'backward values'"},
        "description": {"type": "string"},
        "status": {"enum": ["passed", "failed", "not_implemented", "error", "timeout"]},
        "message": {"type": "string", "description": "what went wrong ('' when passed)"},
        "case": {"type": ["object", "null"],
                 "description": "the failing case: shapes and parameters"},
        "max_rel_error": _NUMBER_OR_NULL | {
            "description": "the largest CS231n relative error seen (null when no values "
                           "were compared)"},
        "threshold": {"type": "number", "description": "minicnn.gradient_check.DEFAULT_RTOL"},
        "hint": {"type": ["string", "null"], "description": "the likely mistake"},
        "printed": {"type": "string", "description": "what the student's code printed"},
    },
}

REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "minicnn exercise check report",
    "type": "object",
    "required": ["schema_version", "exercise", "file", "file_sha256", "passed", "summary",
                 "tests", "versions", "date"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"enum": [SCHEMA_VERSION]},
        "exercise": {"type": "string"},
        "file": {"type": "string", "description": "the graded file's path"},
        "file_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                        "description": "SHA-256 of the graded file's bytes"},
        "passed": {"type": "boolean", "description": "true when every test passed"},
        "summary": {"type": "object", "required": ["passed", "total"],
                    "additionalProperties": False,
                    "properties": {"passed": {"type": "integer", "minimum": 0},
                                   "total": {"type": "integer", "minimum": 0}}},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "versions": {"type": "object", "required": ["minicnn", "numpy", "python"],
                     "additionalProperties": False,
                     "properties": {"minicnn": {"type": "string"},
                                    "numpy": {"type": "string"},
                                    "python": {"type": "string"}}},
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T",
                 "description": "when the check ran, ISO 8601 with the time zone"},
    },
}


class SchemaError(ValueError):
    """A report does not follow the schema; the message names the field."""


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
          "integer": int, "number": (int, float), "null": type(None)}


def _is(value, name) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON's true is not a number
    return isinstance(value, _TYPES[name])


def validate(value, schema=None, where="report") -> None:
    """Raise SchemaError (one line: the field, expected and actual) unless
    ``value`` follows ``schema`` (default REPORT_SCHEMA)."""
    schema = REPORT_SCHEMA if schema is None else schema
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is(value, t) for t in types):
            raise SchemaError(f"{where}: expected {' or '.join(types)}, got "
                              f"{type(value).__name__} {value!r:.60}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"{where}: expected one of {schema['enum']}, got {value!r:.60}")
    if "minimum" in schema and value < schema["minimum"]:
        raise SchemaError(f"{where}: expected >= {schema['minimum']}, got {value!r}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise SchemaError(f"{where}: {value!r:.60} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise SchemaError(f"{where}: missing field {key!r}")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                validate(item, properties[key], f"{where}.{key}")
            elif schema.get("additionalProperties", True) is False:
                raise SchemaError(f"{where}: unexpected field {key!r}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{i}]")
