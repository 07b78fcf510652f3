"""Loss Landscape Lab: the Streamlit entry point, a router over the pages (no math here).

    streamlit run app.py
"""

import streamlit as st

st.set_page_config(page_title="Loss Landscape Lab", page_icon="⛰️", layout="wide")

PAGES = [
    st.Page("pages/explore.py", title="Explore", icon="🏁", default=True),
    st.Page("pages/sweeps.py", title="Sweeps", icon="🗺️"),
]

page = st.navigation(PAGES)
st.title("Loss Landscape Lab")
st.caption("Optimizers race across 2-D loss surfaces; every optimizer reproduces torch.optim step for step. "
           "Every setting is in the URL: copy it to share the view.")
page.run()
