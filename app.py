"""``streamlit run app.py`` from a clone: runs the package's router (``losslab/app/router.py``).

An installed package opens the same app with ``losslab app`` in any folder.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent / "losslab" / "app" / "router.py"), run_name="__main__")
