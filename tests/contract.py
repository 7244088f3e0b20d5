"""Holding a test double to the library it stands in for: a call the double accepts must be one
the real function accepts too, or a test passes a call the library would reject."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)


def signature_mismatch(double: Callable[..., Any], real: Callable[..., Any]) -> str | None:
    """Why some call ``double`` accepts would fail on ``real`` (None when there is none).

    Both are called as a caller calls them (a bound method without ``self``). The double's
    positional parameters must be positional in ``real`` at the same place, under the same name
    where a caller may name them (a positional-only parameter, or one whose name starts with
    ``_``, is never named); the double must require at least what ``real`` requires; a keyword
    the double takes must be one ``real`` takes; ``*args``/``**kwargs`` only where ``real`` has
    them."""
    try:
        ours = list(inspect.signature(double).parameters.values())
        theirs = list(inspect.signature(real).parameters.values())
    except (TypeError, ValueError) as err:
        return f"no signature to compare: {err}"
    kinds = {p.kind for p in theirs}
    their_positional = [p for p in theirs if p.kind in POSITIONAL]
    our_positional = [p for p in ours if p.kind in POSITIONAL]
    for i, param in enumerate(our_positional):
        if i >= len(their_positional):
            if P.VAR_POSITIONAL in kinds:
                continue
            return f"takes {len(our_positional)} positional arguments, the real one at most {i}"
        named = param.kind is P.POSITIONAL_OR_KEYWORD and not param.name.startswith("_")
        other = their_positional[i]
        if named and (other.kind is not P.POSITIONAL_OR_KEYWORD or other.name != param.name):
            return f"argument {i + 1} is {param.name!r}, the real one's is {other.name!r}"
    required = sum(p.default is P.empty for p in our_positional)
    needed = sum(p.default is P.empty for p in their_positional)
    if required < needed:
        return f"requires {required} positional arguments, the real one {needed}"
    by_name = {p.name: p for p in theirs if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    for param in ours:
        if (
            param.kind is P.KEYWORD_ONLY
            and param.name not in by_name
            and P.VAR_KEYWORD not in kinds
        ):
            return f"takes keyword {param.name!r}, the real one does not"
        if param.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) and param.kind not in kinds:
            return f"takes {param}, the real one does not"
    return None
