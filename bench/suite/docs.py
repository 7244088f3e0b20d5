"""The settings tables of ``docs/suites.md``, rendered from the settings dataclasses.

Each table sits in the page between ``<!-- settings:NAME -->`` and ``<!-- /settings -->``; a
test keeps the page in step, and ``python -m bench.suite.docs docs/suites.md`` rewrites the
tables in place after a setting changes.
"""

from __future__ import annotations

import argparse
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.suite.schema import Setting, SettingInfo, number_text, settings_of
from bench.suite.settings import JobConfig, SuiteConfig

HEADER = "| Field | Type | Default | Meaning |\n|---|---|---|---|"
_BLOCK = re.compile(r"(<!-- settings:(?P<name>[a-z]+) -->\n).*?(\n<!-- /settings -->)", re.DOTALL)
_WORDS = {bool: "boolean", int: "integer", float: "number", str: "string"}
_PLURALS = {int: "integers", float: "numbers", str: "strings"}


def settings_tables() -> dict[str, str]:
    """Every table by name: the suite's own fields, the job settings, and one per section."""
    tables = {"suite": _table(SuiteConfig), "job": _table(JobConfig)}
    for info in settings_of(JobConfig):
        if info.nested is not None:
            tables[info.name] = _table(info.nested, f"{info.name}.")
    return tables


def render_page(text: str) -> str:
    """``text`` with each marked table replaced by its rendering."""
    tables = settings_tables()

    def replace(match: re.Match[str]) -> str:
        return match.group(1) + tables[match.group("name")] + match.group(3)

    return _BLOCK.sub(replace, text)


def _table(cls: type, prefix: str = "") -> str:
    return "\n".join([HEADER, *_rows(cls, prefix)])


def _rows(cls: type, prefix: str) -> Iterator[str]:
    sections = {info.nested for info in settings_of(JobConfig) if info.nested}
    for info in settings_of(cls):
        if info.nested is None:
            cells = (f"`{prefix}{info.name}`", _type(info), _default(info), info.spec.help)
        elif info.nested in sections and prefix:  # a section already documented on its own
            owner = next(s.name for s in settings_of(JobConfig) if s.nested is info.nested)
            cells = (f"`{prefix}{info.name}.*`", "", f"as `[{owner}]`", info.spec.help)
        else:
            continue
        yield "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _type(info: SettingInfo) -> str:
    spec = info.spec
    if spec.doc_type:
        return spec.doc_type
    if spec.choices:
        return " | ".join(f"`{c}`" if c else '""' for c in spec.choices)
    kind = info.kind
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        count = "" if args[-1] is Ellipsis else f"{len(args)} "
        distinct = "distinct " if spec.unique else ""
        return f"list of {count}{distinct}{_PLURALS[args[0]]}{_interval(spec)}"
    if kind in _WORDS:
        least = spec.minimum
        at_least = f" ≥ {number_text(least)}" if kind is int and least and least >= 1 else ""
        return _WORDS[kind] + (_interval(spec) or at_least)
    return "table"


def _interval(spec: Setting) -> str:
    """`` in [0, 1)`` for a setting bounded above (closed ends in brackets), else nothing."""
    if spec.maximum is None and spec.below is None:
        return ""
    low = f"[{number_text(spec.minimum)}" if spec.minimum is not None else f"({spec.above:g}"
    high = f"{number_text(spec.maximum)}]" if spec.maximum is not None else f"{spec.below:g})"
    return f" in {low}, {high}"


def _default(info: SettingInfo) -> str:
    value: Any = info.default
    if info.spec.doc_default:
        return info.spec.doc_default
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return '""'
    if isinstance(value, (tuple, dict)):
        return f"`{list(value) if isinstance(value, tuple) else value}`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def main(argv: list[str]) -> int:
    """Rewrite the settings tables of the page named in ``argv``."""
    parser = argparse.ArgumentParser(prog="python -m bench.suite.docs", description=__doc__)
    parser.add_argument("page", type=Path, help="the page to refresh, e.g. docs/suites.md")
    page = parser.parse_args(argv).page
    try:
        page.write_text(render_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    except OSError as err:
        parser.exit(2, f"{parser.prog}: error: {page}: {err.strerror}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
