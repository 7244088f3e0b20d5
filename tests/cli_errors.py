"""The one check every user mistake must pass: exit status 2 and exactly one line on stderr."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bench.cli import main


def one_line_error(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The single stderr line of ``bench ARGV``, after asserting it exits 2 with exactly one
    line and no traceback."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith(f"bench {argv[0]}: error: "), err
    return err.rstrip("\n")
