"""A small declarative schema for suite files: typed fields, defaults, choices, dotted paths.

Validation names the file and the dotted field in a one-line ``SuiteError``; unknown fields get
the closest known names.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import SuiteError

_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a table",
}


@dataclass(frozen=True)
class Field:
    """One typed value: ``kind`` is bool, int, float, str or list (of ``item``)."""

    kind: type
    default: Any
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    minimum: float | None = None
    item: type | None = None
    length: int | None = None
    doc: str = ""

    def describe(self) -> str:
        """The expected value in words."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is list:
            size = f"{self.length} " if self.length else ""
            return f"a list of {size}{_TYPE_NAMES[self.item or str]} values"
        return _TYPE_NAMES[self.kind]

    def check(self, value: Any, where: str) -> Any:
        """``value`` converted to this field's type, or a ``SuiteError`` naming ``where``."""
        if value is None and self.nullable:
            return None
        if self.kind is list:
            if not isinstance(value, list) or (self.length and len(value) != self.length):
                raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
            item = Field(self.item or str, None, minimum=self.minimum)
            return [item.check(v, where) for v in value]
        if not _is_kind(value, self.kind):
            raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
        if self.kind is float:
            value = float(value)
        if self.choices and value not in self.choices:
            raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise SuiteError(f"{where} must be at least {self.minimum:g}, got {value!r}")
        return value


def _is_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


Schema = Mapping[str, "Field | Schema"]


def defaults(schema: Schema) -> dict[str, Any]:
    """A nested dict of every field's default."""
    return {
        k: defaults(v) if not isinstance(v, Field) else _copy(v.default) for k, v in schema.items()
    }


def _copy(value: Any) -> Any:
    return type(value)(value) if isinstance(value, (list, dict)) else value


def validate(data: Mapping[str, Any], schema: Schema, where: str, prefix: str = "") -> dict:
    """Check ``data`` against ``schema`` (partial: missing fields are left out)."""
    if not isinstance(data, Mapping):
        raise SuiteError(f"{where}: field '{prefix.rstrip('.')}' must be a table")
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        spec = schema.get(key)
        if spec is None:
            raise SuiteError(f"{where}: unknown field '{path}'{_hint(key, schema)}")
        if isinstance(spec, Field):
            out[key] = spec.check(value, f"{where}: field '{path}'")
        else:
            out[key] = validate(value, spec, where, f"{path}.")
    return out


def lookup(schema: Schema, dotted: str) -> Field:
    """The field at ``a.b.c``; ``KeyError`` with a hint when there is none."""
    node: Field | Schema = schema
    for part in dotted.split("."):
        if isinstance(node, Field) or part not in node:
            known = {} if isinstance(node, Field) else node
            raise KeyError(f"unknown field '{dotted}'{_hint(part, known)}")
        node = node[part]
    if not isinstance(node, Field):
        raise KeyError(f"'{dotted}' is a table; name one of its fields")
    return node


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` applied recursively (tables merge, values replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(data: Mapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``a.b.c`` set to ``value``."""
    head, _, rest = dotted.partition(".")
    out = dict(data)
    out[head] = set_dotted(out.get(head, {}), rest, value) if rest else value
    return out


def _hint(key: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(known), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
