"""Loss Landscape Lab: the Streamlit entry point, a router over the pages (no math here).

    streamlit run app.py

The pages live in ``views/``, not ``pages/``: Streamlit treats a ``pages/`` folder as an old-style page list, and a
URL naming a page (``/sweeps?...``) then ran that file alone, without this router.
"""

import os
import sys

# One thread per computation: a class shares the server's cores, and 2-thread OpenMP kernels slow down many-fold
# when another session keeps the other core busy. Set before torch or numba load (both are imported lazily); in a
# process that loaded them already (a test runner), set their thread counts instead: numba refuses a changed
# NUMBA_NUM_THREADS once its threads run.
if "numba" in sys.modules:
    sys.modules["numba"].set_num_threads(1)  # this script thread's share
else:
    os.environ["NUMBA_NUM_THREADS"] = "1"
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)
else:
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Loss Landscape Lab", page_icon="⛰️", layout="wide")

PAGES = [
    st.Page("views/explore.py", title="Explore", icon="🏁", default=True),
    st.Page("views/sweeps.py", title="Sweeps", icon="🗺️"),
    st.Page("views/networks.py", title="Networks", icon="🧠"),
    st.Page("views/lessons.py", title="Lessons", icon="🎓"),
]

page = st.navigation(PAGES)
st.title("Loss Landscape Lab")
st.caption("Optimizers race across 2-D loss surfaces; every optimizer reproduces torch.optim step for step. "
           "Every setting is in the URL: copy it to share the view.")
page.run()
