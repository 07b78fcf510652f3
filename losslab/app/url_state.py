"""Every page's settings live in the URL: when to load the URL into the widgets, writing the widgets back, and the
messages about refused values. Shared by the pages (each under its own session-state prefix).

A page's run: ``incoming()`` says which query to load into the widgets (or None: the widgets keep their values),
the page parses it (``losslab.race.from_query``, …) and fills the widgets' session-state keys, then draws its widgets
and calls ``write(query)`` with the settings they hold, and ``warn()`` shows what was refused.

- A URL this page wrote in this session is never loaded again: a rerun the browser requested before it
  received the page's latest URL carries an older one, and loading that would undo the user's last change. The
  URL it loaded last is not loaded again while the widgets hold their values, for the same reason (a link whose
  values the page writes back in a shorter form); opened again from another page, it is.
- Back from another page, Streamlit has dropped the widgets' values and the sidebar's link carries no query: the
  widgets take this session's last written settings again, not the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import streamlit as st

from losslab.app.markdown import escape

MAX_REMEMBERED = 64  # URLs per page and session


def _id(query: Mapping[str, str]) -> str:
    return json.dumps(dict(query), sort_keys=True)


class UrlState:
    """The URL bookkeeping of one page, in ``st.session_state`` under keys starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _get(self, name: str, default: object = None) -> object:
        return st.session_state.get(self.prefix + name, default)

    def _set(self, name: str, value: object) -> None:
        st.session_state[self.prefix + name] = value

    def _remember(self, query: Mapping[str, str]) -> None:
        known = st.session_state.setdefault(self.prefix + "known", {})  # insertion-ordered: oldest dropped first
        known.pop(_id(query), None)
        known[_id(query)] = True
        while len(known) > MAX_REMEMBERED:
            del known[next(iter(known))]

    def incoming(self, drawn_key: str, owns: Callable[[dict[str, str]], bool] = bool) -> dict[str, str] | None:
        """The query to load into the widgets now, or None when they keep their values.

        ``drawn_key``: a widget the page draws on every run (while it holds a value, so do the others);
        ``owns(query)``: whether a query is this page's (else, e.g. a bare link, the page's last one is loaded)."""
        query = st.query_params.to_dict()
        last = self._get("last")
        written = _id(query) in self._get("known", {})
        if (written or _id(query) == self._get("loaded")) and drawn_key in st.session_state:
            return None  # the widgets hold their values: a rerun carrying a URL the page has already taken
        if (written or not owns(query)) and last is not None:
            return dict(last)  # back from another page (a bare link, or a URL it wrote): its last settings
        self._set("loaded", _id(query))
        return query

    def loaded(self, messages: list[str]) -> None:
        """The page loaded the query ``incoming`` gave and refused the values ``messages`` name."""
        self._set("messages", list(messages))
        self._set("messages_for", None)  # the first query written after this load

    def write(self, query: Mapping[str, str]) -> None:
        """The widgets' settings to the URL (only when they changed), remembered as this page's."""
        query = dict(query)
        if st.query_params.to_dict() != query:
            st.query_params.from_dict(query)
        self._remember(query)
        self._set("last", query)
        if self._get("messages_for") is None:
            self._set("messages_for", query)

    def warn(self) -> None:
        """The refused URL values, shown until the reader changes a setting."""
        messages = self._get("messages") or []
        if messages and self._get("messages_for") == self._get("last"):
            st.warning("Some URL settings were not valid and fell back to their defaults:\n\n"
                       + "\n".join(f"- {escape(message)}" for message in messages))
