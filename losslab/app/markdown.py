"""Text from outside (a URL, an upload, a typed formula, an error quoting them) shown inside Markdown.

Streamlit renders every message as Markdown with its own extensions: ``[text](url)`` links, ``![alt](url)``
images, bare ``https://…`` and ``www.…`` autolinks, ``:red[…]`` colours, ``:material/…:`` icons and ``$…$`` maths.
Quoted user text must show as the characters it is, never as any of those. ``escape`` puts a backslash before every
ASCII punctuation character (CommonMark's escapes: no link, image, emphasis, directive or maths is parsed) and
an invisible WORD JOINER (U+2060) on both sides of every ``:``, ``.`` and ``@``: autolinks (``https://``,
``www.``, e-mail), ``:material/…:`` icons and ``:emoji:`` shortcodes are found in the text after the escapes are
undone (checked in Streamlit 1.67's renderer), and the joiner breaks their patterns without changing what is
seen. Line breaks become spaces (a message is one line).
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
JOINER = "\u2060"  # WORD JOINER: zero width, no break
_JOINED = re.compile(r"(\\[:.@])")


def escape(text: object) -> str:
    """``text`` as literal Markdown: ASCII punctuation backslash-escaped, joiners around ``:``/``.``/``@``, line
    breaks as spaces."""
    escaped = _PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))
    return _JOINED.sub(JOINER + r"\1" + JOINER, escaped)
