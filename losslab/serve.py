"""How the app is served: ``streamlit run`` on the router with the app's own settings, from any folder.

Streamlit reads ``.streamlit/config.toml`` from the folder it is started in, which an installed package does not
control: the settings ship in the package (``losslab/app/config.toml``) and go to ``streamlit run`` as flags, before
the caller's own arguments (a later flag wins). A clone's ``.streamlit/config.toml`` links to the same file.
This module only names files: it never imports the app (``losslab.app`` sits above it).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

APP = Path(__file__).resolve().parent / "app"
ROUTER = APP / "router.py"  # the Streamlit entry point
CONFIG = APP / "config.toml"


def settings_flags() -> list[str]:
    """The app's server settings as ``streamlit run`` flags (``--server.maxUploadSize=16``, …)."""
    with open(CONFIG, "rb") as handle:
        settings = tomllib.load(handle)
    return [f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
            for section, values in settings.items() for key, value in values.items()]


def streamlit_command(app: str | Path = ROUTER, arguments: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command that serves ``app`` (the router by default) with the app's settings and then ``arguments``."""
    return [sys.executable, "-m", "streamlit", "run", str(app), *settings_flags(), *arguments]
