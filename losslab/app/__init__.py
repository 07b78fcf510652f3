"""The Streamlit app: ``router.py`` (the entry point) and one file per page, with the widgets they share.

Only this package imports streamlit. Nothing below it (``losslab``'s library modules, ``landscapes``,
``optimizers``, ``plots``) imports it back; see docs/ARCHITECTURE.md.
"""
