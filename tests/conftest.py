"""Test-suite settings: hypothesis draws fixed examples in CI (CI=true), fresh random ones elsewhere."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
