"""Loss Landscape Lab: the Streamlit entry point, a router over the pages (no math here).

    streamlit run app.py

The pages live in ``views/``, not ``pages/``: Streamlit treats a ``pages/`` folder as an old-style page list, and a
URL naming a page (``/sweeps?...``) then ran that file alone, without this router.
"""

from losslab.threads import one_thread_per_computation

one_thread_per_computation()  # before torch or numba load

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
