"""The one check every user mistake must pass: exit status 2 and exactly one line on stderr."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from file_trees import tree_state

from bench.cli import main


def one_line_error(
    argv: Sequence[str],
    capsys: pytest.CaptureFixture[str],
    *,
    unchanged: Sequence[Path] = (),
    parser_exits: bool = False,
) -> str:
    """The single stderr line of ``bench ARGV``, after asserting it exits 2 with exactly one
    line and no traceback, and leaves every file, folder and link under ``unchanged`` as it
    was (one absent stays absent). ``parser_exits``: a mistake argparse itself finds (a flag's
    type), where ``main`` exits 2 rather than returning it."""
    before = tree_state(*unchanged)
    capsys.readouterr()
    if parser_exits:
        with pytest.raises(SystemExit) as stop:
            main(list(argv))
        code = stop.value.code
    else:
        code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith(f"bench {argv[0]}: error: "), err
    assert tree_state(*unchanged) == before
    return err.rstrip("\n")
