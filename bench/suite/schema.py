"""A small declarative schema for suite files: typed fields, defaults, choices, dotted paths,
derived from settings dataclasses.

A settings dataclass declares each setting once, as a field made by :func:`setting` (a default
and a :class:`Setting`) or :func:`section` (a nested settings dataclass). :func:`schema_of`
turns such a class into the schema that validates files; :func:`build` turns a validated,
resolved mapping back into the dataclass. Validation names the file and the dotted field in a
one-line ``SuiteError``; unknown fields get the closest known names.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import types
import typing
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.errors import SuiteError

_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    dict: "a table",
}
_PLURAL_NAMES = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


@dataclass(frozen=True)
class Field:
    """One typed value: ``kind`` is bool, int, float, str or list (of ``item``)."""

    kind: type
    default: Any
    choices: tuple[str, ...] | None = None
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    item: type | None = None
    length: int | None = None
    unique: bool = False  # a list that may hold each value once

    def describe(self) -> str:
        """The expected value in words."""
        if self.kind is list:
            size = f"{self.length} " if self.length else ""
            distinct = "distinct " if self.unique else ""
            return f"a list of {size}{distinct}{_PLURAL_NAMES[self.item or str]}"
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return _TYPE_NAMES[self.kind]

    def check(self, value: Any, where: str) -> Any:
        """``value`` converted to this field's type, or a ``SuiteError`` naming ``where``."""
        if value is None and self.nullable:
            return None
        if self.kind is list:
            if not isinstance(value, list) or (self.length and len(value) != self.length):
                raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
            item = dataclasses.replace(
                self,
                kind=self.item or str,
                default=None,
                nullable=False,
                item=None,
                length=None,
                unique=False,
            )
            values = [item.check(v, where) for v in value]
            if self.unique:
                check_distinct(values, where)
            return values
        if not _is_kind(value, self.kind):
            raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
        if self.kind is float:
            value = float(value)
            if not math.isfinite(value):
                raise SuiteError(f"{where} must be a finite number, got {value!r}")
        if self.choices and value not in self.choices:
            raise SuiteError(f"{where} must be {self.describe()}, got {value!r}")
        for bound, holds, words in _BOUNDS:
            limit = getattr(self, bound)
            if limit is not None and not holds(value, limit):
                raise SuiteError(f"{where} must be {words} {number_text(limit)}, got {value!r}")
        return value


def check_distinct(values: Iterable[Hashable], where: str) -> None:
    """A ``SuiteError`` naming ``where`` and the first value ``values`` holds twice: a list of
    models, seeds, variants, precisions or batch sizes that repeats one would measure the same
    thing twice and record two rows under one key, so a repeat is refused, never collapsed."""
    seen: set[Hashable] = set()
    for value in values:
        if value in seen:
            raise SuiteError(f"{where} lists {value!r} twice")
        seen.add(value)


def number_text(value: float) -> str:
    """A bound as written: an integer in full (``4294967295``), a float as ``:g`` has it."""
    return str(value) if isinstance(value, int) else f"{value:g}"


# Each bound a Field (and a Setting) may set: the test a value must pass, and its words.
_BOUNDS: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
    ("minimum", operator.ge, "at least"),
    ("maximum", operator.le, "at most"),
    ("above", operator.gt, "above"),
    ("below", operator.lt, "below"),
)


def _is_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


Schema = Mapping[str, "Field | Schema"]
T = TypeVar("T")
_SETTING = "bench.setting"


@dataclass(frozen=True)
class Setting:
    """How one setting is checked, documented and offered on the command line."""

    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None  # the least value allowed
    maximum: float | None = None  # the greatest value allowed
    above: float | None = None  # values must be greater
    below: float | None = None  # values must be less
    flag: bool = False  # ``bench run --<name>`` sets it for every job
    flag_const: str | int | None = None  # the value of the flag given without one (``--compile``)
    flag_name: str = ""  # the flag's name where it is not the setting's (``--trace``)
    doc_type: str = ""  # the docs' type where the type alone says too little
    doc_default: str = ""  # the docs' default where the default alone says too little
    in_schema: bool = True  # False: documented here, read apart (a suite's models)
    unique: bool = False  # a list that may hold each value once (``check_distinct``)


def setting(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field holding ``default`` (a dict becomes a fresh one per instance)."""
    metadata = {_SETTING: Setting(help, **spec)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    """A dataclass field holding a nested settings dataclass (a TOML table)."""
    return dataclasses.field(default_factory=cls, metadata={_SETTING: Setting(help)})


@dataclass(frozen=True)
class SettingInfo:
    """One setting of a settings dataclass: its name, type, default and :class:`Setting`."""

    name: str
    kind: Any
    default: Any
    spec: Setting

    @property
    def nested(self) -> type | None:
        """The settings dataclass of a section, else None."""
        kind = self.kind
        return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def settings_of(cls: type) -> Iterator[SettingInfo]:
    """The settings of ``cls`` in declaration order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_SETTING)
        if spec is None:
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        yield SettingInfo(f.name, hints[f.name], default, spec)


def schema_of(cls: type) -> Schema:
    """The schema validating ``cls``'s settings (sections as nested schemas)."""
    out: dict[str, Field | Schema] = {}
    for info in settings_of(cls):
        if not info.spec.in_schema:
            continue
        out[info.name] = schema_of(info.nested) if info.nested else _field(info)
    return out


def build(cls: type[T], data: Mapping[str, Any]) -> T:
    """``cls`` from a validated mapping (lists become tuples, tables nested dataclasses)."""
    values: dict[str, Any] = {}
    for info in settings_of(cls):
        if info.name not in data:
            continue
        value = data[info.name]
        if info.nested is not None:
            value = build(info.nested, value)
        elif typing.get_origin(info.kind) is tuple:
            value = tuple(value)
        values[info.name] = value
    return cls(**values)


def _field(info: SettingInfo) -> Field:
    kind, nullable = _without_none(info.kind)
    spec = info.spec
    common: dict[str, Any] = {
        "choices": spec.choices,
        **{bound: getattr(spec, bound) for bound, _, _ in _BOUNDS},
    }
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        length = None if args[-1] is Ellipsis else len(args)
        default = None if info.default is None else list(info.default)
        return Field(
            list,
            default,
            item=args[0],
            length=length,
            nullable=nullable,
            unique=spec.unique,
            **common,
        )
    if typing.get_origin(kind) is not None or kind is dict:  # a mapping: a free-form table
        return Field(dict, info.default, nullable=nullable, **common)
    return Field(kind, info.default, nullable=nullable, **common)


def _without_none(kind: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); anything else → (kind, False)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(kind))
    return kind, False


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
