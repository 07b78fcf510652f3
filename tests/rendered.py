"""What a Markdown element shows: its source without CommonMark's backslash escapes and the invisible joiners that
``losslab.app.markdown.escape`` puts into quoted user text."""

from __future__ import annotations

import re

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    return _ESCAPED.sub(r"\1", markdown).replace("\u2060", "")
