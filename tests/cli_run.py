"""The ``losslab`` command line run in-process (``losslab.cli.main``), its exit code and output captured."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from losslab.cli import main


def run_cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``losslab *argv``: argparse's exits (usage errors, --help) included."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def error_line(err: str) -> str:
    """The one error line of a usage error (exit 2): argparse's usage, then ``losslab COMMAND: error: ...``."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert lines and lines[0].startswith("usage: losslab"), err
    assert [line for line in lines if line.startswith("losslab")] == [lines[-1]], err
    return lines[-1]
