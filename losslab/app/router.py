"""Loss Landscape Lab's Streamlit entry point: a router over the pages (no math here).

    losslab app                 # from an installed package, in any folder
    streamlit run app.py        # from a clone (app.py runs this file)

The pages are files beside this one (AppTest's ``switch_page`` and ``st.Page`` need files). Their folder is not
called ``pages/``: Streamlit treats a ``pages/`` folder next to the main script as an old-style page list, and a
URL naming a page (``/sweeps?...``) then ran that file alone, without this router.
"""

from pathlib import Path

from losslab.threads import one_thread_per_computation

one_thread_per_computation()  # before torch or numba load

import streamlit as st  # noqa: E402

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Loss Landscape Lab", page_icon=":material/landscape:", layout="wide")

PAGES = [
    st.Page(HERE / "explore.py", title="Explore", icon=":material/sports_score:", default=True),
    st.Page(HERE / "sweeps.py", title="Sweeps", icon=":material/grid_on:"),
    st.Page(HERE / "gallery.py", title="Gallery", icon=":material/photo_library:"),
    st.Page(HERE / "networks.py", title="Networks", icon=":material/hub:"),
    st.Page(HERE / "lessons.py", title="Lessons", icon=":material/school:"),
]

page = st.navigation(PAGES)
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 1.5rem; }</style>")  # the race above the fold
st.title("Loss Landscape Lab")
st.caption("Optimizers race across 2-D loss surfaces; every optimizer reproduces torch.optim step for step. "
           "Every setting is in the URL: copy it to share the view.")
page.run()
